//! `POST /api/v1/deliveries`: ESPPADOM and JSON deliveries through real
//! HTTPS, receipts, idempotency, the 48-hour rule on the gateway's clock,
//! SAAD isolation and the error answers.

use chrono::NaiveDate;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use saad_gateway::domain::model::{PlanVersion, Saad, SaadAidType, Tariff};
use saad_gateway::domain::types::{AidType, SaadStatus, Siret};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_of, json_of, parse_time, spawn_app, spawn_app_on};

/// The SAAD of the sample DELIVERY.
pub const SAAD: &str = "00000000000018";
/// Another SAAD (valid Luhn).
pub const OTHER_SAAD: &str = "73282932000074";
/// The sample's reception time.
pub const RECEIVED: &str = "2024-01-13T07:00:00+01:00";
/// The sample DELIVERY.
pub const SAMPLE: &str = include_str!("../fixtures/esppadom/delivery-apa-example.xml");

fn saad(siret: &str) -> Saad {
    Saad {
        siret: Siret::parse(siret).expect("siret"),
        name: format!("SAAD {siret}"),
        iban: "FR7630006000011234567890189".to_owned(),
        bic: "AGRIFRPP".to_owned(),
        declarative: false,
        finess: None,
        legal_category: None,
        account_holder: None,
        address: None,
        aid_types: vec![SaadAidType {
            aid_type: AidType::Apa,
            status: SaadStatus::Habilite,
            tariffs: vec![Tariff {
                valid_from: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
                valid_to: None,
                hourly_rate: Decimal::new(2450, 2),
            }],
        }],
    }
}

fn plan(plan_ref: &str, beneficiary: &str, siret: &str) -> PlanVersion {
    PlanVersion {
        plan_ref: plan_ref.to_owned(),
        version: 1,
        beneficiary_id: beneficiary.to_owned(),
        saad_siret: Siret::parse(siret).expect("siret"),
        aid_type: AidType::Apa,
        gir: Some(2),
        household: None,
        valid_from: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
        valid_to: NaiveDate::from_ymd_opt(2024, 12, 31).expect("date"),
        monthly_minutes: 1800,
        hourly_rate: Decimal::new(2450, 2),
        participation_rate: Some(Decimal::new(15713, 5)),
        coverage_rate: None,
        monthly_amount: Decimal::new(73500, 2),
        respite_exemption: false,
        household_ref: None,
    }
}

/// Both SAADs, the sample's plan (PA-APA-0001 for BEN-99-000101, SAAD
/// 00000000000018) and another SAAD's plan PA-APA-0002; returns the two
/// SAAD tokens.
pub async fn setup(app: &TestApp) -> (String, String) {
    let now = parse_time("2024-01-01T08:00:00+01:00");
    app.store.upsert_saad(&saad(SAAD), now).await.expect("saad");
    app.store
        .upsert_saad(&saad(OTHER_SAAD), now)
        .await
        .expect("other saad");
    app.store
        .insert_plan_version(&plan("PA-APA-0001", "BEN-99-000101", SAAD), now)
        .await
        .expect("plan");
    app.store
        .insert_plan_version(&plan("PA-APA-0002", "BEN-99-000202", OTHER_SAAD), now)
        .await
        .expect("other plan");
    (app.saad_token(SAAD).await, app.saad_token(OTHER_SAAD).await)
}

/// A JSON line of 2024-01-12 with raw stamps.
pub fn json_line(
    line_id: &str,
    plan_ref: &str,
    beneficiary: &str,
    start: &str,
    end: &str,
) -> Value {
    json!({
        "line_id": line_id, "plan_ref": plan_ref, "beneficiary_id": beneficiary,
        "worker_id": "IV-0001", "aid_type": "APA",
        "raw_start": start, "raw_end": end,
        "corrected_start": null, "corrected_end": null, "correction_reason": null,
        "declarative": false, "timesheet_ref": null
    })
}

async fn accepted_in_january(app: &TestApp) -> usize {
    let month = saad_gateway::domain::types::YearMonth::new(2024, 1).expect("month");
    use futures_util::TryStreamExt;
    app.store
        .accepted_in_month(month)
        .try_collect::<Vec<_>>()
        .await
        .expect("accepted")
        .len()
}

