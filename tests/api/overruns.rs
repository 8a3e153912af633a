//! F `POST /api/v1/overrun-authorisations` (rules.md R7).

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{error_of, json_of, spawn_app};
use crate::orders::{apa_plan, post_plans};
use crate::saads::{SAAD_A, register_saad};

#[tokio::test]
async fn r7_an_overrun_authorisation_is_stored_with_201() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    register_saad(&app, SAAD_A).await;
    post_plans(&app, vec![apa_plan("P-1", SAAD_A, "BEN-1")]).await;
    let body = json!({"plan_ref": "P-1", "month": "2024-01", "minutes": 120});
    let response = app
        .post_json("/overrun-authorisations", &app.financer, &body)
        .await;
    assert_eq!(json_of(response, StatusCode::CREATED).await, body);
    let month = "2024-01".parse().unwrap();
    assert_eq!(
        app.store.authorised_minutes("P-1", month).await.unwrap(),
        120
    );
}

#[tokio::test]
async fn an_authorisation_for_an_unknown_plan_is_404_and_non_positive_minutes_422() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let body = json!({"plan_ref": "NOPE", "month": "2024-01", "minutes": 120});
    let response = app
        .post_json("/overrun-authorisations", &app.financer, &body)
        .await;
    error_of(response, StatusCode::NOT_FOUND, "not_found").await;
    let body = json!({"plan_ref": "NOPE", "month": "2024-01", "minutes": 0});
    let response = app
        .post_json("/overrun-authorisations", &app.financer, &body)
        .await;
    let error = error_of(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["field"], "minutes");
}

#[tokio::test]
async fn f_route_overrun_authorisations_is_403_for_a_saad() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let token = app.saad_token(SAAD_A).await;
    let body = json!({"plan_ref": "P-1", "month": "2024-01", "minutes": 120});
    let response = app
        .post_json("/overrun-authorisations", &token, &body)
        .await;
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;
}
