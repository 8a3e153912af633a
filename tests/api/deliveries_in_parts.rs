//! `POST /api/v1/deliveries` with a large ESPPADOM file, read and ingested
//! part by part (docs/deliveries.md, "Large files"): over real HTTPS, the
//! receipt is byte for byte the receipt of the same file ingested whole, a
//! re-send gives it again from its stored parts, and a file that cannot be
//! read to its end stores nothing, whatever part the fault is in.

use reqwest::StatusCode;
use saad_gateway::http::server::DeliveryParts;

use crate::deliveries::{SAAD, SAMPLE, setup};
use crate::helpers::{Backend, TestApp, error_of, spawn_app_on, spawn_app_with_parts};

/// The sample's reception time (its stamps of 11–12 January are within 48 h).
const RECEIVED: &str = "2024-01-13T07:00:00+01:00";

/// Parts of 4 lines for any body: every test file below has several parts.
const SMALL_PARTS: DeliveryParts = DeliveryParts { bytes: 1, lines: 4 };

/// The sample's first message, as a template.
fn message_template() -> &'static str {
    let start = SAMPLE
        .find("<ns:CrossIndustryDespatchAdvice>")
        .expect("first message");
    let end = SAMPLE
        .find("</ns:CrossIndustryDespatchAdvice>")
        .expect("end of the first message")
        + "</ns:CrossIndustryDespatchAdvice>".len();
    &SAMPLE[start..end]
}

/// A DELIVERY of the sample's plan with `count` one-visit messages (an
/// hour apart on 11–12 January, 52 minutes each), plus, after them, the
/// first visit sent again (identical: R2) and a visit overlapping the
/// second one (R6): both judged against lines of earlier parts.
fn large_delivery(count: usize) -> String {
    let template = message_template();
    let visit = |id: String, day: usize, hour: usize, minute: usize| {
        template
            .replace("INTV-2024-000811", &id)
            .replace(
                "2024-01-12T09:00:00",
                &format!("2024-01-{day:02}T{hour:02}:{minute:02}:00"),
            )
            .replace(
                "2024-01-12T09:52:00",
                &format!("2024-01-{day:02}T{hour:02}:{:02}:00", minute + 52),
            )
    };
    let slot = |k: usize| (11 + k / 12, 7 + k % 12);
    let mut messages: Vec<String> = (0..count)
        .map(|k| {
            let (day, hour) = slot(k);
            visit(format!("INTV-P-{k:04}"), day, hour, 0)
        })
        .collect();
    messages.push(messages[0].clone());
    let (day, hour) = slot(1);
    messages.push(visit("INTV-P-OVERLAP".to_owned(), day, hour, 5));
    let head = &SAMPLE[..SAMPLE
        .find("<ns:CrossIndustryDespatchAdvice>")
        .expect("head")];
    format!("{head}{}\n</ns:delivery>\n", messages.join("\n"))
}

async fn post_text(app: &TestApp, token: &str, body: &str) -> (StatusCode, String) {
    let response = app.post_xml("/deliveries", token, body.to_owned()).await;
    let status = response.status();
    (status, response.text().await.expect("body"))
}

async fn versions(app: &TestApp) -> i64 {
    let month = saad_gateway::domain::types::YearMonth::new(2024, 1).expect("month");
    use futures_util::TryStreamExt;
    let accepted = app
        .store
        .accepted_in_month(month)
        .try_collect::<Vec<_>>()
        .await
        .expect("accepted");
    i64::try_from(accepted.len()).expect("count")
}

