//! A small two-SAAD world built through the real API: SAADs, plans, one
//! delivery each, events, overrun authorisations, January 2024 closed, SAAD
//! B's invoice validated and paid in a batch. Shared by the bad-input and
//! isolation tests.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of};

/// The SAAD of the sample DELIVERY (its `ShipFromCITradeParty/SIRET`).
pub const SAAD_A: &str = "00000000000018";
/// Another SAAD (valid Luhn).
pub const SAAD_B: &str = "73282932000074";
/// A SAAD that exists nowhere (valid Luhn).
pub const SAAD_UNKNOWN: &str = "00000000000026";
/// SAAD A's plan and beneficiary (those of the sample DELIVERY).
pub const PLAN_A: &str = "PA-APA-0001";
pub const BEN_A: &str = "BEN-99-000101";
/// SAAD B's plan and beneficiary.
pub const PLAN_B: &str = "PB-APA-0002";
pub const BEN_B: &str = "BEN-99-000202";
/// The sample DELIVERY (SAAD A, plan PA-APA-0001, 12 January 2024).
pub const SAMPLE: &str = include_str!("../fixtures/esppadom/delivery-apa-example.xml");
/// The sample's reception time.
pub const RECEIVED: &str = "2024-01-13T07:00:00+01:00";

/// A habilité APA SAAD at 24.00 €/h from 2024-01-01.
pub fn saad_json(siret: &str) -> Value {
    json!({
        "siret": siret, "name": format!("SAAD {siret}"),
        "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP",
        "declarative": false,
        "address": {"line1": "1 rue de la Paix", "postcode": "71000", "city": "Mâcon", "country": "FR"},
        "aid_types": [
            {"aid_type": "APA", "status": "habilite",
             "tariffs": [{"valid_from": "2024-01-01", "valid_to": null, "hourly_rate": "24.00"}]}
        ]
    })
}

/// An APA plan for 2024: 40 h a month at 24.00, participation 0.10.
pub fn plan_json(plan_ref: &str, siret: &str, beneficiary: &str) -> Value {
    json!({
        "plan_ref": plan_ref, "version": 1, "beneficiary_id": beneficiary,
        "saad_siret": siret, "aid_type": "APA", "gir": 2, "household": null,
        "valid_from": "2024-01-01", "valid_to": "2024-12-31", "monthly_minutes": 2400,
        "hourly_rate": "24.00", "participation_rate": "0.10", "coverage_rate": null,
        "monthly_amount": "960.00", "respite_exemption": false
    })
}

/// A JSON delivery line with raw stamps.
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

/// What the world holds, by owner.
pub struct World {
    pub token_a: String,
    pub token_b: String,
    /// SAAD B's invoice of January 2024 (final, paid).
    pub invoice_b: String,
    /// SAAD A's invoice of January 2024 (pro-forma).
    pub invoice_a: String,
    /// The payment batch paying SAAD B.
    pub batch: String,
}

/// SAADs and plans only (clock at the sample's reception time).
pub async fn saads_and_plans(app: &TestApp) -> (String, String) {
    for siret in [SAAD_A, SAAD_B] {
        let response = app
            .post_json("/saads", &app.financer, &saad_json(siret))
            .await;
        json_of(response, StatusCode::CREATED).await;
    }
    let plans =
        json!({"plans": [plan_json(PLAN_A, SAAD_A, BEN_A), plan_json(PLAN_B, SAAD_B, BEN_B)]});
    let body = json_of(
        app.post_json("/orders", &app.financer, &plans).await,
        StatusCode::OK,
    )
    .await;
    for outcome in body["plans"].as_array().expect("plans") {
        assert_eq!(outcome["status"], "accepted", "{body}");
    }
    (app.saad_token(SAAD_A).await, app.saad_token(SAAD_B).await)
}

/// The whole world: `app` must have been started at [`RECEIVED`].
pub async fn build(app: &TestApp) -> World {
    let (token_a, token_b) = saads_and_plans(app).await;
    let receipt = json_of(
        app.post_xml("/deliveries", &token_a, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(receipt["accepted"], 2, "{receipt}");
    let delivery_b = json!({"transmission_id": "T-B-1", "interventions": [
        json_line("B-1", PLAN_B, BEN_B, "2024-01-12T10:00:00+01:00", "2024-01-12T12:00:00+01:00")
    ]});
    let receipt = json_of(
        app.post_json("/deliveries", &token_b, &delivery_b).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(receipt["accepted"], 1, "{receipt}");
    for (token, beneficiary) in [(&token_a, BEN_A), (&token_b, BEN_B)] {
        let events = json!({"events": [{"beneficiary_id": beneficiary, "kind": "HOSPITALISATION",
                                        "start": "2024-01-20", "end": "2024-01-22", "note": null}]});
        json_of(
            app.post_json("/events", token, &events).await,
            StatusCode::OK,
        )
        .await;
    }
    for plan in [PLAN_A, PLAN_B] {
        let body = json!({"plan_ref": plan, "month": "2024-01", "minutes": 60});
        json_of(
            app.post_json("/overrun-authorisations", &app.financer, &body)
                .await,
            StatusCode::CREATED,
        )
        .await;
    }
    app.set_now("2024-02-05T10:00:00+01:00");
    let response = app
        .client
        .post(app.url("/months/2024-01/close"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .expect("close");
    let closed = json_of(response, StatusCode::OK).await;
    let invoice_of = |siret: &str| {
        closed["invoices"]
            .as_array()
            .expect("invoices")
            .iter()
            .find(|i| i["saad_siret"] == siret)
            .unwrap_or_else(|| panic!("no invoice for {siret}: {closed}"))["id"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let invoice_a = invoice_of(SAAD_A);
    let invoice_b = invoice_of(SAAD_B);
    for token in [&token_b, &app.financer] {
        let response = app
            .client
            .post(app.url(&format!("/invoices/{invoice_b}/validate")))
            .bearer_auth(token)
            .send()
            .await
            .expect("validate");
        json_of(response, StatusCode::OK).await;
    }
    let response = app
        .client
        .post(app.url("/batches"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .expect("batch");
    let batch = json_of(response, StatusCode::CREATED).await["id"]
        .as_str()
        .expect("batch id")
        .to_owned();
    World {
        token_a,
        token_b,
        invoice_b,
        invoice_a,
        batch,
    }
}
