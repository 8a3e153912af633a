//! Bearer-token authentication for `/api/v1`.
//!
//! A token is 32 random bytes printed as URL-safe base64 without padding
//! (43 characters). The gateway stores only the hex SHA-256 of that text;
//! the [`Authenticate`] middleware hashes the presented token, asks a
//! [`TokenLookup`] (implemented by storage) who it belongs to, and puts the
//! [`Principal`] into the request's extensions, where handlers extract it.
//!
//! The token itself is never logged nor kept: only its hash leaves this
//! module, and only the token *id* appears in logs.

use std::future::{Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header;
use actix_web::{Error, FromRequest, HttpMessage, HttpRequest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::http::error::ApiError;

/// Who a token acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The département (the financer).
    Financer,
    /// One SAAD, identified by its SIRET.
    Saad {
        /// The SAAD's SIRET.
        siret: String,
    },
}

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's public id (what logs and the audit log name).
    pub token_id: String,
    /// What the token may act for.
    pub role: Role,
}

impl Principal {
    /// The SAAD's SIRET for a saad token, `None` for a financer token.
    pub fn saad_siret(&self) -> Option<&str> {
        match &self.role {
            Role::Saad { siret } => Some(siret),
            Role::Financer => None,
        }
    }
}

/// The lookup failed (the store does not answer): 503, not 401.
#[derive(Debug, thiserror::Error)]
#[error("token lookup failed: {0}")]
pub struct LookupError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Finds who a token hash belongs to. Storage implements it over
/// `find_token_by_hash`; tests use a `HashMap`.
///
/// Must answer `Ok(None)` for unknown **and revoked** tokens, and `Err` only
/// when the store cannot answer (mapped to 503 `unavailable`).
#[async_trait::async_trait]
pub trait TokenLookup: Send + Sync + 'static {
    /// The principal of the token whose hex SHA-256 is `token_hash`.
    async fn lookup(&self, token_hash: &str) -> Result<Option<Principal>, LookupError>;
}

/// A fixed in-memory table of tokens (tests, demos).
#[derive(Debug, Default, Clone)]
pub struct InMemoryTokens {
    by_hash: std::collections::HashMap<String, Principal>,
}

impl InMemoryTokens {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates a token for `role` and returns its plaintext.
    pub fn issue(&mut self, token_id: &str, role: Role) -> String {
        let (token, hash) = generate_token();
        self.by_hash.insert(
            hash,
            Principal {
                token_id: token_id.to_owned(),
                role,
            },
        );
        token
    }
}

#[async_trait::async_trait]
impl TokenLookup for InMemoryTokens {
    async fn lookup(&self, token_hash: &str) -> Result<Option<Principal>, LookupError> {
        Ok(self.by_hash.get(token_hash).cloned())
    }
}

/// A [`TokenLookup`] that remembers known tokens for a short time, so that
/// a SAAD posting many deliveries a second costs one look-up per token and
/// period, not one per request. Unknown and revoked tokens are not
/// remembered (each is asked again), and a remembered token is asked again
/// after `ttl`: a token revoked in the database stops being accepted by
/// this process within `ttl` (docs/http.md). A failed look-up is not
/// remembered either.
pub struct CachedTokens {
    inner: Arc<dyn TokenLookup>,
    known: moka::sync::Cache<String, Principal>,
}

impl CachedTokens {
    /// Remembers what `inner` answers for `ttl`, at most `capacity` tokens.
    pub fn new(inner: Arc<dyn TokenLookup>, ttl: std::time::Duration, capacity: u64) -> Self {
        Self {
            inner,
            known: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait::async_trait]
impl TokenLookup for CachedTokens {
    async fn lookup(&self, token_hash: &str) -> Result<Option<Principal>, LookupError> {
        if let Some(principal) = self.known.get(token_hash) {
            return Ok(Some(principal));
        }
        let found = self.inner.lookup(token_hash).await?;
        if let Some(principal) = &found {
            self.known.insert(token_hash.to_owned(), principal.clone());
        }
        Ok(found)
    }
}

/// A fresh token: `(plaintext, hex SHA-256 of the plaintext)`. Print the
/// plaintext once; store only the hash.
pub fn generate_token() -> (String, String) {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

/// Hex SHA-256 of a token's text, as stored.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token of an `Authorization: Bearer <token>` header, if well-formed.
/// The scheme is case-insensitive (RFC 7235); the token must be
/// URL-safe base64 text of at most 256 characters.
pub fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    let well_formed = !token.is_empty()
        && token.len() <= 256
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some(token)
}

/// 403 `forbidden` unless the caller is the financer.
pub fn require_financer(principal: &Principal) -> Result<(), ApiError> {
    match principal.role {
        Role::Financer => Ok(()),
        Role::Saad { .. } => Err(ApiError::forbidden("this route is for the financer only")),
    }
}

/// 403 `forbidden` unless the caller is a SAAD; returns its SIRET.
pub fn require_saad(principal: &Principal) -> Result<&str, ApiError> {
    match &principal.role {
        Role::Saad { siret } => Ok(siret),
        Role::Financer => Err(ApiError::forbidden("this route is for SAADs only")),
    }
}

impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    /// The principal set by [`Authenticate`]; 401 when the route is not
    /// behind it (a wiring mistake fails closed).
    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(
            request
                .extensions()
                .get::<Principal>()
                .cloned()
                .ok_or(ApiError::Unauthorized),
        )
    }
}

