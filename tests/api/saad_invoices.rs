//! A SAAD posts its own ESPPADOM INVOICE (api.md `POST /api/v1/invoices`;
//! rules.md R9): matched line by line on the amount due against the
//! pro-forma; a line asking more is cut back (`INVOICE_MISMATCH`, listed in
//! the rejection notice), a line asking less is paid as asked.

use reqwest::StatusCode;

use crate::close::{SAAD_A, SAAD_B, add_saad};
use crate::helpers::{TestApp, error_of, json_of, spawn_app};
use crate::invoices::closed_january;

/// The gateway's own INVOICE of `id` (as the SAAD would download it), with
/// every amount `299.43` replaced by `asked`: the SAAD's invoice.
async fn saad_invoice_asking(app: &TestApp, id: &str, token: &str, asked: &str) -> String {
    let response = app.get(&format!("/invoices/{id}.xml"), token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let xml = response.text().await.unwrap();
    assert!(xml.contains("299.43"), "{xml}");
    xml.replace("299.43", asked)
}

async fn post_invoice(app: &TestApp, token: &str, xml: String) -> reqwest::Response {
    app.post_xml("/invoices", token, xml).await
}

#[tokio::test]
async fn r9_a_saad_invoice_line_asking_more_is_cut_back_with_invoice_mismatch() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let id = closed_january(&app).await;
    let saad = app.saad_token(SAAD_A).await;
    let xml = saad_invoice_asking(&app, &id, &saad, "310.00").await;

    let body = json_of(post_invoice(&app, &saad, xml.clone()).await, StatusCode::OK).await;
    assert_eq!(body["invoice_id"], id.as_str());
    let lines = body["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 1, "{body}");
    assert_eq!(lines[0]["plan_ref"], "P-17");
    assert_eq!(lines[0]["asked"], "310.00");
    assert_eq!(lines[0]["computed"], "299.43");
    assert_eq!(lines[0]["paid"], "299.43");
    assert_eq!(lines[0]["code"], "INVOICE_MISMATCH");

    // The invoice is now validated by the SAAD, with the computed amount.
    let invoice = json_of(
        app.get(&format!("/invoices/{id}"), &saad).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(invoice["status"], "saad_validated");
    assert_eq!(invoice["amount_due"], "299.43");

    // The rejection notice lists the 10.57 € cut (310.00 − 299.43).
    let notice = json_of(
        app.get("/rejections?month=2024-01", &saad).await,
        StatusCode::OK,
    )
    .await;
    let mismatch: Vec<_> = notice["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["code"] == "INVOICE_MISMATCH")
        .collect();
    assert_eq!(mismatch.len(), 1, "{notice}");
    assert_eq!(mismatch[0]["plan_ref"], "P-17");
    assert_eq!(mismatch[0]["amount"], "10.57");
    assert!(!mismatch[0]["message"].as_str().unwrap().is_empty());
    assert!(!mismatch[0]["remedy"].as_str().unwrap().is_empty());

    // Sending it again: the invoice is no longer a pro-forma (409).
    error_of(
        post_invoice(&app, &saad, xml).await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn r9_a_saad_invoice_line_asking_less_is_paid_as_asked() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let id = closed_january(&app).await;
    let saad = app.saad_token(SAAD_A).await;
    let xml = saad_invoice_asking(&app, &id, &saad, "250.00").await;
    let body = json_of(post_invoice(&app, &saad, xml).await, StatusCode::OK).await;
    assert_eq!(body["lines"][0]["asked"], "250.00");
    assert_eq!(body["lines"][0]["computed"], "299.43");
    assert_eq!(body["lines"][0]["paid"], "250.00");
    assert_eq!(body["lines"][0]["code"], "INVOICE_BELOW_COMPUTED");
    let invoice = json_of(
        app.get(&format!("/invoices/{id}"), &saad).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(invoice["amount_due"], "250.00");
    assert_eq!(invoice["lines"][0]["amount_due"], "250.00");
    // The financer's validation makes it final at what is paid.
    let body = json_of(
        crate::invoices::validate(&app, &id, &app.financer).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["status"], "final");
    assert_eq!(body["amount_due"], "250.00");
}

#[tokio::test]
async fn r9_a_saad_invoice_equal_to_the_computation_is_paid_with_no_code() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let id = closed_january(&app).await;
    let saad = app.saad_token(SAAD_A).await;
    let xml = saad_invoice_asking(&app, &id, &saad, "299.43").await;
    let body = json_of(post_invoice(&app, &saad, xml).await, StatusCode::OK).await;
    assert_eq!(body["lines"][0]["paid"], "299.43");
    assert!(body["lines"][0]["code"].is_null(), "{body}");
}

#[tokio::test]
async fn r9_the_saad_invoice_route_refuses_what_it_cannot_match() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let id = closed_january(&app).await;
    let saad = app.saad_token(SAAD_A).await;
    let xml = saad_invoice_asking(&app, &id, &saad, "310.00").await;

    // S route: a financer token gets 403.
    error_of(
        post_invoice(&app, &app.financer, xml.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    // Another SAAD posting SAAD A's invoice: 422 (another SAAD's SIRET).
    add_saad(&app.store, SAAD_B).await;
    let other = app.saad_token(SAAD_B).await;
    error_of(
        post_invoice(&app, &other, xml.clone()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    // Not XML: 415.
    let response = app
        .client
        .post(app.url("/invoices"))
        .bearer_auth(&saad)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    error_of(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    // Malformed XML: 400 with its location.
    let error = error_of(
        post_invoice(&app, &saad, "<CrossIndustryInvoice><oops".to_owned()).await,
        StatusCode::BAD_REQUEST,
        "invalid_xml",
    )
    .await;
    assert!(error["details"]["line"].is_number(), "{error}");
    // A month with no invoice of the gateway (February is not closed): 404.
    let february = xml
        .replace("202401", "202402")
        .replace("2024-01", "2024-02");
    error_of(
        post_invoice(&app, &saad, february).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // Nothing of the refused requests was stored: still a pro-forma.
    let invoice = json_of(
        app.get(&format!("/invoices/{id}"), &saad).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(invoice["status"], "proforma");
}
