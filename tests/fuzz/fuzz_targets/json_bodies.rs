//! cargo-fuzz target: the JSON bodies of the routes (SAAD registration, plan
//! import, events, overrun authorisation, JSON delivery), read into the
//! routes' own types by `http::routes::read_json_body` (the route's
//! `parse_json` call). The first byte picks the body kind. Never a panic; a
//! refusal is always `invalid_json` (400) located at line ≥ 1 and column ≥ 1;
//! a SAAD that reads is then judged by `service::saads::check_saad`.
#![no_main]

use actix_web::ResponseError;
use libfuzzer_sys::fuzz_target;
use saad_gateway::http::ApiError;
use saad_gateway::http::routes::{JsonBody, read_json_body};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let kind = match selector % 5 {
        0 => JsonBody::Saad,
        1 => JsonBody::Plans,
        2 => JsonBody::Events,
        3 => JsonBody::Authorisation,
        _ => JsonBody::Delivery,
    };
    if let Err(error) = read_json_body(kind, body) {
        assert_eq!(error.status_code().as_u16(), 400, "{error}");
        match &error {
            ApiError::InvalidJson(at) => assert!(at.line >= 1 && at.column >= 1, "{at:?}"),
            other => panic!("a JSON refusal must be invalid_json: {other:?}"),
        }
    }
});