/// Middleware: authenticates every request of the scope it wraps; 401
/// `unauthorized` without a known token, 503 `unavailable` when the lookup
/// cannot answer.
#[derive(Clone)]
pub struct Authenticate {
    tokens: Arc<dyn TokenLookup>,
}

impl Authenticate {
    /// Authenticates through `tokens`.
    pub fn new(tokens: Arc<dyn TokenLookup>) -> Self {
        Self { tokens }
    }
}

impl<S, B> Transform<S, ServiceRequest> for Authenticate
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = AuthenticateService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthenticateService {
            service: Rc::new(service),
            tokens: Arc::clone(&self.tokens),
        }))
    }
}

/// The service built by [`Authenticate`].
pub struct AuthenticateService<S> {
    service: Rc<S>,
    tokens: Arc<dyn TokenLookup>,
}

/// The boxed future middlewares of this module return.
pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for AuthenticateService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let tokens = Arc::clone(&self.tokens);
        Box::pin(async move {
            let Some(hash) = bearer_token(request.request()).map(hash_token) else {
                return Ok(request
                    .error_response(ApiError::Unauthorized)
                    .map_into_right_body());
            };
            match tokens.lookup(&hash).await {
                Ok(Some(principal)) => {
                    tracing::Span::current().record("token.id", principal.token_id.as_str());
                    request.extensions_mut().insert(principal);
                    service
                        .call(request)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Ok(None) => Ok(request
                    .error_response(ApiError::Unauthorized)
                    .map_into_right_body()),
                Err(error) => Ok(request
                    .error_response(ApiError::database_unavailable(error))
                    .map_into_right_body()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    /// Counts the look-ups that reach it.
    struct Counting {
        tokens: InMemoryTokens,
        asked: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl TokenLookup for Counting {
        async fn lookup(&self, token_hash: &str) -> Result<Option<Principal>, LookupError> {
            self.asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.tokens.lookup(token_hash).await
        }
    }

    #[actix_web::test]
    async fn a_known_token_is_looked_up_once_per_period_an_unknown_one_every_time() {
        let mut tokens = InMemoryTokens::new();
        let known = tokens.issue("t1", Role::Financer);
        let counting = Arc::new(Counting {
            tokens,
            asked: std::sync::atomic::AtomicUsize::new(0),
        });
        let cached =
            CachedTokens::new(counting.clone(), std::time::Duration::from_millis(200), 100);
        for _ in 0..3 {
            let found = cached.lookup(&hash_token(&known)).await.unwrap();
            assert_eq!(found.map(|p| p.token_id), Some("t1".to_owned()));
        }
        assert_eq!(counting.asked.load(std::sync::atomic::Ordering::SeqCst), 1);
        for _ in 0..2 {
            assert_eq!(cached.lookup(&hash_token("unknown")).await.unwrap(), None);
        }
        assert_eq!(counting.asked.load(std::sync::atomic::Ordering::SeqCst), 3);
        // After the period the known token is asked again (a revocation shows).
        std::thread::sleep(std::time::Duration::from_millis(300));
        cached.lookup(&hash_token(&known)).await.unwrap();
        assert_eq!(counting.asked.load(std::sync::atomic::Ordering::SeqCst), 4);
    }

    #[test]
    fn a_generated_token_is_43_url_safe_characters_and_hashes_to_its_hash() {
        let (token, hash) = generate_token();
        assert_eq!(token.len(), 43);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(hash_token(&token), hash);
        assert_eq!(hash.len(), 64);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_other_schemes_are_ignored() {
        let request = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "bearer abc_DEF-1"))
            .to_http_request();
        assert_eq!(bearer_token(&request), Some("abc_DEF-1"));
        let request = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Basic abc"))
            .to_http_request();
        assert_eq!(bearer_token(&request), None);
    }

    #[test]
    fn role_guards_answer_forbidden_for_the_other_role() {
        let saad = Principal {
            token_id: "t1".into(),
            role: Role::Saad {
                siret: "12345678900011".into(),
            },
        };
        let financer = Principal {
            token_id: "t2".into(),
            role: Role::Financer,
        };
        assert!(matches!(
            require_financer(&saad),
            Err(ApiError::Forbidden(_))
        ));
        assert!(require_financer(&financer).is_ok());
        assert!(matches!(
            require_saad(&financer),
            Err(ApiError::Forbidden(_))
        ));
        assert_eq!(require_saad(&saad).ok(), Some("12345678900011"));
    }
}
