//! Plans in (F `POST /api/v1/orders`) and out (S `GET /api/v1/orders`).
//!
//! In: `application/json` `{"plans": [Plan]}` or `application/xml` (or
//! `text/xml`) ESPPADOM ORDER. Each plan is judged and stored on its own by
//! [`crate::service::plans`]: one refused plan does not refuse the others,
//! and the answer is 200 with one `{plan_ref, version, status, reasons}` per
//! plan, in the order received. A body that is not well-formed (or not the
//! expected shape) is refused as a whole: 400 `invalid_json`/`invalid_xml`.
//!
//! Out: the calling SAAD's plan versions in force on the gateway's current
//! day (Europe/Paris): for each plan, the highest version covering that day.
//! Versions that start later are not included. ESPPADOM ORDER by default,
//! `{"plans": [Plan]}` with `Accept: application/json`.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono_tz::Europe::Paris;
use serde::Deserialize;
use serde_json::json;

use super::audit::{AuditRecord, audit, error_detail, outcome_of};
use super::media::{accepts, require_content_type};
use super::{charter_error, store_error};
use crate::domain::model::PlanVersion;
use crate::http::auth::{Principal, require_financer, require_saad};
use crate::http::clock::Clock;
use crate::http::error::{ApiError, SyntaxLocation, parse_json};
use crate::http::gateway::AppState;
use crate::service::plans::{
    PlanImportError, PlanOutcome, PlanStatus, import_order_plan, import_plan, preflight_order_plan,
    preflight_plan,
};
use crate::xml::{OrderParties, XmlError, read_order, write_order};

/// JSON body of `POST /api/v1/orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlansBody {
    plans: Vec<PlanVersion>,
}

const ORDER_MEDIA: &[&str] = &["application/json", "application/xml", "text/xml"];

/// `POST /api/v1/orders` (financer only).
pub async fn post_orders(
    request: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let result = import(&request, &principal, &state, &clock, &body).await;
    let detail = match &result {
        Ok(outcomes) => {
            let accepted = outcomes
                .iter()
                .filter(|o| o.status == PlanStatus::Accepted)
                .count();
            Some(format!(
                "accepted {accepted}, refused {}",
                outcomes.len() - accepted
            ))
        }
        Err(_) => error_detail(&result),
    };
    let target = result.as_ref().ok().map(|outcomes| {
        outcomes
            .iter()
            .map(|o| format!("{} v{}", o.plan_ref, o.version))
            .collect::<Vec<_>>()
            .join(",")
    });
    let record = AuditRecord {
        action: "POST /api/v1/orders",
        target,
        saad_siret: None,
        detail,
    };
    audit(&state, &clock, &principal, record, outcome_of(&result)).await;
    let outcomes = result?;
    Ok(HttpResponse::Ok().json(json!({ "plans": outcomes })))
}

async fn import(
    request: &HttpRequest,
    principal: &Principal,
    state: &AppState,
    clock: &Clock,
    body: &[u8],
) -> Result<Vec<PlanOutcome>, ApiError> {
    require_financer(principal)?;
    let media = require_content_type(request, ORDER_MEDIA)?;
    let mut outcomes = Vec::new();
    // Charter gaps are found before the first write: a 4xx stores nothing.
    if media == "application/json" {
        let body: PlansBody = parse_json(body)?;
        for plan in &body.plans {
            preflight_plan(&state.store, &state.params, plan)
                .await
                .map_err(import_error)?;
        }
        for plan in &body.plans {
            let outcome = import_plan(&state.store, &state.params, plan, clock.now()).await;
            outcomes.push(outcome.map_err(import_error)?);
        }
    } else {
        let plans = read_order(body).map_err(xml_error)?;
        for plan in &plans {
            preflight_order_plan(&state.store, &state.params, plan)
                .await
                .map_err(import_error)?;
        }
        for plan in &plans {
            let outcome = import_order_plan(&state.store, &state.params, plan, clock.now()).await;
            outcomes.push(outcome.map_err(import_error)?);
        }
    }
    Ok(outcomes)
}

/// 400 `invalid_xml` with the reader's line, column and element path.
pub fn xml_error(error: XmlError) -> ApiError {
    ApiError::InvalidXml(SyntaxLocation {
        message: error.message,
        line: error.line,
        column: error.column,
        path: Some(error.path),
    })
}

fn import_error(error: PlanImportError) -> ApiError {
    match error {
        PlanImportError::Store(error) => store_error(error),
        PlanImportError::Parameters(error) => charter_error(error),
    }
}

/// `GET /api/v1/orders` (SAAD only).
pub async fn get_orders(
    request: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, ApiError> {
    let result = orders_in_force(&request, &principal, &state, &clock).await;
    if result.is_err() {
        let record = AuditRecord {
            action: "GET /api/v1/orders",
            detail: error_detail(&result),
            ..AuditRecord::default()
        };
        audit(&state, &clock, &principal, record, outcome_of(&result)).await;
    }
    result
}

async fn orders_in_force(
    request: &HttpRequest,
    principal: &Principal,
    state: &AppState,
    clock: &Clock,
) -> Result<HttpResponse, ApiError> {
    let siret = require_saad(principal)?;
    let now = clock.now().with_timezone(&Paris);
    let today = now.date_naive();
    let versions = state
        .store
        .saad_plans_on(siret, today)
        .await
        .map_err(store_error)?;
    // The highest version of each plan covering today (R7).
    let mut in_force: BTreeMap<String, PlanVersion> = BTreeMap::new();
    for version in versions.into_iter().filter(|v| v.covers(today)) {
        match in_force.get(&version.plan_ref) {
            Some(kept) if kept.version >= version.version => {}
            _ => {
                in_force.insert(version.plan_ref.clone(), version);
            }
        }
    }
    let plans: Vec<PlanVersion> = in_force.into_values().collect();
    if accepts(request, "application/json") {
        return Ok(HttpResponse::Ok().json(json!({ "plans": plans })));
    }
    let saad_name = state
        .store
        .get_saad(siret)
        .await
        .map_err(store_error)?
        .map_or_else(|| siret.to_owned(), |saad| saad.name);
    let parties = OrderParties {
        transaction_id: format!("ORDERS-{siret}-{}", now.format("%Y%m%dT%H%M%S")),
        issued_at: now.naive_local(),
        saad_id: siret.to_owned(),
        saad_name,
        financer_id: state.store.financer_id().to_owned(),
        financer_name: state.store.financer_id().to_owned(),
    };
    let xml = write_order(&plans, &parties).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .body(xml))
}