#[tokio::test]
async fn the_sample_delivery_is_accepted_with_45_and_120_rounded_minutes() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    let receipt = json_of(
        app.post_xml("/deliveries", &token, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(receipt["transmission_id"], "T-DEL-20240113-0001");
    assert_eq!(receipt["received_at"], "2024-01-13T07:00:00+01:00");
    assert_eq!(receipt["accepted"], 2, "{receipt}");
    assert_eq!(receipt["rejected"], 0);
    let lines = receipt["lines"].as_array().expect("lines");
    assert_eq!(lines[0]["line_id"], "INTV-2024-000811");
    assert_eq!(lines[0]["status"], "accepted");
    assert_eq!(lines[0]["counted_minutes"], 52);
    assert_eq!(lines[0]["rounded_minutes"], 45);
    assert_eq!(lines[1]["line_id"], "INTV-2024-000812");
    assert_eq!(lines[1]["counted_minutes"], 118);
    assert_eq!(lines[1]["rounded_minutes"], 120);
}

#[tokio::test]
async fn the_same_delivery_twice_gives_the_same_receipt_and_stores_nothing_new() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    let first = json_of(
        app.post_xml("/deliveries", &token, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(accepted_in_january(&app).await, 2);
    app.set_now("2024-01-13T09:00:00+01:00");
    let second = json_of(
        app.post_xml("/deliveries", &token, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first, second);
    assert_eq!(accepted_in_january(&app).await, 2);
}

#[tokio::test]
async fn the_same_transmission_id_with_another_body_is_a_conflict() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    json_of(
        app.post_xml("/deliveries", &token, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    let changed = SAMPLE.replace("09:52:00", "09:50:00");
    error_of(
        app.post_xml("/deliveries", &token, changed).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    assert_eq!(accepted_in_january(&app).await, 2);
}

#[tokio::test]
async fn the_48_hour_rule_uses_the_gateway_clock() {
    let app = spawn_app("2024-01-14T10:00:00+01:00").await;
    let (token, _) = setup(&app).await;
    app.set_now("2024-01-14T10:00:00+01:00");
    // 48 h after 09:52 on the 12th is 09:52 on the 14th: moved past it.
    let receipt = json_of(
        app.post_xml("/deliveries", &token, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    let lines = receipt["lines"].as_array().expect("lines");
    assert_eq!(lines[0]["status"], "rejected", "{receipt}");
    assert_eq!(lines[0]["reasons"][0]["code"], "LATE_TRANSMISSION");
    // The corrected line is not subject to the delay.
    assert_eq!(lines[1]["status"], "accepted", "{receipt}");
}

#[tokio::test]
async fn a_saad_posting_for_another_saads_plan_gets_unknown_plan() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    let body = json!({"transmission_id": "T-1", "interventions": [
        json_line("L1", "PA-APA-0002", "BEN-99-000202", "2024-01-12T10:00:00+01:00", "2024-01-12T11:00:00+01:00")
    ]});
    let receipt = json_of(
        app.post_json("/deliveries", &token, &body).await,
        StatusCode::OK,
    )
    .await;
    let line = &receipt["lines"][0];
    assert_eq!(line["status"], "rejected");
    assert_eq!(
        line["reasons"].as_array().map(Vec::len),
        Some(1),
        "{receipt}"
    );
    assert_eq!(line["reasons"][0]["code"], "UNKNOWN_PLAN");
}

#[tokio::test]
async fn a_delivery_naming_another_saad_is_refused_whole_with_422() {
    let app = spawn_app(RECEIVED).await;
    let (_, other) = setup(&app).await;
    let error = error_of(
        app.post_xml("/deliveries", &other, SAMPLE).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["code"], "SAAD_MISMATCH");
    assert_eq!(accepted_in_january(&app).await, 0);
}

#[tokio::test]
async fn malformed_xml_is_400_with_line_and_column() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    let broken = SAMPLE.replace("</ram:ID>", "</ram:Id>");
    let error = error_of(
        app.post_xml("/deliveries", &token, broken).await,
        StatusCode::BAD_REQUEST,
        "invalid_xml",
    )
    .await;
    assert!(
        error["details"]["line"].as_u64().is_some_and(|l| l > 1),
        "{error}"
    );
    assert!(error["details"]["column"].as_u64().is_some(), "{error}");
    assert!(error["details"]["path"].is_string(), "{error}");
}

#[tokio::test]
async fn a_json_delivery_is_accepted_and_a_bad_value_rejects_only_its_line() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    let full = json!({
        "line_id": "L2", "plan_ref": "PA-APA-0001", "beneficiary_id": "BEN-99-000101",
        "worker_id": "IV-0002", "aid_type": "APA",
        "raw_start": "2024-01-12T17:00:00+01:00", "raw_end": null,
        "corrected_start": "2024-01-12T17:00:00+01:00", "corrected_end": "2024-01-12T18:00:00+01:00",
        "correction_reason": "FORGOTTEN", "declarative": false, "timesheet_ref": "FT-2024-01-12"
    });
    let mut bad = json_line(
        "L3",
        "PA-APA-0001",
        "BEN-99-000101",
        "2024-01-12T19:00:00+01:00",
        "2024-01-12T20:00:00+01:00",
    );
    bad["worker_id"] = json!("Marie Dupont");
    let body = json!({"transmission_id": "T-JSON-1", "interventions": [
        json_line("L1", "PA-APA-0001", "BEN-99-000101", "2024-01-12T10:00:00+01:00", "2024-01-12T11:00:00+01:00"),
        full, bad
    ]});
    let receipt = json_of(
        app.post_json("/deliveries", &token, &body).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(receipt["transmission_id"], "T-JSON-1");
    assert_eq!(receipt["accepted"], 2, "{receipt}");
    assert_eq!(receipt["lines"][0]["rounded_minutes"], 60);
    assert_eq!(receipt["lines"][1]["status"], "accepted", "{receipt}");
    assert_eq!(receipt["lines"][1]["rounded_minutes"], 60);
    assert_eq!(receipt["lines"][2]["status"], "rejected");
    assert_eq!(receipt["lines"][2]["reasons"][0]["code"], "INVALID_MESSAGE");
}

#[tokio::test]
async fn an_idempotency_key_differing_from_the_json_transmission_id_is_400() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    let body = json!({"transmission_id": "T-1", "interventions": []});
    let response = app
        .client
        .post(app.url("/deliveries"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "T-2")
        .json(&body)
        .send()
        .await
        .expect("POST");
    error_of(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn the_idempotency_key_wins_over_the_xml_transaction_id() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    let response = app
        .client
        .post(app.url("/deliveries"))
        .bearer_auth(&token)
        .header("content-type", "application/xml")
        .header("Idempotency-Key", "KEY-42")
        .body(SAMPLE)
        .send()
        .await
        .expect("POST");
    let receipt = json_of(response, StatusCode::OK).await;
    assert_eq!(receipt["transmission_id"], "KEY-42");
}

#[tokio::test]
async fn malformed_json_is_400_and_other_media_types_415_and_a_financer_403() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = setup(&app).await;
    let response = app
        .client
        .post(app.url("/deliveries"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"transmission_id\": \"T\",\n \"interventions\": [}")
        .send()
        .await
        .expect("POST");
    let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(error["details"]["line"], 2);
    let response = app
        .client
        .post(app.url("/deliveries"))
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .expect("POST");
    error_of(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    error_of(
        app.post_xml("/deliveries", &app.financer, SAMPLE).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
}

#[tokio::test]
async fn the_sample_is_accepted_on_postgresql() {
    let Some(app) = spawn_app_on(Backend::Postgres, RECEIVED).await else {
        return;
    };
    let (token, _) = setup(&app).await;
    let first = json_of(
        app.post_xml("/deliveries", &token, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first["accepted"], 2, "{first}");
    let second = json_of(
        app.post_xml("/deliveries", &token, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(first, second);
    assert_eq!(accepted_in_january(&app).await, 2);
}

#[tokio::test]
async fn a_delivery_over_the_body_limit_is_413_and_nothing_is_stored() {
    let limits = saad_gateway::http::server::BodyLimits {
        default_bytes: 1024,
        delivery_bytes: SAMPLE.len() - 1,
    };
    let app = crate::helpers::spawn_app_with_limits(RECEIVED, limits).await;
    let (token, _) = setup(&app).await;
    error_of(
        app.post_xml("/deliveries", &token, SAMPLE).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    assert_eq!(accepted_in_january(&app).await, 0);
    let big = json!({"transmission_id": "T-BIG", "interventions": [], "pad": "x".repeat(2048)});
    error_of(
        app.post_json("/deliveries", &token, &big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
}
