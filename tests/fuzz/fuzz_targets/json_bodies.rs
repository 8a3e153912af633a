//! cargo-fuzz target: the JSON bodies of the routes (SAAD registration, plan
//! import, events, overrun authorisation, JSON delivery) read through
//! `http::error::parse_json`, the function every JSON route uses, into the
//! route's own types. The first byte picks the body kind. Never a panic; a
//! refusal is always `invalid_json` (400) located at line ≥ 1; a SAAD that
//! reads is then judged by `service::saads::check_saad` (never a panic).
//!
//! The body wrappers of the delivery, order, event and overrun routes are
//! private to their route modules; the structs below copy them field for
//! field (same types, same `deny_unknown_fields`), the inner types are the
//! crate's own.
#![no_main]

use actix_web::ResponseError;
use libfuzzer_sys::fuzz_target;
use saad_gateway::domain::model::{Event, PlanVersion, Saad};
use saad_gateway::domain::types::YearMonth;
use saad_gateway::http::ApiError;
use saad_gateway::http::error::parse_json;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PlansBody {
    plans: Vec<PlanVersion>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EventsBody {
    events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AuthorisationBody {
    plan_ref: String,
    month: YearMonth,
    minutes: i64,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct JsonDelivery {
    transmission_id: String,
    interventions: Vec<JsonLine>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct JsonLine {
    line_id: String,
    #[serde(default)]
    plan_ref: Option<String>,
    beneficiary_id: String,
    #[serde(default)]
    worker_id: Option<String>,
    #[serde(default)]
    aid_type: Option<String>,
    #[serde(default)]
    raw_start: Option<String>,
    #[serde(default)]
    raw_end: Option<String>,
    #[serde(default)]
    corrected_start: Option<String>,
    #[serde(default)]
    corrected_end: Option<String>,
    #[serde(default)]
    correction_reason: Option<String>,
    #[serde(default)]
    declarative: Option<bool>,
    #[serde(default)]
    timesheet_ref: Option<String>,
}

fn read<T: serde::de::DeserializeOwned>(body: &[u8]) -> Option<T> {
    match parse_json::<T>(body) {
        Ok(value) => Some(value),
        Err(error) => {
            assert_eq!(error.status_code().as_u16(), 400, "{error}");
            match &error {
                // Column 0 is a known bug (serde_json's column at the start
                // of a line or at EOF, see docs/reliability.md): only the
                // line is asserted here.
                ApiError::InvalidJson(at) => assert!(at.line >= 1, "{at:?}"),
                other => panic!("a JSON refusal must be invalid_json: {other:?}"),
            }
            None
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 5 {
        0 => {
            if let Some(saad) = read::<Saad>(body) {
                let _ = saad_gateway::service::saads::check_saad(saad);
            }
        }
        1 => {
            read::<PlansBody>(body);
        }
        2 => {
            read::<EventsBody>(body);
        }
        3 => {
            read::<AuthorisationBody>(body);
        }
        _ => {
            read::<JsonDelivery>(body);
        }
    }
});
