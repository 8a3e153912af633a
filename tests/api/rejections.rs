//! `GET /api/v1/rejections`: the month's rejected lines with their code,
//! French message and remedy, as JSON and CSV; a SAAD sees only its own.

use reqwest::StatusCode;

use crate::deliveries::{OTHER_SAAD, RECEIVED, SAAD, SAMPLE, setup};
use crate::helpers::{TestApp, error_of, json_of, spawn_app};

/// Posts the sample after the 48-hour limit: its first line is rejected
/// (`LATE_TRANSMISSION`, 45 rounded minutes on 2024-01-12).
async fn late_sample(app: &TestApp) -> (String, String) {
    let tokens = setup(app).await;
    app.set_now("2024-01-15T10:00:00+01:00");
    json_of(
        app.post_xml("/deliveries", &tokens.0, SAMPLE).await,
        StatusCode::OK,
    )
    .await;
    tokens
}

#[tokio::test]
async fn the_notice_lists_a_rejected_line_with_its_code_message_and_remedy() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = late_sample(&app).await;
    let notice = json_of(
        app.get("/rejections?month=2024-01", &token).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(notice["month"], "2024-01");
    assert_eq!(notice["saad_siret"], SAAD);
    let lines = notice["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1, "{notice}");
    let line = &lines[0];
    assert_eq!(line["code"], "LATE_TRANSMISSION");
    assert_eq!(line["line_id"], "INTV-2024-000811");
    assert_eq!(line["plan_ref"], "PA-APA-0001");
    assert_eq!(line["day"], "2024-01-12");
    assert_eq!(line["minutes"], 45);
    assert!(line["amount"].is_null());
    assert!(
        line["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty() && m != "LATE_TRANSMISSION"),
        "{line}"
    );
    assert!(
        line["remedy"].as_str().is_some_and(|r| !r.is_empty()),
        "{line}"
    );

    // The financer names the SAAD; without it, 400.
    let path = format!("/rejections?month=2024-01&saad_siret={SAAD}");
    let seen = json_of(app.get(&path, &app.financer).await, StatusCode::OK).await;
    assert_eq!(seen, notice);
    error_of(
        app.get("/rejections?month=2024-01", &app.financer).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

#[tokio::test]
async fn the_notice_is_given_as_csv() {
    let app = spawn_app(RECEIVED).await;
    let (token, _) = late_sample(&app).await;
    let response = app
        .client
        .get(app.url("/rejections?month=2024-01"))
        .bearer_auth(&token)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("type")
        .to_owned();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let text = response.text().await.expect("body");
    let mut rows = text.lines();
    assert_eq!(
        rows.next(),
        Some("code;message;line_id;plan_ref;beneficiary_id;day;minutes;amount;remedy")
    );
    let row = rows.next().expect("one line");
    assert!(row.starts_with("LATE_TRANSMISSION;"), "{row}");
    assert!(
        row.contains(";INTV-2024-000811;PA-APA-0001;BEN-99-000101;2024-01-12;45;;"),
        "{row}"
    );
}

#[tokio::test]
async fn a_saad_cannot_read_another_saads_rejections() {
    let app = spawn_app(RECEIVED).await;
    let (_, other) = late_sample(&app).await;
    let path = format!("/rejections?month=2024-01&saad_siret={SAAD}");
    error_of(
        app.get(&path, &other).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let own = json_of(
        app.get("/rejections?month=2024-01", &other).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(own["saad_siret"], OTHER_SAAD);
    assert_eq!(own["lines"], serde_json::json!([]));
    error_of(
        app.get("/rejections?month=2024-13", &other).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}
