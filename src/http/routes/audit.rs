//! The audit log of the routes: one row per request that changed something
//! or was refused (who by token id, what, when, outcome).
//!
//! Audit rows never carry a token nor a name: the token id, the SAAD's
//! SIRET, the action (`POST /api/v1/orders`), a target (plan reference,
//! SIRET…), the outcome (`stored` or `refused:<status>`) and a short detail.
//! Writing the row is best effort: a failure is logged and the request's
//! answer is unchanged.

use actix_web::ResponseError;

use crate::http::auth::Principal;
use crate::http::clock::Clock;
use crate::http::error::ApiError;
use crate::http::gateway::AppState;
use crate::storage::AuditEntry;

/// `stored` for a success, `refused:<status>` for an error.
pub fn outcome_of<T>(result: &Result<T, ApiError>) -> String {
    match result {
        Ok(_) => "stored".to_owned(),
        Err(error) => format!("refused:{}", error.status_code().as_u16()),
    }
}

/// What one audit row says besides who and when.
#[derive(Debug, Clone, Default)]
pub struct AuditRecord {
    /// What was asked, e.g. `POST /api/v1/orders`.
    pub action: &'static str,
    /// What it was about (SIRET, plan reference…), no personal data.
    pub target: Option<String>,
    /// The SAAD concerned when the caller is the financer (a saad token's
    /// own SIRET is used otherwise).
    pub saad_siret: Option<String>,
    /// Short detail, no personal data.
    pub detail: Option<String>,
}

/// Appends one audit row for `principal`; failures are logged, not returned.
pub async fn audit(
    state: &AppState,
    clock: &Clock,
    principal: &Principal,
    record: AuditRecord,
    outcome: String,
) {
    let entry = entry(clock, principal, record, outcome);
    if let Err(error) = state.store.append_audit(&entry).await {
        tracing::error!(action = %entry.action, error = %error, "could not write the audit row");
    }
}

/// The audit row of a request by `principal`, for a caller that writes it
/// itself (a delivery's row is written in the delivery's own transaction).
pub fn entry(
    clock: &Clock,
    principal: &Principal,
    record: AuditRecord,
    outcome: String,
) -> AuditEntry {
    AuditEntry {
        at: clock.now(),
        token_id: Some(principal.token_id.clone()),
        saad_siret: principal
            .saad_siret()
            .map(str::to_owned)
            .or(record.saad_siret),
        action: record.action.to_owned(),
        target: record.target,
        outcome,
        detail: record.detail,
    }
}

/// The detail of an error for the audit row: its code and message (messages
/// of refusals name fields and codes, never people; 5xx say "internal error").
pub fn error_detail<T>(result: &Result<T, ApiError>) -> Option<String> {
    result
        .as_ref()
        .err()
        .map(|error| format!("{}: {}", error.code(), error.public_message()))
}
