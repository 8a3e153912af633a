//! F `POST /api/v1/overrun-authorisations`: the financer authorises extra
//! minutes for a plan and month (rules.md R7). `{"plan_ref", "month":
//! "YYYY-MM", "minutes"}` → 201 with the stored authorisation; an unknown
//! plan → 404; minutes not positive → 422.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::audit::{AuditRecord, audit, error_detail, outcome_of};
use super::media::require_content_type;
use super::store_error;
use crate::domain::model::OverrunAuthorisation;
use crate::domain::types::YearMonth;
use crate::http::auth::{Principal, require_financer};
use crate::http::clock::Clock;
use crate::http::error::{ApiError, parse_json};
use crate::http::gateway::AppState;

/// JSON body; `minutes` is read signed so that 0 or a negative number is a
/// 422 rather than a shape error.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthorisationBody {
    plan_ref: String,
    month: YearMonth,
    minutes: i64,
}

/// `POST /api/v1/overrun-authorisations` (financer only).
pub async fn post_overrun_authorisation(
    request: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut record = AuditRecord {
        action: "POST /api/v1/overrun-authorisations",
        ..AuditRecord::default()
    };
    let result = authorise(&request, &principal, &state, &clock, &body, &mut record).await;
    record.detail = match &result {
        Ok(a) => Some(format!("{} minutes for {}", a.minutes, a.month)),
        Err(_) => error_detail(&result),
    };
    audit(&state, &clock, &principal, record, outcome_of(&result)).await;
    Ok(HttpResponse::Created().json(result?))
}

async fn authorise(
    request: &HttpRequest,
    principal: &Principal,
    state: &AppState,
    clock: &Clock,
    body: &[u8],
    record: &mut AuditRecord,
) -> Result<OverrunAuthorisation, ApiError> {
    require_financer(principal)?;
    require_content_type(request, &["application/json"])?;
    let body: AuthorisationBody = parse_json(body)?;
    record.target = Some(body.plan_ref.clone());
    let minutes = u32::try_from(body.minutes)
        .ok()
        .filter(|m| *m > 0)
        .ok_or_else(|| {
            ApiError::unprocessable(
                "minutes must be a positive number of minutes",
                Some(json!({ "field": "minutes" })),
            )
        })?;
    let versions = state
        .store
        .plan_versions(&body.plan_ref)
        .await
        .map_err(store_error)?;
    let Some(latest) = versions.iter().max_by_key(|v| v.version) else {
        return Err(ApiError::not_found("no such plan"));
    };
    record.saad_siret = Some(latest.saad_siret.as_str().to_owned());
    let authorisation = OverrunAuthorisation {
        plan_ref: body.plan_ref,
        month: body.month,
        minutes,
    };
    state
        .store
        .insert_overrun_authorisation(&authorisation, clock.now())
        .await
        .map_err(store_error)?;
    Ok(authorisation)
}
