//! What a month close does not pay, in the rejection notice (rules.md R7
//! `OVERRUN`, R8 `RATE_ABOVE_CEILING`, "Rejection notices"), on both
//! backends: stored with the close, read back by `GET /rejections`.

use reqwest::StatusCode;
use saad_gateway::domain::model::{Address, Saad, SaadAidType};
use saad_gateway::domain::types::{AidType, SaadStatus, Siret};
use serde_json::Value;

use crate::close::{accept, add_plan, close};
use crate::helpers::{Backend, TestApp, json_of, parse_time, spawn_app_on};

const SAAD_AUTORISE: &str = "41289657100012";

/// An `autorise` SAAD for APA: no tariff, paid at most the cap of R8.
async fn add_autorise_saad(app: &TestApp) {
    let saad = Saad {
        siret: Siret::parse(SAAD_AUTORISE).expect("siret"),
        name: "SAAD autorisé".to_owned(),
        iban: "FR7630006000011234567890189".to_owned(),
        bic: "AGRIFRPP".to_owned(),
        declarative: false,
        finess: None,
        legal_category: None,
        account_holder: None,
        address: Some(Address {
            line1: "2 rue du Port".to_owned(),
            postcode: "71100".to_owned(),
            city: "Chalon-sur-Saône".to_owned(),
            country: "FR".to_owned(),
        }),
        aid_types: vec![SaadAidType {
            aid_type: AidType::Apa,
            status: SaadStatus::Autorise,
            tariffs: vec![],
        }],
    };
    app.store
        .upsert_saad(&saad, parse_time("2024-01-01T00:00:00Z"))
        .await
        .expect("saad");
}

async fn rate_cut_and_overrun_are_in_the_notice(backend: Backend) {
    let Some(app) = spawn_app_on(backend, "2024-02-01T08:00:00+01:00").await else {
        return;
    };
    add_autorise_saad(&app).await;
    // Plan at 24.50 €/h, 1800 min a month from 1 January.
    add_plan(&app.store, "P-AUT", "B-AUT", SAAD_AUTORISE, "2024-01-01").await;
    // 1 800 + 120 minutes sent: the last visit crosses the allotment.
    let mut lines = Vec::new();
    let starts: Vec<String> = (0..16)
        .map(|d| format!("2024-01-{:02}T08:00:00+01:00", d + 2))
        .collect();
    let ids: Vec<String> = (0..16).map(|d| format!("L-{d:02}")).collect();
    for d in 0..16 {
        lines.push((ids[d].as_str(), "P-AUT", "B-AUT", starts[d].as_str(), 120));
    }
    accept(&app.store, SAAD_AUTORISE, "T-AUT-1", 1, &lines).await;
    close(&app, "2024-01", StatusCode::OK).await;

    let token = app.saad_token(SAAD_AUTORISE).await;
    let notice: Value = json_of(
        app.get("/rejections?month=2024-01", &token).await,
        StatusCode::OK,
    )
    .await;
    let of = |code: &str| -> Vec<Value> {
        notice["lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["code"] == code)
            .cloned()
            .collect()
    };
    // R7: 16 × 120 = 1 920 min sent, 1 800 available: the 16th visit
    // (17 January) is rejected for 120 min, valued at the rate used,
    // 23.50 €/h (below): 120 / 60 × 23.50 = 47.00.
    let overrun = of("OVERRUN");
    assert_eq!(overrun.len(), 1, "{notice}");
    assert_eq!(overrun[0]["line_id"], "L-15");
    assert_eq!(overrun[0]["day"], "2024-01-17");
    assert_eq!(overrun[0]["minutes"], 120);
    assert_eq!(overrun[0]["amount"], "47.00");
    // R8: an autorisé SAAD is paid min(plan rate 24.50, max(reference
    // ceiling, national floor 23.50 in 2024)) = 23.50 €/h; the cut is the
    // exact value at the plan's rate minus the value at the rate used:
    // 1 800 / 60 × (24.50 − 23.50) = 30 × 1.00 = 30.00, hours all paid.
    let cut = of("RATE_ABOVE_CEILING");
    assert_eq!(cut.len(), 1, "{notice}");
    assert_eq!(cut[0]["line_id"], Value::Null);
    assert_eq!(cut[0]["plan_ref"], "P-AUT");
    assert_eq!(cut[0]["minutes"], 0);
    assert_eq!(cut[0]["amount"], "30.00");
    assert!(!cut[0]["remedy"].as_str().unwrap_or_default().is_empty());
}

#[tokio::test]
async fn r7_r8_overrun_and_rate_cut_of_a_close_are_in_the_rejection_notice_on_sqlite() {
    rate_cut_and_overrun_are_in_the_notice(Backend::Sqlite).await;
}

#[tokio::test]
async fn r7_r8_overrun_and_rate_cut_of_a_close_are_in_the_rejection_notice_on_postgres() {
    rate_cut_and_overrun_are_in_the_notice(Backend::Postgres).await;
}
