//! API tokens (api.md `saad-gateway token create`): a random token printed
//! once; only its SHA-256 is stored.

use std::path::Path;

use chrono::Utc;

use crate::domain::types::Siret;
use crate::http::auth::generate_token;
use crate::storage::{Store, StoreError, TokenRecord, TokenRole};

/// Why a token could not be created.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// A `saad` token needs the SAAD's SIRET.
    #[error("a saad token needs --siret with the SAAD's 14-digit SIRET")]
    MissingSiret,
    /// The SIRET is malformed.
    #[error(transparent)]
    BadSiret(#[from] crate::domain::types::ParseCodeError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a token for the financer or one SAAD and returns its plaintext
/// (the caller prints it once; it cannot be recovered later).
pub async fn create_token(
    store: &Store,
    role: TokenRole,
    siret: Option<&str>,
) -> Result<String, TokenError> {
    let saad_siret = match role {
        TokenRole::Financer => None,
        TokenRole::Saad => {
            let siret = Siret::parse(siret.ok_or(TokenError::MissingSiret)?)?;
            Some(siret.as_str().to_owned())
        }
    };
    let (token, token_hash) = generate_token();
    let id = format!("tok_{}", token_hash.get(..16).unwrap_or(&token_hash));
    store
        .create_token(&TokenRecord {
            id,
            role,
            saad_siret,
            token_hash,
            created_at: Utc::now(),
            revoked_at: None,
        })
        .await?;
    Ok(token)
}

/// A `sqlite://` URL with a relative path is resolved against the data
/// directory (api.md `--data-dir`); other URLs are returned unchanged.
pub fn resolve_database_url(url: &str, data_dir: &Path) -> String {
    match url.strip_prefix("sqlite://") {
        Some(path) if !path.starts_with('/') && !path.starts_with(':') => {
            let (file, query) = path
                .split_once('?')
                .map_or((path, None), |(f, q)| (f, Some(q)));
            let joined = data_dir.join(file);
            match query {
                Some(q) => format!("sqlite://{}?{q}", joined.display()),
                None => format!("sqlite://{}", joined.display()),
            }
        }
        _ => url.to_owned(),
    }
}
