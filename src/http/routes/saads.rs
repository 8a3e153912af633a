//! F `POST /api/v1/saads`: registers or updates a SAAD (api.md "SAAD").
//!
//! The body is the contract's JSON SAAD (unknown fields refused). The IBAN
//! (checksum) and BIC (shape), and the tariffs (no overlap for one aid
//! type) are checked by [`crate::service::saads::check_saad`]; a refusal is
//! 422 `invalid_request` with `details.field`. The answer is the stored
//! SAAD: 201 when created, 200 when it replaced an existing one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::audit::{AuditRecord, audit, error_detail, outcome_of};
use super::media::require_content_type;
use super::store_error;
use crate::domain::model::Saad;
use crate::http::auth::{Principal, require_financer};
use crate::http::clock::Clock;
use crate::http::error::{ApiError, parse_json};
use crate::http::gateway::AppState;
use crate::service::saads::check_saad;
use crate::storage::Upsert;

/// `POST /api/v1/saads` (financer only).
pub async fn post_saad(
    request: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut record = AuditRecord {
        action: "POST /api/v1/saads",
        ..AuditRecord::default()
    };
    let result = upsert(&request, &principal, &state, &clock, &body, &mut record).await;
    record.detail = error_detail(&result);
    audit(&state, &clock, &principal, record, outcome_of(&result)).await;
    result
}

async fn upsert(
    request: &HttpRequest,
    principal: &Principal,
    state: &AppState,
    clock: &Clock,
    body: &[u8],
    record: &mut AuditRecord,
) -> Result<HttpResponse, ApiError> {
    require_financer(principal)?;
    require_content_type(request, &["application/json"])?;
    let saad: Saad = parse_json(body)?;
    record.target = Some(saad.siret.as_str().to_owned());
    record.saad_siret = record.target.clone();
    let saad = check_saad(saad).map_err(|invalid| {
        ApiError::unprocessable(invalid.to_string(), Some(json!({ "field": invalid.field })))
    })?;
    let upsert = state
        .store
        .upsert_saad(&saad, clock.now())
        .await
        .map_err(store_error)?;
    let stored = state
        .store
        .get_saad(saad.siret.as_str())
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::internal_message("the SAAD just stored is not found"))?;
    let status = match upsert {
        Upsert::Created => StatusCode::CREATED,
        Upsert::Updated => StatusCode::OK,
    };
    Ok(HttpResponse::build(status).json(stored))
}
