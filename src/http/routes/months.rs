//! F `POST /api/v1/months/{YYYY-MM}/close` (api.md; rules.md R9).

use actix_web::{HttpResponse, web};

use crate::domain::reconciliation::ReconciliationError;
use crate::domain::types::YearMonth;
use crate::http::auth::{Principal, require_financer};
use crate::http::clock::Clock;
use crate::http::error::ApiError;
use crate::http::gateway::AppState;
use crate::service::close::{CloseError, close_month};

use super::store_error;

/// Closes a month: 200 `{"month", "invoices": [InvoiceSummary]}`.
pub async fn close(
    principal: Principal,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_financer(&principal)?;
    let month = parse_month(&path)?;
    match close_month(&state.store, &state.params, month, clock.now()).await {
        Ok(outcome) => Ok(HttpResponse::Ok().json(outcome)),
        Err(CloseError::Conflict(message)) => Err(ApiError::conflict(message)),
        // A parameter the charter lacks for a day of the month: 422 saying
        // which and how to fix it (nothing was stored).
        Err(CloseError::Rules(ReconciliationError::Parameter(error))) => {
            Err(super::charter_error(error))
        }
        Err(CloseError::Rules(error)) => Err(ApiError::internal(error)),
        Err(CloseError::Store(error)) => Err(store_error(error)),
    }
}

/// A `YYYY-MM` path or query value; 400 otherwise.
pub fn parse_month(text: &str) -> Result<YearMonth, ApiError> {
    text.parse::<YearMonth>().map_err(|error| {
        ApiError::bad_request(
            error.to_string(),
            Some(serde_json::json!({"path": "month"})),
        )
    })
}
