//! F+S `POST /api/v1/events`: beneficiary events (rules.md R5).
//!
//! `{"events": [{"beneficiary_id", "kind", "start", "end"|null,
//! "note"|null}]}`. All or nothing: every event is checked before any is
//! stored (`end` before `start` → 422 naming the event). A SAAD may report
//! events only for beneficiaries it has a plan for; any other beneficiary
//! answers 404 `not_found` (never 403, nothing stored). An event is
//! identified by (beneficiary, kind, start): sending it again with an end
//! sets its end. The answer is 200 with the events as stored.

use std::collections::BTreeSet;

use actix_web::{HttpRequest, HttpResponse, web};
use chrono_tz::Europe::Paris;
use serde::Deserialize;
use serde_json::json;

use super::audit::{AuditRecord, audit, error_detail, outcome_of};
use super::media::require_content_type;
use super::store_error;
use crate::domain::model::Event;
use crate::domain::types::YearMonth;
use crate::http::auth::Principal;
use crate::http::clock::Clock;
use crate::http::error::{ApiError, parse_json};
use crate::http::gateway::AppState;

/// JSON body of `POST /api/v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsBody {
    events: Vec<Event>,
}

/// `POST /api/v1/events` (financer and SAADs).
pub async fn post_events(
    request: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let result = store_events(&request, &principal, &state, &clock, &body).await;
    let record = AuditRecord {
        action: "POST /api/v1/events",
        target: None,
        saad_siret: None,
        detail: match &result {
            Ok(events) => Some(format!("{} event(s)", events.len())),
            Err(_) => error_detail(&result),
        },
    };
    audit(&state, &clock, &principal, record, outcome_of(&result)).await;
    Ok(HttpResponse::Ok().json(json!({ "events": result? })))
}

async fn store_events(
    request: &HttpRequest,
    principal: &Principal,
    state: &AppState,
    clock: &Clock,
    body: &[u8],
) -> Result<Vec<Event>, ApiError> {
    require_content_type(request, &["application/json"])?;
    let body: EventsBody = parse_json(body)?;
    for (index, event) in body.events.iter().enumerate() {
        if event.end.is_some_and(|end| end < event.start) {
            return Err(ApiError::unprocessable(
                format!("events[{index}]: end is before start"),
                Some(json!({ "field": format!("events[{index}].end") })),
            ));
        }
    }
    if let Some(siret) = principal.saad_siret() {
        check_saad_beneficiaries(state, clock, siret, &body.events).await?;
    }
    let now = clock.now();
    for event in &body.events {
        state
            .store
            .upsert_event(event, now)
            .await
            .map_err(store_error)?;
    }
    let beneficiaries: Vec<String> = body
        .events
        .iter()
        .map(|e| e.beneficiary_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stored = state
        .store
        .events_of(&beneficiaries)
        .await
        .map_err(store_error)?;
    Ok(body
        .events
        .iter()
        .filter_map(|sent| {
            stored
                .iter()
                .find(|s| {
                    s.beneficiary_id == sent.beneficiary_id
                        && s.kind == sent.kind
                        && s.start == sent.start
                })
                .cloned()
        })
        .collect())
}

/// 404 unless the SAAD has a plan for every beneficiary named. A plan
/// "for" a beneficiary is one of the SAAD's plan versions overlapping the
/// month of the event's start or the current month (storage has no look-up
/// of a SAAD's plans over all time).
async fn check_saad_beneficiaries(
    state: &AppState,
    clock: &Clock,
    siret: &str,
    events: &[Event],
) -> Result<(), ApiError> {
    let current = YearMonth::of(clock.now().with_timezone(&Paris).date_naive());
    let months: BTreeSet<YearMonth> = events
        .iter()
        .map(|e| YearMonth::of(e.start))
        .chain(std::iter::once(current))
        .collect();
    let mut known = BTreeSet::new();
    for month in months {
        let plans = state
            .store
            .saad_plans_in_month(siret, month)
            .await
            .map_err(store_error)?;
        known.extend(plans.into_iter().map(|p| p.beneficiary_id));
    }
    match events
        .iter()
        .position(|e| !known.contains(&e.beneficiary_id))
    {
        Some(index) => Err(ApiError::not_found(format!(
            "events[{index}]: no such beneficiary among this SAAD's plans"
        ))),
        None => Ok(()),
    }
}
