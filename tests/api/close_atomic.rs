//! The close is atomic and idempotent under concurrency (rules.md R9;
//! api.md "closing twice returns the same invoices"), and validation is a
//! compare-and-set: on SQLite and on PostgreSQL, including two gateway
//! processes (two connection pools) on one PostgreSQL database.

use std::sync::Arc;

use reqwest::StatusCode;
use saad_gateway::charter;
use saad_gateway::domain::types::YearMonth;
use saad_gateway::service::close::close_month;
use saad_gateway::storage::{
    BilledIntervention, InvoiceKind, InvoiceLineRecord, InvoiceRecord, InvoiceStatus, MonthStatus,
    Store, StoreConfig,
};
use serde_json::Value;

use crate::close::{SAAD_A, close, january_with_prorata};
use crate::helpers::{Backend, TestApp, json_of, parse_time, spawn_app_on};
use crate::invoices::validate;

async fn app_on(backend: Backend) -> Option<TestApp> {
    spawn_app_on(backend, "2024-02-01T08:00:00+01:00").await
}

async fn stored_invoice_count(store: &Store) -> usize {
    let january: YearMonth = "2024-01".parse().unwrap();
    store.list_invoices(january, None).await.unwrap().len()
}

async fn two_concurrent_closes_store_one_set_of_invoices(backend: Backend) {
    let Some(app) = app_on(backend).await else {
        return;
    };
    january_with_prorata(&app).await;
    let (a, b) = tokio::join!(close(&app, "2024-01", StatusCode::OK), async {
        close(&app, "2024-01", StatusCode::OK).await
    });
    assert_eq!(a, b, "both closes answer the same invoices");
    assert_eq!(a["invoices"].as_array().unwrap().len(), 1, "{a}");
    assert_eq!(a["invoices"][0]["amount_due"], "299.43");
    assert_eq!(stored_invoice_count(&app.store).await, 1);
    // Exactly one line and four traceability rows were stored.
    let id = a["invoices"][0]["id"].as_str().unwrap();
    let (_, lines) = app.store.get_invoice(id, None).await.unwrap().unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].interventions.len(), 4);
}

#[tokio::test]
async fn r9_two_concurrent_closes_store_one_set_of_invoices_on_sqlite() {
    two_concurrent_closes_store_one_set_of_invoices(Backend::Sqlite).await;
}

#[tokio::test]
async fn r9_two_concurrent_closes_store_one_set_of_invoices_on_postgres() {
    two_concurrent_closes_store_one_set_of_invoices(Backend::Postgres).await;
}

/// A second store on the same PostgreSQL database: another gateway process.
async fn second_process(store: &Store) -> Store {
    let Store::Postgres(pg) = store else {
        panic!("PostgreSQL store expected");
    };
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pg.pool())
        .await
        .unwrap();
    let server = std::env::var("SAADGW_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    Store::connect(&StoreConfig::new(format!("{server}/{name}")))
        .await
        .unwrap()
}

#[tokio::test]
async fn r9_two_gateway_processes_closing_one_month_on_postgres_store_one_set_of_invoices() {
    let Some(app) = app_on(Backend::Postgres).await else {
        return;
    };
    january_with_prorata(&app).await;
    let other = second_process(&app.store).await;
    let params = Arc::new(charter::load_dir(&charter::default_dir()).unwrap());
    let january: YearMonth = "2024-01".parse().unwrap();
    let now = parse_time("2024-02-01T08:00:00+01:00");
    // Four closes at once, two per process.
    let (a, b, c, d) = tokio::join!(
        close_month(&app.store, &params, january, now),
        close_month(&other, &params, january, now),
        close_month(&app.store, &params, january, now),
        close_month(&other, &params, january, now),
    );
    let (a, b, c, d) = (a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap());
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);
    assert_eq!(a.invoices.len(), 1);
    assert_eq!(stored_invoice_count(&app.store).await, 1);
    assert_eq!(stored_invoice_count(&other).await, 1);
    other.close().await;
}

