//! Month close (rules.md R7, R9; api.md `POST /api/v1/months/{m}/close`).
//! Data are set up with the store API (the delivery and plan routes are
//! built elsewhere); the close and invoices are driven over HTTPS.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use saad_gateway::domain::ingest::{AcceptedIntervention, IngestResult};
use saad_gateway::domain::model::{
    Address, Counted, InterventionSubmission, LineOutcome, LineStatus, PlanVersion, Saad,
    SaadAidType, Tariff,
};
use saad_gateway::domain::time::Period;
use saad_gateway::domain::types::{AidType, SaadStatus, Siret};
use saad_gateway::storage::{CommitOutcome, Store};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, error_of, json_of, parse_time, spawn_app, spawn_app_on};

pub const SAAD_A: &str = "73282932000074";
pub const SAAD_B: &str = "00000000000018";

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("date")
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

/// A habilité APA SAAD at 24.50 €/h from 1 January 2024.
pub async fn add_saad(store: &Store, siret: &str) {
    let saad = Saad {
        siret: Siret::parse(siret).expect("siret"),
        name: format!("SAAD {siret}"),
        iban: "FR7630006000011234567890189".to_owned(),
        bic: "AGRIFRPP".to_owned(),
        declarative: false,
        finess: None,
        legal_category: None,
        account_holder: None,
        address: Some(Address {
            line1: "1 rue de la Paix".to_owned(),
            postcode: "71000".to_owned(),
            city: "Mâcon".to_owned(),
            country: "FR".to_owned(),
        }),
        aid_types: vec![SaadAidType {
            aid_type: AidType::Apa,
            status: SaadStatus::Habilite,
            tariffs: vec![Tariff {
                valid_from: day("2024-01-01"),
                valid_to: None,
                hourly_rate: dec("24.50"),
            }],
        }],
    };
    store
        .upsert_saad(&saad, parse_time("2024-01-01T00:00:00Z"))
        .await
        .expect("saad");
}

/// An APA plan of 1800 minutes a month at 24.50 €/h, participation 0.15713
/// (financer's share 0.84287), from `valid_from` to 31 December 2024.
pub async fn add_plan(store: &Store, plan_ref: &str, beneficiary: &str, siret: &str, from: &str) {
    let plan = PlanVersion {
        plan_ref: plan_ref.to_owned(),
        version: 1,
        beneficiary_id: beneficiary.to_owned(),
        saad_siret: Siret::parse(siret).expect("siret"),
        aid_type: AidType::Apa,
        gir: Some(2),
        household: None,
        valid_from: day(from),
        valid_to: day("2024-12-31"),
        monthly_minutes: 1800,
        hourly_rate: dec("24.50"),
        participation_rate: Some(dec("0.15713")),
        coverage_rate: None,
        monthly_amount: dec("735.00"),
        respite_exemption: false,
        household_ref: None,
    };
    store
        .insert_plan_version(&plan, parse_time("2024-01-01T00:00:00Z"))
        .await
        .expect("plan");
}

/// One accepted intervention: (line id, plan, beneficiary, start, minutes).
pub type Line<'a> = (&'a str, &'a str, &'a str, &'a str, i64);

