//! F `POST /api/v1/saads` (api.md "SAAD"): 201/200, the stored body,
//! IBAN/BIC and tariff checks, financer only; shared SAAD fixtures.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_of, json_of, spawn_app, spawn_app_on};

/// The SAAD of the ORDER sample.
pub const SAAD_A: &str = "00000000000018";
/// Another SAAD.
pub const SAAD_B: &str = "00000000000026";
/// A valid French IBAN.
pub const IBAN: &str = "FR7630006000011234567890189";

/// A habilité SAAD with APA tariff 24.00 from 2024-01-01 (open) and an AM
/// tariff 20.00.
pub fn saad_json(siret: &str) -> Value {
    json!({
        "siret": siret, "name": format!("SAAD {siret}"), "iban": IBAN, "bic": "AGRIFRPP",
        "declarative": false,
        "aid_types": [
            {"aid_type": "APA", "status": "habilite",
             "tariffs": [{"valid_from": "2024-01-01", "valid_to": null, "hourly_rate": "24.00"}]},
            {"aid_type": "AM", "status": "autorise",
             "tariffs": [{"valid_from": "2024-01-01", "valid_to": null, "hourly_rate": "20.00"}]}
        ]
    })
}

/// Registers a SAAD, asserting 201.
pub async fn register_saad(app: &TestApp, siret: &str) {
    let response = app
        .post_json("/saads", &app.financer, &saad_json(siret))
        .await;
    json_of(response, StatusCode::CREATED).await;
}

#[tokio::test]
async fn a_saad_is_created_with_201_then_updated_with_200_on_sqlite_and_postgres() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = spawn_app_on(backend, "2024-02-01T08:00:00+01:00").await else {
            continue;
        };
        let mut saad = saad_json(SAAD_A);
        saad["iban"] = json!("FR76 3000 6000 0112 3456 7890 189");
        let response = app.post_json("/saads", &app.financer, &saad).await;
        let body = json_of(response, StatusCode::CREATED).await;
        assert_eq!(body["siret"], SAAD_A, "{backend:?}");
        assert_eq!(body["iban"], IBAN, "stored in electronic form");
        let apa = body["aid_types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["aid_type"] == "APA")
            .unwrap();
        assert_eq!(apa["tariffs"][0]["hourly_rate"], "24.00");
        saad["name"] = json!("Renamed");
        let response = app.post_json("/saads", &app.financer, &saad).await;
        let body = json_of(response, StatusCode::OK).await;
        assert_eq!(body["name"], "Renamed");
        let audit = app
            .store
            .audit_since(crate::helpers::parse_time("2000-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert!(audit.iter().any(|a| a.action == "POST /api/v1/saads"
            && a.outcome == "stored"
            && a.target.as_deref() == Some(SAAD_A)));
    }
}

#[tokio::test]
async fn f_route_saads_answers_403_to_a_saad_token_and_audits_it() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let token = app.saad_token(SAAD_A).await;
    let response = app.post_json("/saads", &token, &saad_json(SAAD_A)).await;
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;
    assert!(app.store.get_saad(SAAD_A).await.unwrap().is_none());
    let audit = app
        .store
        .audit_since(crate::helpers::parse_time("2000-01-01T00:00:00Z"))
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, "refused:403");
    assert_eq!(audit[0].saad_siret.as_deref(), Some(SAAD_A));
}

#[tokio::test]
async fn a_bad_iban_or_bic_is_422_naming_the_field() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    for (field, value) in [("iban", "FR7630006000011234567890188"), ("bic", "AGRIFR")] {
        let mut saad = saad_json(SAAD_A);
        saad[field] = json!(value);
        let response = app.post_json("/saads", &app.financer, &saad).await;
        let error = error_of(
            response,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
        )
        .await;
        assert_eq!(error["details"]["field"], field);
    }
    assert!(app.store.get_saad(SAAD_A).await.unwrap().is_none());
}

#[tokio::test]
async fn r8_overlapping_tariffs_of_one_aid_type_are_422() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let mut saad = saad_json(SAAD_A);
    saad["aid_types"][0]["tariffs"] = json!([
        {"valid_from": "2024-01-01", "valid_to": "2024-06-30", "hourly_rate": "24.00"},
        {"valid_from": "2024-06-30", "valid_to": null, "hourly_rate": "25.00"}
    ]);
    let response = app.post_json("/saads", &app.financer, &saad).await;
    let error = error_of(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["field"], "aid_types[0].tariffs[1]");
}

#[tokio::test]
async fn malformed_or_unknown_field_json_is_400_with_line_and_column() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let response = app
        .client
        .post(app.url("/saads"))
        .bearer_auth(&app.financer)
        .header("content-type", "application/json")
        .body("{\n  \"siret\": \"00000000000018\",\n  \"name\": }")
        .send()
        .await
        .unwrap();
    let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(error["details"]["line"], 3);
    assert!(error["details"]["column"].as_u64().unwrap() > 0);
    let mut saad = saad_json(SAAD_A);
    saad["colour"] = json!("blue");
    let response = app.post_json("/saads", &app.financer, &saad).await;
    error_of(response, StatusCode::BAD_REQUEST, "invalid_json").await;
}

#[tokio::test]
async fn saads_refuses_another_content_type_with_415() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let response = app
        .client
        .post(app.url("/saads"))
        .bearer_auth(&app.financer)
        .header("content-type", "text/plain")
        .body(saad_json(SAAD_A).to_string())
        .send()
        .await
        .unwrap();
    error_of(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}
