//! `POST /api/v1/orders` (F) and `GET /api/v1/orders` (S): plan import
//! with per-plan outcomes (R7, R8), ESPPADOM ORDER in and out.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_of, json_of, spawn_app, spawn_app_on};
use crate::saads::{SAAD_A, SAAD_B, register_saad};

const ORDER_SAMPLE: &str = include_str!("../fixtures/esppadom/order-apa-example.xml");

/// An APA plan GIR 2, 40 h a month at 24.00 (960.00 ≤ 1 581.44), 2024,
/// matching the ORDER sample.
pub fn apa_plan(plan_ref: &str, siret: &str, beneficiary: &str) -> Value {
    json!({
        "plan_ref": plan_ref, "version": 1, "beneficiary_id": beneficiary,
        "saad_siret": siret, "aid_type": "APA", "gir": 2, "household": null,
        "valid_from": "2024-01-01", "valid_to": "2024-12-31", "monthly_minutes": 2400,
        "hourly_rate": "24.00", "participation_rate": "0.10", "coverage_rate": null,
        "monthly_amount": "960.00", "respite_exemption": false
    })
}

/// Posts JSON plans as the financer; asserts 200 and returns the outcomes.
pub async fn post_plans(app: &TestApp, plans: Vec<Value>) -> Vec<Value> {
    let response = app
        .post_json("/orders", &app.financer, &json!({ "plans": plans }))
        .await;
    let body = json_of(response, StatusCode::OK).await;
    body["plans"].as_array().unwrap().clone()
}

fn codes(outcome: &Value) -> Vec<String> {
    outcome["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_json_plan_is_accepted_and_audited_on_sqlite_and_postgres() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let Some(app) = spawn_app_on(backend, "2024-02-01T08:00:00+01:00").await else {
            continue;
        };
        register_saad(&app, SAAD_A).await;
        let outcomes = post_plans(&app, vec![apa_plan("PA-APA-0001", SAAD_A, "BEN-1")]).await;
        assert_eq!(
            outcomes,
            vec![
                json!({"plan_ref": "PA-APA-0001", "version": 1, "status": "accepted", "reasons": []})
            ],
            "{backend:?}"
        );
        assert_eq!(
            app.store.plan_versions("PA-APA-0001").await.unwrap().len(),
            1
        );
        let audit = app
            .store
            .audit_since(crate::helpers::parse_time("2000-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert!(audit.iter().any(|a| a.action == "POST /api/v1/orders"
            && a.outcome == "stored"
            && a.token_id.is_some()));
    }
}

#[tokio::test]
async fn r8_plan_above_the_gir_4_ceiling_is_refused_and_others_in_the_request_accepted() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    register_saad(&app, SAAD_A).await;
    let mut above = apa_plan("P-ABOVE", SAAD_A, "BEN-1");
    above["gir"] = json!(4); // 960.00 > 762.87
    let outcomes = post_plans(&app, vec![above, apa_plan("P-OK", SAAD_A, "BEN-2")]).await;
    assert_eq!(outcomes[0]["status"], "refused");
    assert_eq!(codes(&outcomes[0]), ["PLAN_ABOVE_CEILING"]);
    assert!(outcomes[0]["reasons"][0]["message"].as_str().unwrap().len() > 10);
    assert_eq!(outcomes[1]["status"], "accepted");
    assert!(app.store.plan_versions("P-ABOVE").await.unwrap().is_empty());
    assert_eq!(app.store.plan_versions("P-OK").await.unwrap().len(), 1);
}