/// A large file read in parts, then sent again, against the same file
/// ingested whole on another gateway.
async fn same_receipt_whole_and_in_parts(backend: Backend) {
    let Some(whole) = spawn_app_on(backend, RECEIVED).await else {
        return;
    };
    let Some(in_parts) = spawn_app_with_parts(backend, RECEIVED, SMALL_PARTS).await else {
        return;
    };
    let body = large_delivery(21);
    let (token, _) = setup(&whole).await;
    let (expected_status, expected) = post_text(&whole, &token, &body).await;
    assert_eq!(expected_status, StatusCode::OK, "{expected}");
    let (token, _) = setup(&in_parts).await;
    let (status, receipt) = post_text(&in_parts, &token, &body).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt, expected);
    let parsed: serde_json::Value = serde_json::from_str(&receipt).expect("JSON receipt");
    assert_eq!(parsed["lines"].as_array().map(Vec::len), Some(23));
    assert_eq!(parsed["accepted"], 22, "{parsed}");
    assert_eq!(
        parsed["lines"][21]["warnings"][0],
        "identical to the version already accepted: nothing changed"
    );
    assert_eq!(
        parsed["lines"][22]["reasons"][0]["code"],
        "OVERLAP_BENEFICIARY"
    );
    let stored = in_parts
        .store
        .get_receipt(SAAD, "T-DEL-20240113-0001")
        .await
        .expect("receipt")
        .expect("stored");
    assert_eq!(stored.parts, 6, "23 lines in parts of 4");
    assert_eq!(versions(&in_parts).await, versions(&whole).await);
    // R6 idempotency: the same file again, the same bytes, nothing new.
    in_parts.set_now("2024-01-13T09:00:00+01:00");
    let (status, again) = post_text(&in_parts, &token, &body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, expected);
    assert_eq!(versions(&in_parts).await, 21);
}

#[tokio::test]
async fn r6_a_large_file_read_in_parts_answers_the_receipt_of_the_whole_file() {
    same_receipt_whole_and_in_parts(Backend::Sqlite).await;
}

#[tokio::test]
async fn r6_a_large_file_read_in_parts_answers_the_receipt_of_the_whole_file_on_postgresql() {
    same_receipt_whole_and_in_parts(Backend::Postgres).await;
}

#[tokio::test]
async fn a_large_file_malformed_in_its_last_part_is_400_and_nothing_is_stored() {
    let app = spawn_app_with_parts(Backend::Sqlite, RECEIVED, SMALL_PARTS)
        .await
        .expect("SQLite is always available");
    let (token, _) = setup(&app).await;
    let body = large_delivery(21);
    let cut = body.rfind("</ram:LineID>").expect("last line id");
    let broken = format!(
        "{}</ram:LineId>{}",
        &body[..cut],
        &body[cut + "</ram:LineID>".len()..]
    );
    let error = error_of(
        app.post_xml("/deliveries", &token, broken.clone()).await,
        StatusCode::BAD_REQUEST,
        "invalid_xml",
    )
    .await;
    let line = error["details"]["line"].as_u64().expect("line");
    let expected_line = broken[..cut].lines().count();
    assert_eq!(
        usize::try_from(line).expect("line"),
        expected_line,
        "{error}"
    );
    assert!(error["details"]["column"].as_u64().is_some(), "{error}");
    assert_eq!(versions(&app).await, 0);
    assert!(
        app.store
            .get_receipt(SAAD, "T-DEL-20240113-0001")
            .await
            .expect("receipt")
            .is_none()
    );
    // Corrected, the same transmission is taken.
    let (status, receipt) = post_text(&app, &token, &body).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(versions(&app).await, 21);
}

#[tokio::test]
async fn a_large_file_naming_another_saad_in_a_later_part_is_422_and_nothing_is_stored() {
    let app = spawn_app_with_parts(Backend::Sqlite, RECEIVED, SMALL_PARTS)
        .await
        .expect("SQLite is always available");
    let (token, _) = setup(&app).await;
    let body = large_delivery(21);
    let last = body
        .rfind("<pie:SIRET>00000000000018</pie:SIRET>")
        .expect("last SIRET");
    let other = format!(
        "{}<pie:SIRET>73282932000074</pie:SIRET>{}",
        &body[..last],
        &body[last + "<pie:SIRET>00000000000018</pie:SIRET>".len()..]
    );
    let error = error_of(
        app.post_xml("/deliveries", &token, other).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["code"], "SAAD_MISMATCH");
    assert_eq!(error["details"]["message_index"], 23, "{error}");
    assert_eq!(versions(&app).await, 0);
}
