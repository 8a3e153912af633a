//! `GET /healthz`: 200 `{"status": "ok", "database": "ok"}` when the
//! database answers, else 503 `{"status": "unavailable", "database":
//! "unreachable", "error": {…}}` with `Retry-After`.
//!
//! The check goes through the [`HealthCheck`] trait object, which storage
//! implements (a `SELECT 1`); it is bounded by [`HEALTH_CHECK_TIMEOUT`] so a
//! hung database cannot hang the probe. The cause is logged, never sent.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::json;

/// How long the database may take to answer a health check.
pub const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The database did not answer a health check.
#[derive(Debug, thiserror::Error)]
#[error("database health check failed: {0}")]
pub struct HealthError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Tells whether the database answers. Storage implements it.
#[async_trait::async_trait]
pub trait HealthCheck: Send + Sync + 'static {
    /// `Ok(())` when a trivial query succeeds.
    async fn check_database(&self) -> Result<(), HealthError>;
}

/// A health check that always passes (servers without a database: tests,
/// the TLS smoke run).
#[derive(Debug, Default, Clone, Copy)]
pub struct AlwaysHealthy;

#[async_trait::async_trait]
impl HealthCheck for AlwaysHealthy {
    async fn check_database(&self) -> Result<(), HealthError> {
        Ok(())
    }
}

/// The shared health check, as app data.
#[derive(Clone)]
pub struct Health(pub Arc<dyn HealthCheck>);

/// `GET /healthz`.
pub async fn healthz(health: web::Data<Health>) -> HttpResponse {
    let outcome = tokio::time::timeout(HEALTH_CHECK_TIMEOUT, health.0.check_database()).await;
    match outcome {
        Ok(Ok(())) => HttpResponse::Ok().json(json!({"status": "ok", "database": "ok"})),
        Ok(Err(error)) => {
            tracing::error!(error = %error, "health check: database unreachable");
            unavailable()
        }
        Err(_elapsed) => {
            tracing::error!(
                timeout_ms = HEALTH_CHECK_TIMEOUT.as_millis(),
                "health check: database did not answer in time"
            );
            unavailable()
        }
    }
}

fn unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::RETRY_AFTER, "5"))
        .json(json!({
            "status": "unavailable",
            "database": "unreachable",
            "error": {
                "code": "unavailable",
                "message": "database unavailable, retry later",
                "details": {"retry_after_seconds": 5},
            },
        }))
}
