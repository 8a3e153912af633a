//! F+S `GET /api/v1/rejections?month=YYYY-MM` (a financer adds
//! `&saad_siret=`): the rejection notice of one SAAD for one month, JSON by
//! default, CSV (`;`, header row, same columns) with `Accept: text/csv`.
//!
//! A SAAD sees only its own notice: naming another SAAD's SIRET answers 404
//! (api.md: another SAAD's resource is 404, nothing leaks). A financer must
//! name the SAAD (400 otherwise); an unknown SAAD is 404.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::domain::types::YearMonth;
use crate::http::auth::{Principal, Role};
use crate::http::error::ApiError;
use crate::http::gateway::AppState;
use crate::service::rejections::{RejectionNotice, RejectionsError, rejection_notice};

/// The query string.
#[derive(Debug, Deserialize)]
pub struct RejectionsQuery {
    /// `YYYY-MM`.
    month: Option<String>,
    /// The SAAD (required for a financer, optional for a SAAD).
    saad_siret: Option<String>,
}

/// `GET /api/v1/rejections`.
pub async fn get_rejections(
    request: HttpRequest,
    principal: Principal,
    query: web::Query<RejectionsQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let month_text = query.month.as_deref().ok_or_else(|| {
        ApiError::bad_request("the month query parameter (YYYY-MM) is required", None)
    })?;
    let month: YearMonth =
        month_text
            .parse()
            .map_err(|e: crate::domain::types::ParseCodeError| {
                ApiError::bad_request(e.message, None)
            })?;
    let saad_siret = match &principal.role {
        Role::Saad { siret } => {
            if query
                .saad_siret
                .as_deref()
                .is_some_and(|asked| asked != siret)
            {
                return Err(ApiError::not_found("no rejection notice for this SAAD"));
            }
            siret.clone()
        }
        Role::Financer => {
            let asked = query.saad_siret.clone().ok_or_else(|| {
                ApiError::bad_request("a financer must name the SAAD: add &saad_siret=", None)
            })?;
            match state.store.get_saad(&asked).await {
                Ok(Some(_)) => asked,
                Ok(None) | Err(crate::storage::StoreError::NotFound) => {
                    return Err(ApiError::not_found("no such SAAD"));
                }
                Err(error) => return Err(super::store_error(error)),
            }
        }
    };
    let notice = rejection_notice(&state.store, &state.params, &saad_siret, month)
        .await
        .map_err(|error| match error {
            RejectionsError::Store(store) => super::store_error(store),
            RejectionsError::Parameters(parameter) => super::charter_error(parameter),
        })?;
    if wants_csv(&request) {
        let body = to_csv(&notice)?;
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(body));
    }
    Ok(HttpResponse::Ok().json(notice))
}

/// Whether the `Accept` header asks for `text/csv`.
fn wants_csv(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|part| {
                part.split(';')
                    .next()
                    .is_some_and(|m| m.trim().eq_ignore_ascii_case("text/csv"))
            })
        })
}

/// The columns of the CSV, in RejectionLine order.
const CSV_HEADER: [&str; 9] = [
    "code",
    "message",
    "line_id",
    "plan_ref",
    "beneficiary_id",
    "day",
    "minutes",
    "amount",
    "remedy",
];

/// The notice as CSV (`;`, header row; empty cells for `null`).
pub(crate) fn to_csv(notice: &RejectionNotice) -> Result<Vec<u8>, ApiError> {
    let mut writer = csv::WriterBuilder::new()
        .delimiter(b';')
        .from_writer(Vec::new());
    writer
        .write_record(CSV_HEADER)
        .map_err(ApiError::internal)?;
    for line in &notice.lines {
        let day = line.day.map(|d| d.to_string()).unwrap_or_default();
        let minutes = line.minutes.map(|m| m.to_string()).unwrap_or_default();
        writer
            .write_record([
                line.code.as_str(),
                line.message.as_str(),
                line.line_id.as_deref().unwrap_or(""),
                line.plan_ref.as_deref().unwrap_or(""),
                line.beneficiary_id.as_deref().unwrap_or(""),
                day.as_str(),
                minutes.as_str(),
                line.amount.as_deref().unwrap_or(""),
                line.remedy.as_str(),
            ])
            .map_err(ApiError::internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| ApiError::internal_message(format!("writing CSV: {e}")))
}
