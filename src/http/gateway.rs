//! The gateway assembled: storage behind the HTTP edge.
//!
//! [`start`] builds the server of `saad-gateway serve` (and of the demo and
//! the integration tests) from the settings, an open [`Store`] and the
//! charter: storage answers the token look-ups and the health check, and
//! the routes of [`super::routes`] get an [`AppState`].

use std::path::PathBuf;
use std::sync::Arc;

use crate::domain::params::Parameters;
use crate::storage::Store;

use super::auth::{CachedTokens, LookupError, Principal, Role, TokenLookup};
use super::clock::Clock;
use super::health::{HealthCheck, HealthError};
use super::metrics::Metrics;
use super::server::{RunningServer, Server, ServerConfig, ServerDeps, ServerError};

/// What every route handler shares (`web::Data<AppState>`).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// The charter.
    pub params: Arc<Parameters>,
    /// The charter folder the server was started with (`--charter-dir`):
    /// the batch exports read its `financer.toml`.
    pub charter_dir: PathBuf,
}

/// How long the API remembers a known token before asking the database
/// again: a revoked token stops being accepted within this time.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// How many known tokens the API remembers at most.
const TOKEN_CACHE_CAPACITY: u64 = 100_000;

/// Token look-up against the `tokens` table (only hashes are stored).
#[derive(Clone)]
pub struct StoreTokens(pub Store);

#[async_trait::async_trait]
impl TokenLookup for StoreTokens {
    async fn lookup(&self, token_hash: &str) -> Result<Option<Principal>, LookupError> {
        let record = self
            .0
            .find_token_by_hash(token_hash)
            .await
            .map_err(|e| LookupError(Box::new(e)))?;
        Ok(record.filter(|r| r.revoked_at.is_none()).and_then(|r| {
            let role = match (r.role, r.saad_siret) {
                (crate::storage::TokenRole::Financer, _) => Role::Financer,
                (crate::storage::TokenRole::Saad, Some(siret)) => Role::Saad { siret },
                (crate::storage::TokenRole::Saad, None) => return None,
            };
            Some(Principal {
                token_id: r.id,
                role,
            })
        }))
    }
}

/// Health check: a trivial read through the pool.
#[derive(Clone)]
pub struct StoreHealth(pub Store);

#[async_trait::async_trait]
impl HealthCheck for StoreHealth {
    async fn check_database(&self) -> Result<(), HealthError> {
        self.0
            .ping()
            .await
            .map_err(|error| HealthError(Box::new(error)))
    }
}

/// Builds the gateway with the source tree's charter folder
/// (`charter::default_dir()`) for `financer.toml`; see [`start_with_charter_dir`].
pub fn start(
    config: ServerConfig,
    store: Store,
    params: Arc<Parameters>,
    clock: Clock,
) -> Result<RunningServer, ServerError> {
    start_with_charter_dir(config, store, params, clock, crate::charter::default_dir())
}

/// Builds the gateway: binds the listener and returns the server, ready to
/// run. `charter_dir` is the folder `params` were loaded from (`serve
/// --charter-dir`); the batch exports read its `financer.toml`. Must be
/// called inside a Tokio runtime.
pub fn start_with_charter_dir(
    config: ServerConfig,
    store: Store,
    params: Arc<Parameters>,
    clock: Clock,
    charter_dir: PathBuf,
) -> Result<RunningServer, ServerError> {
    let state = actix_web::web::Data::new(AppState {
        store: store.clone(),
        params,
        charter_dir,
    });
    let deps = ServerDeps {
        tokens: Arc::new(CachedTokens::new(
            Arc::new(StoreTokens(store.clone())),
            TOKEN_CACHE_TTL,
            TOKEN_CACHE_CAPACITY,
        )),
        health: Arc::new(StoreHealth(store)),
        clock,
        metrics: Metrics::new()?,
    };
    let pages = crate::web::Pages::new(state.clone(), config.tls.is_some());
    Server::build_with_pages(
        config,
        move |cfg| {
            cfg.app_data(state.clone());
            super::routes::configure(cfg);
        },
        move |cfg| pages.configure(cfg),
        deps,
    )
}
