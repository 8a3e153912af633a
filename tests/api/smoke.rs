//! The assembled gateway answers: health, authentication against stored
//! token hashes, and 501 for the routes of the contract not built yet.

use reqwest::StatusCode;

use crate::helpers::{Backend, error_of, json_of, spawn_app, spawn_app_on};

#[tokio::test]
async fn healthz_reports_the_database_on_sqlite_and_postgres() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = spawn_app_on(backend, "2024-02-01T08:00:00+01:00").await else {
            continue;
        };
        let response = app
            .client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        let body = json_of(response, StatusCode::OK).await;
        assert_eq!(body["database"], "ok", "{backend:?}");
    }
}

#[tokio::test]
async fn a_token_created_by_the_cli_service_authenticates_and_a_wrong_one_does_not() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let response = app.get("/batches", "not-a-token").await;
    error_of(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app.get("/batches", &app.financer).await;
    assert_ne!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_manual_clock_route_moves_the_gateway_clock() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let response = app
        .post_json(
            "/admin/clock",
            &app.financer,
            &serde_json::json!({"now": "2024-03-01T00:00:00+01:00"}),
        )
        .await;
    json_of(response, StatusCode::OK).await;
    assert_eq!(
        app.clock.now(),
        crate::helpers::parse_time("2024-03-01T00:00:00+01:00")
    );
}
