//! A final invoice and an issued batch cannot be changed by any route
//! (rules.md R9: "a validated invoice is final and immutable", "a batch is
//! immutable once issued").

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::close::{SAAD_A, accept, close};
use crate::helpers::{TestApp, error_of, json_of, spawn_app};
use crate::invoices::{closed_january, validate};

async fn snapshot(app: &TestApp, path: &str) -> Value {
    json_of(app.get(path, &app.financer).await, StatusCode::OK).await
}

async fn send(app: &TestApp, method: Method, path: &str, token: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn r9_a_final_invoice_and_an_issued_batch_cannot_be_changed_by_any_route() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let id = closed_january(&app).await;
    let saad = app.saad_token(SAAD_A).await;
    // The SAAD's own invoice, kept to re-send once the invoice is final.
    let xml = app
        .get(&format!("/invoices/{id}.xml"), &saad)
        .await
        .text()
        .await
        .unwrap();
    json_of(validate(&app, &id, &saad).await, StatusCode::OK).await;
    json_of(validate(&app, &id, &app.financer).await, StatusCode::OK).await;
    let invoice_path = format!("/invoices/{id}");
    let final_invoice = snapshot(&app, &invoice_path).await;
    assert_eq!(final_invoice["status"], "final");

    // Every mutating route on a final invoice.
    for token in [&saad, &app.financer] {
        error_of(
            validate(&app, &id, token).await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
    }
    error_of(
        app.post_xml("/invoices", &saad, xml.replace("299.43", "999.00"))
            .await,
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
        let response = send(&app, method.clone(), &invoice_path, &app.financer).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {invoice_path}"
        );
    }
    // Late data for January and closing it again change nothing in it.
    accept(
        &app.store,
        SAAD_A,
        "T-LATE",
        100,
        &[("J-9", "P-17", "B-1", "2024-01-30T09:00:00Z", 60)],
    )
    .await;
    close(&app, "2024-01", StatusCode::OK).await;
    assert_eq!(snapshot(&app, &invoice_path).await, final_invoice);

    // Issue the batch, then try every mutating route on it.
    let batch = json_of(
        app.client
            .post(app.url("/batches"))
            .bearer_auth(&app.financer)
            .send()
            .await
            .unwrap(),
        StatusCode::CREATED,
    )
    .await;
    let batch_path = format!("/batches/{}", batch["id"].as_str().unwrap());
    let issued = snapshot(&app, &batch_path).await;
    let paid_invoice = snapshot(&app, &invoice_path).await;
    assert_eq!(paid_invoice["status"], "paid");
    // Nothing more to pay: a second batch is refused and the first is untouched.
    error_of(
        app.client
            .post(app.url("/batches"))
            .bearer_auth(&app.financer)
            .send()
            .await
            .unwrap(),
        StatusCode::CONFLICT,
        "conflict",
    )
    .await;
    for method in [Method::PUT, Method::PATCH, Method::DELETE, Method::POST] {
        let response = send(&app, method.clone(), &batch_path, &app.financer).await;
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {batch_path}"
        );
    }
    for token in [&saad, &app.financer] {
        error_of(
            validate(&app, &id, token).await,
            StatusCode::CONFLICT,
            "conflict",
        )
        .await;
    }
    close(&app, "2024-01", StatusCode::OK).await;
    assert_eq!(snapshot(&app, &batch_path).await, issued);
    assert_eq!(snapshot(&app, &invoice_path).await, paid_invoice);
    // The schema refuses it too (the last line of defence).
    let (record, _) = app.store.get_invoice(&id, None).await.unwrap().unwrap();
    let january = record.month;
    assert!(
        app.store
            .close_month_with_invoices(
                january,
                record.created_at,
                "close-2024-01",
                &[(record.clone(), vec![])]
            )
            .await
            .is_ok_and(|stored| !stored),
        "a closed month is never stored twice"
    );
}
