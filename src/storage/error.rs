//! [`StoreError`]: what a storage call can fail with, mapped from sqlx so
//! that the HTTP adapter can pick a status (404, 409, 503, 500).

use std::error::Error as StdError;

/// Failure of a storage operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist (or is not visible to this SAAD).
    #[error("not found")]
    NotFound,
    /// A unique key already exists, or the schema refused a change
    /// (append-only or immutable rows).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be reached or the pool is exhausted: retry later (503).
    #[error("storage unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else (a bug, a corrupt row, a failed migration).
    #[error("storage error: {what}")]
    Other {
        /// What failed.
        what: String,
        /// Cause.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
}

impl StoreError {
    /// An error without a lower-level cause.
    pub fn other(what: impl Into<String>) -> Self {
        StoreError::Other {
            what: what.into(),
            source: None,
        }
    }

    /// A stored value that does not decode into its domain type.
    pub fn corrupt(what: impl Into<String>) -> Self {
        StoreError::Other {
            what: format!("stored value does not decode: {}", what.into()),
            source: None,
        }
    }
}

/// SQLite primary result codes that mean "busy, try later".
const SQLITE_BUSY: &str = "5";
const SQLITE_LOCKED: &str = "6";

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let busy = code == SQLITE_BUSY
                    || code == SQLITE_LOCKED
                    || code.starts_with("08") // connection exception
                    || code == "53300" // too many connections
                    || code == "57P01" // admin shutdown
                    || code == "57P03" // cannot connect now
                    || code == "55P03"; // lock_not_available (ingestion lock timeout)
                if busy {
                    return StoreError::Unavailable(error);
                }
                match db.kind() {
                    sqlx::error::ErrorKind::UniqueViolation => {
                        StoreError::Conflict(db.message().to_owned())
                    }
                    _ if is_refusal(&code) => StoreError::Conflict(db.message().to_owned()),
                    _ => StoreError::Other {
                        what: "database error".to_owned(),
                        source: Some(Box::new(error)),
                    },
                }
            }
            _ => StoreError::Other {
                what: "database error".to_owned(),
                source: Some(Box::new(error)),
            },
        }
    }
}

/// Our triggers refuse changes with SQLITE_CONSTRAINT_TRIGGER (1811) /
/// SQLITE_CONSTRAINT (19) on SQLite and `integrity_constraint_violation`
/// (23000) on PostgreSQL.
fn is_refusal(code: &str) -> bool {
    matches!(code, "1811" | "19" | "23000")
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        StoreError::Other {
            what: "applying migrations".to_owned(),
            source: Some(Box::new(error)),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Other {
            what: "JSON column".to_owned(),
            source: Some(Box::new(error)),
        }
    }
}
