//! The gateway's "now": the system clock, or a manual clock set through
//! `POST /api/v1/admin/clock` when the server runs with `--clock manual`
//! (../shared/spec/api.md), so that a past month can be replayed with true
//! 48-hour checks.
//!
//! Handlers take `web::Data<Clock>` and pass `clock.now()` into domain
//! functions as a value; the domain never reads a clock.

use std::sync::{Arc, PoisonError, RwLock};

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::cli::ClockMode;
use crate::http::auth::{Principal, require_financer};
use crate::http::error::ApiError;

/// The source of "now" for the whole gateway. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock.
    System,
    /// A clock that only moves when [`Clock::set`] is called.
    Manual(Arc<RwLock<DateTime<Utc>>>),
}

/// Why a clock could not be set.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClockError {
    /// The server was started with the system clock.
    #[error("the clock can only be set when the gateway runs with --clock manual")]
    NotManual,
}

impl Clock {
    /// The clock the command line asks for. A manual clock starts at the
    /// system's current time until it is set.
    pub fn from_mode(mode: ClockMode) -> Self {
        match mode {
            ClockMode::System => Self::System,
            ClockMode::Manual => Self::manual(Utc::now()),
        }
    }

    /// A manual clock showing `now`.
    pub fn manual(now: DateTime<Utc>) -> Self {
        Self::Manual(Arc::new(RwLock::new(now)))
    }

    /// The gateway's current time.
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Self::System => Utc::now(),
            // A poisoned lock still holds a valid DateTime: a panicking
            // writer cannot leave it half-written.
            Self::Manual(time) => *time.read().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Sets a manual clock; fails with [`ClockError::NotManual`] on the
    /// system clock.
    pub fn set(&self, now: DateTime<Utc>) -> Result<(), ClockError> {
        match self {
            Self::System => Err(ClockError::NotManual),
            Self::Manual(time) => {
                *time.write().unwrap_or_else(PoisonError::into_inner) = now;
                Ok(())
            }
        }
    }

    /// Whether this clock can be set.
    pub fn is_manual(&self) -> bool {
        matches!(self, Self::Manual(_))
    }
}

/// Body of `POST /api/v1/admin/clock` and of its answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockBody {
    /// RFC 3339 date-time with offset.
    pub now: DateTime<Utc>,
}

/// `POST /api/v1/admin/clock` (financer only): sets the manual clock.
/// 404 `not_found` unless the server runs with `--clock manual`, checked
/// first so that the route does not even reveal itself otherwise.
pub async fn set_clock(
    principal: Principal,
    clock: web::Data<Clock>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !clock.is_manual() {
        return Err(ApiError::not_found(
            "no such route (the gateway runs on the system clock)",
        ));
    }
    require_financer(&principal)?;
    let body: ClockBody = crate::http::error::parse_json(&body)?;
    clock
        .set(body.now)
        .map_err(|_| ApiError::internal_message("manual clock refused set"))?;
    tracing::info!(clock.now = %body.now, token.id = %principal.token_id, "manual clock set");
    Ok(HttpResponse::Ok().json(ClockBody { now: clock.now() }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_manual_clock_shows_what_was_set() {
        let clock = Clock::manual(Utc::now());
        let then = Utc.with_ymd_and_hms(2025, 3, 31, 22, 0, 0).single();
        let Some(then) = then else {
            panic!("valid date")
        };
        assert_eq!(clock.set(then), Ok(()));
        assert_eq!(clock.now(), then);
    }

    #[test]
    fn the_system_clock_cannot_be_set() {
        assert_eq!(Clock::System.set(Utc::now()), Err(ClockError::NotManual));
    }
}