/// An invoice with two lines numbered 1: the primary key of `invoice_lines`
/// refuses it half-way through the close, after the invoice headers (and
/// the month's claim) were written.
fn broken_close() -> Vec<(InvoiceRecord, Vec<InvoiceLineRecord>)> {
    let now = parse_time("2024-02-01T08:00:00+01:00");
    let good = InvoiceRecord {
        id: "F202401P-GOOD".to_owned(),
        saad_siret: SAAD_A.to_owned(),
        aid_type: saad_gateway::domain::types::AidType::Apa,
        month: "2024-01".parse().unwrap(),
        kind: InvoiceKind::Proforma,
        status: InvoiceStatus::Proforma,
        line_count: 0,
        billed_minutes: 0,
        rejected_minutes: 0,
        valued_amount: "0".parse().unwrap(),
        participation_amount: "0".parse().unwrap(),
        amount_due: "0".parse().unwrap(),
        created_at: now,
        close_run_id: "close-2024-01".to_owned(),
        batch_id: None,
    };
    let bad = InvoiceRecord {
        id: "F202401P-BAD".to_owned(),
        line_count: 2,
        ..good.clone()
    };
    let line = InvoiceLineRecord {
        line_no: 1,
        plan_ref: "P-X".to_owned(),
        beneficiary_id: "B-X".to_owned(),
        billed_minutes: 60,
        rejected_minutes: 0,
        allotted_minutes: None,
        carried_in_minutes: None,
        hourly_rate: "24.50".parse().unwrap(),
        valued_amount: "24.50".parse().unwrap(),
        participation_amount: "0".parse().unwrap(),
        amount_due: "24.50".parse().unwrap(),
        interventions: vec![BilledIntervention {
            version_id: 1,
            billed_minutes: 60,
            rejected_minutes: 0,
        }],
    };
    let twin = InvoiceLineRecord {
        plan_ref: "P-Y".to_owned(),
        ..line.clone()
    };
    vec![(good, vec![]), (bad, vec![line, twin])]
}

async fn a_close_failing_half_way_leaves_the_month_open_and_no_invoice(backend: Backend) {
    let Some(app) = app_on(backend).await else {
        return;
    };
    january_with_prorata(&app).await;
    let january: YearMonth = "2024-01".parse().unwrap();
    let now = parse_time("2024-02-01T08:00:00+01:00");
    let result = app
        .store
        .close_month_with_invoices(january, now, "close-2024-01", &broken_close())
        .await;
    assert!(result.is_err(), "the primary key must refuse the close");
    assert_eq!(
        app.store.get_month(january).await.unwrap().status,
        MonthStatus::Open
    );
    assert_eq!(stored_invoice_count(&app.store).await, 0);
    // The real close then goes through as if nothing happened.
    let body = close(&app, "2024-01", StatusCode::OK).await;
    assert_eq!(body["invoices"].as_array().unwrap().len(), 1);
    assert_eq!(body["invoices"][0]["amount_due"], "299.43");
}

#[tokio::test]
async fn r9_a_close_failing_half_way_leaves_the_month_open_and_no_invoice_on_sqlite() {
    a_close_failing_half_way_leaves_the_month_open_and_no_invoice(Backend::Sqlite).await;
}

#[tokio::test]
async fn r9_a_close_failing_half_way_leaves_the_month_open_and_no_invoice_on_postgres() {
    a_close_failing_half_way_leaves_the_month_open_and_no_invoice(Backend::Postgres).await;
}

async fn two_concurrent_validations_only_one_succeeds(backend: Backend) {
    let Some(app) = app_on(backend).await else {
        return;
    };
    january_with_prorata(&app).await;
    let body = close(&app, "2024-01", StatusCode::OK).await;
    let id = body["invoices"][0]["id"].as_str().unwrap().to_owned();
    let saad = app.saad_token(SAAD_A).await;
    let (a, b) = tokio::join!(validate(&app, &id, &saad), validate(&app, &id, &saad));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let (a, b) = tokio::join!(
        validate(&app, &id, &app.financer),
        validate(&app, &id, &app.financer)
    );
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let invoice: Value = json_of(
        app.get(&format!("/invoices/{id}"), &app.financer).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(invoice["status"], "final");
}

#[tokio::test]
async fn r9_two_concurrent_validations_only_one_succeeds_on_sqlite() {
    two_concurrent_validations_only_one_succeeds(Backend::Sqlite).await;
}

#[tokio::test]
async fn r9_two_concurrent_validations_only_one_succeeds_on_postgres() {
    two_concurrent_validations_only_one_succeeds(Backend::Postgres).await;
}

#[tokio::test]
async fn r9_set_invoice_status_if_moves_only_from_the_expected_status() {
    let Some(app) = app_on(Backend::Sqlite).await else {
        return;
    };
    january_with_prorata(&app).await;
    let body = close(&app, "2024-01", StatusCode::OK).await;
    let id = body["invoices"][0]["id"].as_str().unwrap();
    let now = parse_time("2024-02-02T08:00:00+01:00");
    let store = &app.store;
    assert!(
        !store
            .set_invoice_status_if(id, InvoiceStatus::SaadValidated, InvoiceStatus::Final, now)
            .await
            .unwrap()
    );
    assert!(
        store
            .set_invoice_status_if(
                id,
                InvoiceStatus::Proforma,
                InvoiceStatus::SaadValidated,
                now
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_invoice_status_if(
                id,
                InvoiceStatus::Proforma,
                InvoiceStatus::SaadValidated,
                now
            )
            .await
            .unwrap()
    );
}
