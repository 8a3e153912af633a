//! Dashboard sessions: an encrypted cookie, a CSRF token per session.
//!
//! The login form takes an API token. The gateway never keeps the token: the
//! session cookie carries its **SHA-256 hash** (what the `tokens` table
//! stores), a random CSRF token and an expiry, encrypted and authenticated
//! with AES-256-GCM by the `cookie` crate's private jar. Every request looks
//! the hash up again, so a revoked token ends its sessions at once.
//!
//! The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/`, and under TLS
//! `Secure` with the `__Host-` prefix. The key comes from
//! `SAAD_GATEWAY_SESSION_KEY` (base64 of at least 64 bytes; every gateway
//! process of one deployment must share it) or is drawn at start-up (sessions
//! then end when the process stops).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use cookie::{Cookie, CookieJar, Key, SameSite};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// How long a session lives, from login (seconds).
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// How long the login form's CSRF cookie lives (seconds).
pub const LOGIN_FORM_SECONDS: i64 = 30 * 60;
/// The environment variable holding the session key.
pub const SESSION_KEY_VAR: &str = "SAAD_GATEWAY_SESSION_KEY";

/// What the encrypted session cookie holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// Hex SHA-256 of the API token (never the token).
    #[serde(rename = "h")]
    pub token_hash: String,
    /// The CSRF token of every form of this session.
    #[serde(rename = "c")]
    pub csrf: String,
    /// Expiry, Unix seconds.
    #[serde(rename = "x")]
    pub expires: i64,
}

/// The login form's CSRF token, before a session exists.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoginForm {
    #[serde(rename = "c")]
    csrf: String,
    #[serde(rename = "x")]
    expires: i64,
}

/// Encrypts and reads the dashboard cookies.
#[derive(Clone)]
pub struct Sessions {
    key: Key,
    secure: bool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions with the key of `SAAD_GATEWAY_SESSION_KEY`, or a fresh one
    /// (an unusable variable is logged and replaced by a fresh key).
    /// `secure`: the gateway serves TLS (cookies get `Secure` and `__Host-`).
    pub fn from_env(secure: bool) -> Self {
        let key = match std::env::var(SESSION_KEY_VAR) {
            Ok(text) => match STANDARD
                .decode(text.trim())
                .ok()
                .and_then(|bytes| Key::try_from(bytes.as_slice()).ok())
            {
                Some(key) => key,
                None => {
                    tracing::warn!(
                        variable = SESSION_KEY_VAR,
                        "not the base64 of at least 64 bytes: dashboard sessions use a key drawn for this process"
                    );
                    Key::generate()
                }
            },
            Err(_) => Key::generate(),
        };
        Self { key, secure }
    }