/// Stores accepted interventions as one judged delivery (the checks are not
/// what these tests are about).
pub async fn accept(store: &Store, siret: &str, tid: &str, sequence: i64, lines: &[Line<'_>]) {
    let now: DateTime<Utc> = parse_time("2024-02-03T12:00:00Z");
    let mut submissions = Vec::new();
    let mut result = IngestResult::default();
    for (i, (line_id, plan_ref, beneficiary, start, minutes)) in lines.iter().enumerate() {
        let start = parse_time(start);
        let period = Period {
            start,
            end: start + Duration::minutes(*minutes),
        };
        submissions.push(InterventionSubmission {
            line_id: (*line_id).to_owned(),
            plan_ref: Some((*plan_ref).to_owned()),
            beneficiary_id: (*beneficiary).to_owned(),
            aid_type: Some("APA".to_owned()),
            ..InterventionSubmission::default()
        });
        result.outcomes.push(LineOutcome {
            line_id: (*line_id).to_owned(),
            status: LineStatus::Accepted,
            reasons: vec![],
            warnings: vec![],
            counted: Some(Counted {
                period,
                corrected: false,
                declarative: false,
                reason: None,
            }),
            counted_minutes: *minutes,
            rounded_minutes: *minutes,
            plan_ref: Some((*plan_ref).to_owned()),
            beneficiary_id: Some((*beneficiary).to_owned()),
            raw_received_at: Some(now),
            sequence: Some(sequence + i64::try_from(i).expect("index")),
            fingerprint: Some(format!("fp-{tid}-{line_id}")),
        });
        result.accepted.push(AcceptedIntervention {
            saad_siret: siret.to_owned(),
            line_id: (*line_id).to_owned(),
            beneficiary_id: (*beneficiary).to_owned(),
            worker_id: None,
            period,
            shared_time: false,
            plan_ref: (*plan_ref).to_owned(),
            sequence: sequence + i64::try_from(i).expect("index"),
            rounded_minutes: *minutes,
            corrected: false,
        });
        result
            .fingerprints
            .push(((*line_id).to_owned(), format!("fp-{tid}-{line_id}")));
    }
    let outcome = store
        .ingest(
            siret,
            tid,
            &format!("hash-{tid}"),
            &submissions,
            now,
            |_| (result, format!(r#"{{"transmission_id":"{tid}"}}"#)),
        )
        .await
        .expect("ingest");
    assert_eq!(outcome, CommitOutcome::Stored);
}

/// `POST /months/{m}/close` as the financer, asserting the status.
pub async fn close(app: &TestApp, month: &str, status: StatusCode) -> Value {
    let response = app
        .client
        .post(app.url(&format!("/months/{month}/close")))
        .bearer_auth(&app.financer)
        .send()
        .await
        .expect("POST close");
    json_of(response, status).await
}

/// January 2024 for SAAD A: plan P-17 starts on the 17th (prorata).
pub async fn january_with_prorata(app: &TestApp) {
    add_saad(&app.store, SAAD_A).await;
    add_plan(&app.store, "P-17", "B-1", SAAD_A, "2024-01-17").await;
    accept(
        &app.store,
        SAAD_A,
        "T-JAN",
        1,
        &[
            ("J-1", "P-17", "B-1", "2024-01-18T09:00:00Z", 120),
            ("J-2", "P-17", "B-1", "2024-01-20T09:00:00Z", 120),
            ("J-3", "P-17", "B-1", "2024-01-22T09:00:00Z", 120),
            ("J-4", "P-17", "B-1", "2024-01-25T07:00:00Z", 600),
        ],
    )
    .await;
}

#[tokio::test]
async fn r9_close_is_refused_before_the_month_is_over_by_the_gateway_clock() {
    // 31 January 23:30 in Paris is still January (22:30 UTC).
    let app = spawn_app("2024-01-31T23:30:00+01:00").await;
    january_with_prorata(&app).await;
    let response = app
        .client
        .post(app.url("/months/2024-01/close"))
        .bearer_auth(&app.financer)
        .send()
        .await
        .unwrap();
    error_of(response, StatusCode::CONFLICT, "conflict").await;
    // A SAAD may not close (F).
    let saad = app.saad_token(SAAD_A).await;
    let response = app
        .client
        .post(app.url("/months/2024-01/close"))
        .bearer_auth(&saad)
        .send()
        .await
        .unwrap();
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;
    // Midnight in Paris: the month is over.
    app.set_now("2024-02-01T00:00:00+01:00");
    let body = close(&app, "2024-01", StatusCode::OK).await;
    assert_eq!(body["month"], "2024-01");
}

#[tokio::test]
async fn r7_r9_january_close_with_a_plan_starting_on_the_17th_gives_the_prorated_proforma() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    january_with_prorata(&app).await;
    let body = close(&app, "2024-01", StatusCode::OK).await;
    let invoices = body["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1, "{body}");
    let invoice = &invoices[0];
    // allotted = floor(1800 × 15 days (17..31) / 31) = floor(870.97) = 870.
    // Interventions in start order: 120, 120, 120 (360), then 600 crosses:
    // 510 billed, 90 rejected (OVERRUN). Billed 870, rejected 90.
    // valued = 870 / 60 × 24.50 = 14.5 h × 24.50 = 355.25
    // due    = 355.25 × (1 − 0.15713) = 355.25 × 0.84287 = 299.4295675 → 299.43
    // participation = 355.25 − 299.43 = 55.82
    assert_eq!(invoice["kind"], "proforma");
    assert_eq!(invoice["status"], "proforma");
    assert_eq!(invoice["saad_siret"], SAAD_A);
    assert_eq!(invoice["aid_type"], "APA");
    assert_eq!(invoice["line_count"], 1);
    assert_eq!(invoice["billed_minutes"], 870);
    assert_eq!(invoice["rejected_minutes"], 90);
    assert_eq!(invoice["valued_amount"], "355.25");
    assert_eq!(invoice["participation_amount"], "55.82");
    assert_eq!(invoice["amount_due"], "299.43");

    let id = invoice["id"].as_str().unwrap();
    let full = json_of(
        app.get(&format!("/invoices/{id}"), &app.financer).await,
        StatusCode::OK,
    )
    .await;
    let line = &full["lines"][0];
    assert_eq!(line["plan_ref"], "P-17");
    assert_eq!(line["beneficiary_id"], "B-1");
    assert_eq!(line["billed_minutes"], 870);
    assert_eq!(line["rejected_minutes"], 90);
    assert_eq!(line["hourly_rate"], "24.50");
    assert_eq!(line["valued_amount"], "355.25");
    assert_eq!(line["participation_amount"], "55.82");
    assert_eq!(line["amount_due"], "299.43");
    // Traceability: the four intervention versions, 870 billed, 90 rejected.
    let (_, lines) = app.store.get_invoice(id, None).await.unwrap().unwrap();
    let traced = &lines[0].interventions;
    assert_eq!(traced.len(), 4);
    assert_eq!(traced.iter().map(|t| t.billed_minutes).sum::<i64>(), 870);
    assert_eq!(traced.iter().map(|t| t.rejected_minutes).sum::<i64>(), 90);
}

#[tokio::test]
async fn r9_closing_twice_returns_the_same_invoices() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    january_with_prorata(&app).await;
    let first = close(&app, "2024-01", StatusCode::OK).await;
    app.set_now("2024-02-05T08:00:00+01:00");
    let second = close(&app, "2024-01", StatusCode::OK).await;
    assert_eq!(first, second);
    let listed = json_of(
        app.get("/invoices?month=2024-01", &app.financer).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["invoices"], first["invoices"]);
}

#[tokio::test]
async fn r9_an_earlier_month_with_data_still_open_blocks_the_close() {
    let app = spawn_app("2024-03-01T08:00:00+01:00").await;
    january_with_prorata(&app).await;
    let body = close(&app, "2024-02", StatusCode::CONFLICT).await;
    assert_eq!(body["error"]["code"], "conflict");
    close(&app, "2024-01", StatusCode::OK).await;
    // February has no data at all: it closes with no invoice.
    let body = close(&app, "2024-02", StatusCode::OK).await;
    assert_eq!(body["invoices"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn r9_a_late_correction_of_closed_january_gives_a_regularisation_at_february_close() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    add_saad(&app.store, SAAD_A).await;
    add_plan(&app.store, "P-1", "B-1", SAAD_A, "2024-01-01").await;
    accept(
        &app.store,
        SAAD_A,
        "T-1",
        1,
        &[
            ("L-1", "P-1", "B-1", "2024-01-10T09:00:00Z", 120),
            ("L-2", "P-1", "B-1", "2024-01-12T09:00:00Z", 120),
        ],
    )
    .await;
    // January pro-forma: 240 min = 4 h × 24.50 = 98.00;
    // due 98.00 × 0.84287 = 82.60126 → 82.60; participation 15.40.
    let january = close(&app, "2024-01", StatusCode::OK).await;
    assert_eq!(january["invoices"][0]["amount_due"], "82.60");
    assert_eq!(january["invoices"][0]["participation_amount"], "15.40");

    // Late data for January accepted in February, and February's own work.
    accept(
        &app.store,
        SAAD_A,
        "T-2",
        3,
        &[
            ("L-3", "P-1", "B-1", "2024-01-30T09:00:00Z", 90),
            ("L-4", "P-1", "B-1", "2024-02-05T09:00:00Z", 60),
        ],
    )
    .await;
    app.set_now("2024-03-01T08:00:00+01:00");
    let february = close(&app, "2024-02", StatusCode::OK).await;
    let invoices = february["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 2, "{february}");
    // February pro-forma: 60 min = 24.50; due 24.50 × 0.84287 = 20.650315 → 20.65;
    // participation 3.85.
    let proforma = &invoices[0];
    assert_eq!(proforma["month"], "2024-02");
    assert_eq!(proforma["kind"], "proforma");
    assert_eq!(proforma["billed_minutes"], 60);
    assert_eq!(proforma["valued_amount"], "24.50");
    assert_eq!(proforma["amount_due"], "20.65");
    assert_eq!(proforma["participation_amount"], "3.85");
    // January recomputed: 330 min = 5.5 h × 24.50 = 134.75;
    // due 134.75 × 0.84287 = 113.5767325 → 113.58; participation 21.17.
    // Regularisation = recomputed − invoiced:
    //   minutes 330 − 240 = 90; valued 134.75 − 98.00 = 36.75;
    //   due 113.58 − 82.60 = 30.98; participation 21.17 − 15.40 = 5.77.
    let regularisation = &invoices[1];
    assert_eq!(regularisation["month"], "2024-01");
    assert_eq!(regularisation["kind"], "regularisation");
    assert_eq!(regularisation["billed_minutes"], 90);
    assert_eq!(regularisation["valued_amount"], "36.75");
    assert_eq!(regularisation["amount_due"], "30.98");
    assert_eq!(regularisation["participation_amount"], "5.77");

    // Closing February again returns the same two invoices.
    let again = close(&app, "2024-02", StatusCode::OK).await;
    assert_eq!(again, february);
}

/// R7 carry-over stored with the invoice lines on `backend`: P-1 (1 800
/// minutes a month from 1 January) uses 600 in January, so 1 800 − 600 =
/// 1 200 unused minutes carry into February, where 60 are used.
async fn r7_carry_over_is_stored_with_the_lines(backend: Backend) {
    let Some(app) = spawn_app_on(backend, "2024-02-01T08:00:00+01:00").await else {
        return;
    };
    add_saad(&app.store, SAAD_A).await;
    add_plan(&app.store, "P-1", "B-1", SAAD_A, "2024-01-01").await;
    accept(
        &app.store,
        SAAD_A,
        "T-JAN",
        1,
        &[("J-1", "P-1", "B-1", "2024-01-10T09:00:00Z", 600)],
    )
    .await;
    close(&app, "2024-01", StatusCode::OK).await;
    accept(
        &app.store,
        SAAD_A,
        "T-FEB",
        2,
        &[("F-1", "P-1", "B-1", "2024-02-02T09:00:00Z", 60)],
    )
    .await;
    app.set_now("2024-03-01T08:00:00+01:00");
    let body = close(&app, "2024-02", StatusCode::OK).await;
    let invoices = body["invoices"].as_array().unwrap();
    assert_eq!(invoices.len(), 1, "February's pro-forma only: {body}");
    let r7 = |month: &str| {
        let month = month.parse().unwrap();
        let store = app.store.clone();
        async move {
            let listed = store.list_invoices(month, Some(SAAD_A)).await.unwrap();
            assert_eq!(listed.len(), 1, "one invoice for {month}");
            let (_, lines) = store
                .get_invoice(&listed[0].id, None)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(lines.len(), 1);
            (
                lines[0].billed_minutes,
                lines[0].allotted_minutes,
                lines[0].carried_in_minutes,
            )
        }
    };
    // January: nothing carried in (reset on 1 January), 600 billed.
    assert_eq!(r7("2024-01").await, (600, Some(1800), Some(0)));
    // February: 1 800 − 600 = 1 200 carried in from January.
    assert_eq!(r7("2024-02").await, (60, Some(1800), Some(1200)));
}

#[tokio::test]
async fn r7_carry_over_from_january_is_stored_with_februarys_line_on_sqlite() {
    r7_carry_over_is_stored_with_the_lines(Backend::Sqlite).await;
}

#[tokio::test]
async fn r7_carry_over_from_january_is_stored_with_februarys_line_on_postgres() {
    r7_carry_over_is_stored_with_the_lines(Backend::Postgres).await;
}