#[tokio::test]
async fn r8_a_plan_outside_the_habilite_saads_tariffs_is_refused_no_tariff() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let mut saad = crate::saads::saad_json(SAAD_A);
    saad["aid_types"][0]["tariffs"][0]["valid_from"] = json!("2024-03-01");
    let response = app.post_json("/saads", &app.financer, &saad).await;
    json_of(response, StatusCode::CREATED).await;
    let plan = apa_plan("P-EARLY", SAAD_A, "BEN-1");
    let outcomes = post_plans(&app, vec![plan]).await;
    assert!(
        codes(&outcomes[0]).contains(&"NO_TARIFF".to_owned()),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn r7_an_am_plan_above_30_hours_for_a_single_person_is_refused() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    register_saad(&app, SAAD_A).await;
    let plan = json!({
        "plan_ref": "AM-1", "version": 1, "beneficiary_id": "BEN-1", "saad_siret": SAAD_A,
        "aid_type": "AM", "gir": null, "household": "single", "valid_from": "2024-01-01",
        "valid_to": "2024-12-31", "monthly_minutes": 1860, "hourly_rate": "20.00",
        "participation_rate": null, "coverage_rate": null, "monthly_amount": "620.00",
        "respite_exemption": false
    });
    let outcomes = post_plans(&app, vec![plan]).await;
    assert_eq!(codes(&outcomes[0]), ["AM_CAP_EXCEEDED"]);
}

#[tokio::test]
async fn r7_same_version_same_content_is_idempotent_and_different_content_is_version_conflict() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    register_saad(&app, SAAD_A).await;
    let plan = apa_plan("P-1", SAAD_A, "BEN-1");
    post_plans(&app, vec![plan.clone()]).await;
    let again = post_plans(&app, vec![plan.clone()]).await;
    assert_eq!(again[0]["status"], "accepted");
    assert_eq!(again[0]["version"], 1);
    let mut changed = plan;
    changed["monthly_minutes"] = json!(1800);
    let outcomes = post_plans(&app, vec![changed]).await;
    assert_eq!(codes(&outcomes[0]), ["VERSION_CONFLICT"]);
    let stored = app.store.plan_versions("P-1").await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].monthly_minutes, 2400);
}

#[tokio::test]
async fn r7_an_order_without_previous_version_is_plan_incomplete_then_completed_from_version_1() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    register_saad(&app, SAAD_A).await;
    let response = app.post_xml("/orders", &app.financer, ORDER_SAMPLE).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["plans"][0]["plan_ref"], "PA-APA-0001");
    assert_eq!(body["plans"][0]["status"], "refused");
    assert_eq!(codes(&body["plans"][0]), ["PLAN_INCOMPLETE"]);
    assert!(
        app.store
            .plan_versions("PA-APA-0001")
            .await
            .unwrap()
            .is_empty()
    );

    post_plans(&app, vec![apa_plan("PA-APA-0001", SAAD_A, "BEN-99-000101")]).await;
    // Same content as version 1: idempotent, same version.
    let response = app.post_xml("/orders", &app.financer, ORDER_SAMPLE).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(
        body["plans"][0],
        json!({"plan_ref": "PA-APA-0001", "version": 1, "status": "accepted", "reasons": []})
    );
    // 30 h instead of 40 h: version 2, the rest taken from version 1.
    let changed = ORDER_SAMPLE.replace(
        "<ram:RequestedQuantity unitCode=\"HUR\">40<",
        "<ram:RequestedQuantity unitCode=\"HUR\">30<",
    );
    let response = app.post_xml("/orders", &app.financer, changed).await;
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["plans"][0]["status"], "accepted", "{body}");
    assert_eq!(body["plans"][0]["version"], 2);
    let stored = app.store.plan_versions("PA-APA-0001").await.unwrap();
    assert_eq!(stored[1].monthly_minutes, 1800);
    assert_eq!(stored[1].gir, Some(2));
}

#[tokio::test]
async fn malformed_order_xml_is_400_invalid_xml_with_line_and_column() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let broken = ORDER_SAMPLE.replace("</rsm:CIOHExchangedDocument>", "</rsm:Wrong>");
    let response = app.post_xml("/orders", &app.financer, broken).await;
    let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_xml").await;
    assert!(error["details"]["line"].as_u64().unwrap() > 1);
    assert!(error["details"]["column"].as_u64().unwrap() > 0);
    assert!(error["details"]["path"].is_string());
}