    fn session_name(&self) -> &'static str {
        if self.secure {
            "__Host-saad_session"
        } else {
            "saad_session"
        }
    }

    fn login_name(&self) -> &'static str {
        if self.secure {
            "__Host-saad_login"
        } else {
            "saad_login"
        }
    }

    fn jar(request: &actix_web::HttpRequest) -> CookieJar {
        let mut jar = CookieJar::new();
        for header in request.headers().get_all(actix_web::http::header::COOKIE) {
            let Ok(text) = header.to_str() else { continue };
            for cookie in Cookie::split_parse(text).flatten() {
                jar.add_original(cookie.into_owned());
            }
        }
        jar
    }

    fn read<T: for<'de> Deserialize<'de>>(
        &self,
        request: &actix_web::HttpRequest,
        name: &str,
    ) -> Option<T> {
        let jar = Self::jar(request);
        let cookie = jar.private(&self.key).get(name)?;
        serde_json::from_str(cookie.value()).ok()
    }

    fn seal(&self, name: &'static str, value: String, max_age: i64) -> String {
        let mut jar = CookieJar::new();
        let mut cookie = Cookie::new(name, value);
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Strict);
        cookie.set_path("/");
        cookie.set_secure(self.secure);
        cookie.set_max_age(cookie::time::Duration::seconds(max_age));
        jar.private_mut(&self.key).add(cookie);
        jar.get(name).map(|c| c.to_string()).unwrap_or_default()
    }

    fn removal(&self, name: &'static str) -> String {
        let mut cookie = Cookie::new(name, "");
        cookie.set_http_only(true);
        cookie.set_same_site(SameSite::Strict);
        cookie.set_path("/");
        cookie.set_secure(self.secure);
        cookie.make_removal();
        cookie.to_string()
    }

    /// The unexpired session of the request, if any.
    pub fn session(&self, request: &actix_web::HttpRequest) -> Option<Session> {
        self.read::<Session>(request, self.session_name())
            .filter(|s| s.expires > Utc::now().timestamp())
    }

    /// A new session for a token hash: the session and its `Set-Cookie` value.
    pub fn open(&self, token_hash: String) -> (Session, String) {
        let session = Session {
            token_hash,
            csrf: random_token(),
            expires: Utc::now().timestamp() + SESSION_SECONDS,
        };
        let value = serde_json::to_string(&session).unwrap_or_default();
        let cookie = self.seal(self.session_name(), value, SESSION_SECONDS);
        (session, cookie)
    }

    /// `Set-Cookie` values that end the session and the login form cookie.
    pub fn close(&self) -> [String; 2] {
        [
            self.removal(self.session_name()),
            self.removal(self.login_name()),
        ]
    }

    /// The login form's CSRF token: the one of the request's login cookie
    /// when still valid, else a new one with its `Set-Cookie` value.
    pub fn login_csrf(&self, request: &actix_web::HttpRequest) -> (String, Option<String>) {
        if let Some(form) = self
            .read::<LoginForm>(request, self.login_name())
            .filter(|f| f.expires > Utc::now().timestamp())
        {
            return (form.csrf, None);
        }
        let form = LoginForm {
            csrf: random_token(),
            expires: Utc::now().timestamp() + LOGIN_FORM_SECONDS,
        };
        let value = serde_json::to_string(&form).unwrap_or_default();
        let cookie = self.seal(self.login_name(), value, LOGIN_FORM_SECONDS);
        (form.csrf, Some(cookie))
    }

    /// Whether `sent` is the CSRF token of the request's login form cookie.
    pub fn login_csrf_matches(&self, request: &actix_web::HttpRequest, sent: &str) -> bool {
        self.read::<LoginForm>(request, self.login_name())
            .filter(|f| f.expires > Utc::now().timestamp())
            .is_some_and(|f| same_token(&f.csrf, sent))
    }
}

/// Constant-time comparison of two CSRF tokens.
pub fn same_token(expected: &str, sent: &str) -> bool {
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

/// 32 random bytes, URL-safe base64.
fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request_with(cookie: &str) -> actix_web::HttpRequest {
        let pair = cookie.split(';').next().unwrap_or_default().to_owned();
        TestRequest::default()
            .insert_header((actix_web::http::header::COOKIE, pair))
            .to_http_request()
    }

    #[test]
    fn a_session_cookie_is_encrypted_http_only_strict_and_reads_back() {
        let sessions = Sessions {
            key: Key::generate(),
            secure: true,
        };
        let (session, set_cookie) = sessions.open("ab".repeat(32));
        assert!(set_cookie.starts_with("__Host-saad_session="));
        assert!(set_cookie.contains("HttpOnly"));
        assert!(set_cookie.contains("SameSite=Strict"));
        assert!(set_cookie.contains("Secure"));
        assert!(!set_cookie.contains(&session.token_hash));
        let read = sessions
            .session(&request_with(&set_cookie))
            .expect("session");
        assert_eq!(read.token_hash, session.token_hash);
        assert_eq!(read.csrf, session.csrf);
    }

    #[test]
    fn a_cookie_sealed_with_another_key_is_no_session() {
        let one = Sessions {
            key: Key::generate(),
            secure: false,
        };
        let other = Sessions {
            key: Key::generate(),
            secure: false,
        };
        let (_, set_cookie) = one.open("cd".repeat(32));
        assert!(other.session(&request_with(&set_cookie)).is_none());
    }

    #[test]
    fn csrf_tokens_compare_exactly_and_never_match_empty() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("", ""));
    }
}
