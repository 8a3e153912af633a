//! F+S `POST /api/v1/events` (rules.md R5): all or nothing, a SAAD only for
//! its own beneficiaries (404 otherwise), identified by (beneficiary, kind,
//! start).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_of, json_of, spawn_app};
use crate::orders::{apa_plan, post_plans};
use crate::saads::{SAAD_A, SAAD_B, register_saad};

async fn app_with_two_saads() -> crate::helpers::TestApp {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    register_saad(&app, SAAD_A).await;
    register_saad(&app, SAAD_B).await;
    post_plans(
        &app,
        vec![
            apa_plan("P-A", SAAD_A, "BEN-A"),
            apa_plan("P-B", SAAD_B, "BEN-B"),
        ],
    )
    .await;
    app
}

#[tokio::test]
async fn r5_an_event_is_stored_and_resending_it_with_an_end_sets_its_end() {
    let app = app_with_two_saads().await;
    let event = json!({"beneficiary_id": "BEN-A", "kind": "HOSPITALISATION",
                       "start": "2024-01-10", "end": null, "note": null});
    let response = app
        .post_json("/events", &app.financer, &json!({"events": [event]}))
        .await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["events"][0]["kind"], "HOSPITALISATION");
    assert_eq!(body["events"][0]["end"], json!(null));

    let token = app.saad_token(SAAD_A).await;
    let ended = json!({"beneficiary_id": "BEN-A", "kind": "HOSPITALISATION",
                       "start": "2024-01-10", "end": "2024-01-20", "note": "retour"});
    let response = app
        .post_json("/events", &token, &json!({"events": [ended]}))
        .await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["events"][0]["end"], "2024-01-20");
    let stored = app.store.events_of(&["BEN-A".to_owned()]).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].end.map(|d| d.to_string()).as_deref(),
        Some("2024-01-20")
    );
}

#[tokio::test]
async fn r5_a_saad_reporting_for_another_saads_beneficiary_gets_404_and_nothing_is_stored() {
    let app = app_with_two_saads().await;
    let token = app.saad_token(SAAD_A).await;
    let events = json!({"events": [
        {"beneficiary_id": "BEN-A", "kind": "ABSENCE", "start": "2024-01-05", "end": null, "note": null},
        {"beneficiary_id": "BEN-B", "kind": "DEATH", "start": "2024-01-06", "end": null, "note": null}
    ]});
    let response = app.post_json("/events", &token, &events).await;
    let error = error_of(response, StatusCode::NOT_FOUND, "not_found").await;
    assert!(!error.to_string().contains("BEN-B"));
    let stored = app
        .store
        .events_of(&["BEN-A".to_owned(), "BEN-B".to_owned()])
        .await
        .unwrap();
    assert!(stored.is_empty());
    let audit = app
        .store
        .audit_since(crate::helpers::parse_time("2000-01-01T00:00:00Z"))
        .await
        .unwrap();
    let row = audit
        .iter()
        .find(|a| a.action == "POST /api/v1/events")
        .unwrap();
    assert_eq!(row.outcome, "refused:404");
    assert_eq!(row.saad_siret.as_deref(), Some(SAAD_A));
}

#[tokio::test]
async fn r5_an_end_before_the_start_is_422_and_nothing_is_stored() {
    let app = app_with_two_saads().await;
    let events = json!({"events": [
        {"beneficiary_id": "BEN-A", "kind": "ABSENCE", "start": "2024-01-05", "end": null, "note": null},
        {"beneficiary_id": "BEN-B", "kind": "ABSENCE", "start": "2024-01-06", "end": "2024-01-01", "note": null}
    ]});
    let response = app.post_json("/events", &app.financer, &events).await;
    let error = error_of(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["field"], "events[1].end");
    let stored = app.store.events_of(&["BEN-A".to_owned()]).await.unwrap();
    assert!(stored.is_empty());
}

#[tokio::test]
async fn an_unknown_event_kind_is_400_invalid_json() {
    let app = app_with_two_saads().await;
    let events = json!({"events": [
        {"beneficiary_id": "BEN-A", "kind": "HOLIDAY", "start": "2024-01-05", "end": null, "note": null}
    ]});
    let response = app.post_json("/events", &app.financer, &events).await;
    let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(error["details"]["path"], "events[0].kind");
}
