//! Invoice validation workflow (rules.md R9; api.md `POST …/validate`,
//! F+S markings: another SAAD's invoice answers 404).

use reqwest::StatusCode;

use crate::close::{SAAD_A, SAAD_B, add_saad, close, january_with_prorata};
use crate::helpers::{TestApp, error_of, json_of, spawn_app};

pub async fn validate(app: &TestApp, id: &str, token: &str) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/invoices/{id}/validate")))
        .bearer_auth(token)
        .send()
        .await
        .expect("POST validate")
}

/// Closes January (the prorata case: amount due 299.43) and returns the invoice id.
pub async fn closed_january(app: &TestApp) -> String {
    january_with_prorata(app).await;
    let body = close(app, "2024-01", StatusCode::OK).await;
    body["invoices"][0]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn r9_validation_goes_proforma_then_saad_then_financer_and_final_is_immutable() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let id = closed_january(&app).await;
    let saad = app.saad_token(SAAD_A).await;
    add_saad(&app.store, SAAD_B).await;
    let other = app.saad_token(SAAD_B).await;

    // Another SAAD sees nothing of it: 404 on get, xml and validate; empty list.
    error_of(
        app.get(&format!("/invoices/{id}"), &other).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    error_of(
        app.get(&format!("/invoices/{id}.xml"), &other).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    error_of(
        validate(&app, &id, &other).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let listed = json_of(
        app.get("/invoices?month=2024-01", &other).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["invoices"].as_array().unwrap().len(), 0);
    let listed = json_of(
        app.get("/invoices?month=2024-01", &saad).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(listed["invoices"][0]["id"], id.as_str());

    // The financer before the SAAD: 409.
    error_of(
        validate(&app, &id, &app.financer).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // The SAAD validates; twice is 409.
    let body = json_of(validate(&app, &id, &saad).await, StatusCode::OK).await;
    assert_eq!(body["status"], "saad_validated");
    error_of(
        validate(&app, &id, &saad).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // The financer validates: final; then nothing changes it.
    let body = json_of(validate(&app, &id, &app.financer).await, StatusCode::OK).await;
    assert_eq!(body["status"], "final");
    assert_eq!(body["amount_due"], "299.43");
    error_of(
        validate(&app, &id, &app.financer).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    error_of(
        validate(&app, &id, &saad).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    // Closing again does not recompute it.
    let again = close(&app, "2024-01", StatusCode::OK).await;
    assert_eq!(again["invoices"][0]["status"], "final");
    assert_eq!(again["invoices"][0]["amount_due"], "299.43");

    // The SAAD downloads it as ESPPADOM INVOICE.
    let response = app.get(&format!("/invoices/{id}.xml"), &saad).await;
    assert_eq!(response.status(), StatusCode::OK);
    let xml = response.text().await.unwrap();
    assert!(xml.contains("CrossIndustryInvoice"), "{xml}");
    assert!(xml.contains("299.43"), "{xml}");
}