#[tokio::test]
async fn malformed_json_plans_are_400_with_line_column_and_path() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let mut plan = apa_plan("P-1", SAAD_A, "BEN-1");
    plan["monthly_minutes"] = json!("forty");
    let body = serde_json::to_string_pretty(&json!({ "plans": [plan] })).unwrap();
    let response = app
        .client
        .post(app.url("/orders"))
        .bearer_auth(&app.financer)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert!(error["details"]["line"].as_u64().unwrap() > 1);
    assert_eq!(error["details"]["path"], "plans[0].monthly_minutes");
}

#[tokio::test]
async fn orders_refuses_another_content_type_with_415() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let response = app
        .client
        .post(app.url("/orders"))
        .bearer_auth(&app.financer)
        .header("content-type", "text/csv")
        .body("plan_ref\n")
        .send()
        .await
        .unwrap();
    error_of(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
}

#[tokio::test]
async fn f_route_post_orders_is_403_for_a_saad_and_s_route_get_orders_is_403_for_the_financer() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    let token = app.saad_token(SAAD_A).await;
    let response = app
        .post_json(
            "/orders",
            &token,
            &json!({"plans": [apa_plan("P-1", SAAD_A, "B")]}),
        )
        .await;
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app.get("/orders", &app.financer).await;
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;
}

#[tokio::test]
async fn get_orders_gives_this_saads_plans_in_force_as_order_xml_or_json() {
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    register_saad(&app, SAAD_A).await;
    register_saad(&app, SAAD_B).await;
    let mut future = apa_plan("P-FUTURE", SAAD_A, "BEN-3");
    future["valid_from"] = json!("2024-03-01");
    let outcomes = post_plans(
        &app,
        vec![
            apa_plan("PA-APA-0001", SAAD_A, "BEN-99-000101"),
            apa_plan("P-B", SAAD_B, "BEN-2"),
            future,
        ],
    )
    .await;
    assert!(
        outcomes.iter().all(|o| o["status"] == "accepted"),
        "{outcomes:?}"
    );
    let token = app.saad_token(SAAD_A).await;

    let response = app
        .client
        .get(app.url("/orders"))
        .bearer_auth(&token)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let body = json_of(response, StatusCode::OK).await;
    let plans = body["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 1, "{body}");
    assert_eq!(plans[0]["plan_ref"], "PA-APA-0001");
    assert_eq!(plans[0]["monthly_amount"], "960.00");

    let response = app.get("/orders", &token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let xml = response.bytes().await.unwrap();
    let read = saad_gateway::xml::read_order(&xml).unwrap();
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].plan_ref, "PA-APA-0001");
    assert_eq!(read[0].monthly_minutes, Some(2400));
}

#[tokio::test]
async fn a_plan_in_a_year_the_charter_does_not_cover_is_422_naming_the_year_and_nothing_is_stored()
{
    let app = spawn_app("2024-02-01T08:00:00+01:00").await;
    register_saad(&app, SAAD_A).await;
    let mut uncovered = apa_plan("P-2015", SAAD_A, "BEN-2");
    uncovered["valid_from"] = json!("2015-01-01");
    uncovered["valid_to"] = json!("2015-12-31");
    let response = app
        .post_json(
            "/orders",
            &app.financer,
            &json!({ "plans": [apa_plan("P-2024", SAAD_A, "BEN-1"), uncovered] }),
        )
        .await;
    let error = error_of(
        response,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("2015"), "{message}");
    assert!(message.contains("charter/"), "{message}");
    assert_eq!(error["details"]["year"], 2015);
    assert!(error["details"]["parameter"].is_string());
    // All or nothing: the covered plan sent before it is not stored either.
    assert!(app.store.plan_versions("P-2024").await.unwrap().is_empty());
}
