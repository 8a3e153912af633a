//! SAAD isolation (api.md "Authentication"): SAAD A's token tries SAAD B's
//! identifiers on every route. F+S and S routes answer exactly as for an
//! identifier that does not exist (404, same body modulo the id, similar
//! time); F routes answer 403 whatever the id. Nothing of B shows in A's
//! answers.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of, spawn_app};
use crate::snapshot;
use crate::world::{self, BEN_B, PLAN_A, PLAN_B, SAAD_A, SAAD_B, SAAD_UNKNOWN, World};

const UNKNOWN_INVOICE: &str = "INV-2024-01-00000000000026-APA-P";
const UNKNOWN_PLAN: &str = "PX-APA-9999";
const UNKNOWN_BEN: &str = "BEN-99-999999";
const INVOICE_SAMPLE: &str = include_str!("../fixtures/esppadom/invoice-apa-example.xml");

/// One call: status and body (text), the request id removed.
async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<(&str, String)>,
) -> (StatusCode, String) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    let text = response.text().await.expect("body");
    let text = match serde_json::from_str::<Value>(&text) {
        Ok(mut value) => {
            if let Some(error) = value.get_mut("error").and_then(Value::as_object_mut) {
                error.remove("request_id");
            }
            if let Some(object) = value.as_object_mut() {
                object.remove("received_at");
            }
            value.to_string()
        }
        Err(_) => text,
    };
    (status, text)
}

/// A's attempt on B's id and on an unknown id must answer alike.
async fn same_as_unknown(
    app: &TestApp,
    token: &str,
    method: Method,
    real: (&str, Option<(&str, String)>),
    unknown: (&str, Option<(&str, String)>),
    ids: (&str, &str),
    expected: StatusCode,
) {
    let (status_real, body_real) = call(app, token, method.clone(), real.0, real.1).await;
    let (status_unknown, body_unknown) =
        call(app, token, method.clone(), unknown.0, unknown.1).await;
    assert_eq!(status_real, expected, "{method} {}: {body_real}", real.0);
    assert_eq!(
        status_unknown, expected,
        "{method} {}: {body_unknown}",
        unknown.0
    );
    assert_eq!(
        body_real.replace(ids.0, "{ID}"),
        body_unknown.replace(ids.1, "{ID}"),
        "{method} {} answers differently for another SAAD's id than for an unknown one",
        real.0
    );
    for leak in [SAAD_B, BEN_B, PLAN_B] {
        if !ids.0.contains(leak) {
            assert!(
                !body_real.contains(leak),
                "{method} {} leaks {leak}: {body_real}",
                real.0
            );
        }
    }
}

fn no_trace_of_b(what: &str, body: &str, world: &World) {
    for leak in [
        SAAD_B,
        BEN_B,
        PLAN_B,
        world.invoice_b.as_str(),
        world.batch.as_str(),
    ] {
        assert!(!body.contains(leak), "{what} shows SAAD B's {leak}: {body}");
    }
}

#[tokio::test]
async fn a_saad_token_gets_404_on_every_other_saads_resource_exactly_as_on_an_unknown_one() {
    let app = spawn_app(world::RECEIVED).await;
    let world = world::build(&app).await;
    let a = world.token_a.clone();
    let inv = world.invoice_b.clone();
    // B itself sees its invoice: the 404s below are about who asks.
    let (status, _) = call(
        &app,
        &world.token_b,
        Method::GET,
        &format!("/invoices/{inv}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let before = snapshot::counts(&app.store).await;

    // Invoices: JSON, ESPPADOM, validation.
    for suffix in ["", ".xml"] {
        same_as_unknown(
            &app,
            &a,
            Method::GET,
            (&format!("/invoices/{inv}{suffix}"), None),
            (&format!("/invoices/{UNKNOWN_INVOICE}{suffix}"), None),
            (&inv, UNKNOWN_INVOICE),
            StatusCode::NOT_FOUND,
        )
        .await;
    }
    same_as_unknown(
        &app,
        &a,
        Method::POST,
        (&format!("/invoices/{}/validate", world.invoice_b), None),
        (&format!("/invoices/{UNKNOWN_INVOICE}/validate"), None),
        (&inv, UNKNOWN_INVOICE),
        StatusCode::NOT_FOUND,
    )
    .await;
    // Rejection notice of another SAAD.
    same_as_unknown(
        &app,
        &a,
        Method::GET,
        (
            &format!("/rejections?month=2024-01&saad_siret={SAAD_B}"),
            None,
        ),
        (
            &format!("/rejections?month=2024-01&saad_siret={SAAD_UNKNOWN}"),
            None,
        ),
        (SAAD_B, SAAD_UNKNOWN),
        StatusCode::NOT_FOUND,
    )
    .await;
    // Events for another SAAD's beneficiary.
    let event = |ben: &str| {
        json!({"events": [{"beneficiary_id": ben, "kind": "HOSPITALISATION",
        "start": "2024-01-25", "end": null, "note": null}]})
        .to_string()
    };
    same_as_unknown(
        &app,
        &a,
        Method::POST,
        ("/events", Some(("application/json", event(BEN_B)))),
        ("/events", Some(("application/json", event(UNKNOWN_BEN)))),
        (BEN_B, UNKNOWN_BEN),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        snapshot::counts(&app.store).await,
        before,
        "a refused request stored something"
    );

    // B's invoice was not validated by A's attempt.
    let (_, body) = call(
        &app,
        &world.token_b,
        Method::GET,
        &format!("/invoices/{inv}"),
        None,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["status"],
        "paid"
    );
}

#[tokio::test]
async fn a_saad_sees_only_its_own_invoices_notices_and_plans_in_lists() {
    let app = spawn_app(world::RECEIVED).await;
    let world = world::build(&app).await;
    let a = &world.token_a;
    let (status, body) = call(&app, a, Method::GET, "/invoices?month=2024-01", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&world.invoice_a), "{body}");
    no_trace_of_b("GET /invoices", &body, &world);
    let (status, body) = call(&app, a, Method::GET, "/rejections?month=2024-01", None).await;
    assert_eq!(status, StatusCode::OK);
    no_trace_of_b("GET /rejections", &body, &world);
    let response = app
        .client
        .get(app.url("/rejections?month=2024-01"))
        .bearer_auth(a)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("csv");
    no_trace_of_b(
        "GET /rejections (CSV)",
        &response.text().await.expect("csv"),
        &world,
    );
    for accept in ["application/xml", "application/json"] {
        let response = app
            .client
            .get(app.url("/orders"))
            .bearer_auth(a)
            .header("accept", accept)
            .send()
            .await
            .expect("orders");
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.text().await.expect("orders");
        assert!(body.contains(PLAN_A), "{accept}: {body}");
        no_trace_of_b(&format!("GET /orders ({accept})"), &body, &world);
    }
}

#[tokio::test]
async fn a_delivery_naming_another_saads_plan_is_refused_exactly_like_an_unknown_plan() {
    let app = spawn_app(world::RECEIVED).await;
    let world = world::build(&app).await;
    app.set_now(world::RECEIVED);
    let delivery = |tid: &str, plan: &str, ben: &str| {
        json!({"transmission_id": tid, "interventions": [world::json_line(
            "L-1", plan, ben, "2024-01-12T14:00:00+01:00", "2024-01-12T15:00:00+01:00")]})
        .to_string()
    };
    let (status_b, body_b) = call(
        &app,
        &world.token_a,
        Method::POST,
        "/deliveries",
        Some(("application/json", delivery("T-X", PLAN_B, BEN_B))),
    )
    .await;
    let (status_u, body_u) = call(
        &app,
        &world.token_a,
        Method::POST,
        "/deliveries",
        Some((
            "application/json",
            delivery("T-X", UNKNOWN_PLAN, UNKNOWN_BEN),
        )),
    )
    .await;
    // Not the same transmission twice: the second is a fresh database.
    assert_eq!(status_b, StatusCode::OK, "{body_b}");
    assert_eq!(
        status_u,
        StatusCode::CONFLICT,
        "same transmission id, other body: {body_u}"
    );
    let (status_u, body_u) = call(
        &app,
        &world.token_a,
        Method::POST,
        "/deliveries",
        Some((
            "application/json",
            delivery("T-Y", UNKNOWN_PLAN, UNKNOWN_BEN),
        )),
    )
    .await;
    assert_eq!(status_u, StatusCode::OK);
    let receipt_b: Value = serde_json::from_str(&body_b).expect("receipt");
    let receipt_u: Value = serde_json::from_str(&body_u).expect("receipt");
    assert_eq!(receipt_b["lines"][0]["status"], "rejected", "{receipt_b}");
    let codes = |r: &Value| {
        r["lines"][0]["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|x| x["code"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        codes(&receipt_b),
        codes(&receipt_u),
        "{receipt_b} vs {receipt_u}"
    );
    let messages_b = receipt_b["lines"][0]["reasons"]
        .to_string()
        .replace(PLAN_B, "{P}")
        .replace(BEN_B, "{B}");
    let messages_u = receipt_u["lines"][0]["reasons"]
        .to_string()
        .replace(UNKNOWN_PLAN, "{P}")
        .replace(UNKNOWN_BEN, "{B}");
    assert_eq!(messages_b, messages_u);
    assert!(!body_b.contains(SAAD_B), "{body_b}");
}

#[tokio::test]
async fn a_saad_invoice_naming_another_saads_plan_answers_like_an_unknown_plan() {
    let app = spawn_app(world::RECEIVED).await;
    let world = world::build(&app).await;
    let invoice = |plan: &str, ben: &str| {
        INVOICE_SAMPLE
            .replace("PA-APA-0001", plan)
            .replace("BEN-99-000101", ben)
    };
    let (status_b, body_b) = call(
        &app,
        &world.token_a,
        Method::POST,
        "/invoices",
        Some(("application/xml", invoice(PLAN_B, BEN_B))),
    )
    .await;
    // The first INVOICE validates the pro-forma: the unknown plan is tried
    // on a second gateway holding the same world, whose pro-forma is fresh.
    let app_u = spawn_app(world::RECEIVED).await;
    let world_u = world::build(&app_u).await;
    let (status_u, body_u) = call(
        &app_u,
        &world_u.token_a,
        Method::POST,
        "/invoices",
        Some(("application/xml", invoice(UNKNOWN_PLAN, UNKNOWN_BEN))),
    )
    .await;
    assert_eq!(status_b, status_u, "{body_b} vs {body_u}");
    let strip = |body: &str, plan: &str, ben: &str| {
        let mut v: Value = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
        if let Some(o) = v.as_object_mut() {
            o.remove("invoice_id");
        }
        v.to_string().replace(plan, "{P}").replace(ben, "{B}")
    };
    assert_eq!(
        strip(&body_b, PLAN_B, BEN_B),
        strip(&body_u, UNKNOWN_PLAN, UNKNOWN_BEN)
    );
    assert!(!body_b.contains(SAAD_B));
}

#[tokio::test]
async fn a_saad_token_gets_403_on_every_financer_route_whatever_the_id() {
    let app = spawn_app(world::RECEIVED).await;
    let world = world::build(&app).await;
    let a = &world.token_a;
    let batch = world.batch.clone();
    let before = snapshot::counts(&app.store).await;
    for suffix in ["", ".csv", ".pes.xml", ".xml"] {
        same_as_unknown(
            &app,
            a,
            Method::GET,
            (&format!("/batches/{batch}{suffix}"), None),
            (&format!("/batches/B-UNKNOWN{suffix}"), None),
            (&batch, "B-UNKNOWN"),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    let json = |v: Value| Some(("application/json", v.to_string()));
    same_as_unknown(
        &app,
        a,
        Method::POST,
        (
            "/overrun-authorisations",
            json(json!({"plan_ref": PLAN_B, "month": "2024-01", "minutes": 60})),
        ),
        (
            "/overrun-authorisations",
            json(json!({"plan_ref": UNKNOWN_PLAN, "month": "2024-01", "minutes": 60})),
        ),
        (PLAN_B, UNKNOWN_PLAN),
        StatusCode::FORBIDDEN,
    )
    .await;
    same_as_unknown(
        &app,
        a,
        Method::POST,
        (
            "/orders",
            json(json!({"plans": [world::plan_json(PLAN_B, SAAD_B, BEN_B)]})),
        ),
        (
            "/orders",
            json(json!({"plans": [world::plan_json(UNKNOWN_PLAN, SAAD_UNKNOWN, UNKNOWN_BEN)]})),
        ),
        ("", ""),
        StatusCode::FORBIDDEN,
    )
    .await;
    same_as_unknown(
        &app,
        a,
        Method::POST,
        ("/saads", json(world::saad_json(SAAD_B))),
        ("/saads", json(world::saad_json(SAAD_UNKNOWN))),
        ("", ""),
        StatusCode::FORBIDDEN,
    )
    .await;
    for (method, path) in [
        (Method::GET, "/batches"),
        (Method::POST, "/batches"),
        (Method::POST, "/months/2024-01/close"),
    ] {
        let (status, body) = call(&app, a, method.clone(), path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
        no_trace_of_b(path, &body, &world);
    }
    let (status, _) = call(
        &app,
        a,
        Method::POST,
        "/admin/clock",
        json(json!({"now": "2030-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // And a financer token on the SAAD-only routes.
    for (method, path) in [(Method::GET, "/orders"), (Method::POST, "/deliveries")] {
        let (status, body) = call(&app, &app.financer, method.clone(), path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}: {body}");
    }
    assert_eq!(snapshot::counts(&app.store).await, before);
    let _ = SAAD_A;
}

/// Timing: answering for another SAAD's invoice must not be measurably
/// slower or faster than for an unknown id. Medians of interleaved runs,
/// compared loosely (a factor 3 and 25 ms of slack: this checks there is no
/// extra work such as a second query or a file read, not side channels at
/// the microsecond; see docs/reliability.md).
#[tokio::test]
async fn another_saads_invoice_and_an_unknown_one_take_about_as_long_to_refuse() {
    let app = spawn_app(world::RECEIVED).await;
    let world = world::build(&app).await;
    let mut real = Vec::new();
    let mut unknown = Vec::new();
    for round in 0..41 {
        for (id, times) in [
            (&world.invoice_b, &mut real),
            (&UNKNOWN_INVOICE.to_owned(), &mut unknown),
        ] {
            let started = Instant::now();
            let response = app.get(&format!("/invoices/{id}"), &world.token_a).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND);
            response.bytes().await.expect("body");
            if round > 0 {
                times.push(started.elapsed());
            }
        }
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (real, unknown) = (median(real), median(unknown));
    eprintln!("median 404 for another SAAD's invoice {real:?}, for an unknown id {unknown:?}");
    let slack = Duration::from_millis(25);
    assert!(real <= unknown * 3 + slack, "{real:?} vs {unknown:?}");
    assert!(unknown <= real * 3 + slack, "{real:?} vs {unknown:?}");
    let _ = json_of;
}

#[tokio::test]
async fn a_financer_token_gets_403_on_the_saad_invoice_route() {
    let app = spawn_app(world::RECEIVED).await;
    let (status, body) = call(
        &app,
        &app.financer,
        Method::POST,
        "/invoices",
        Some(("application/xml", INVOICE_SAMPLE.to_owned())),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

/// Transmission ids belong to their SAAD: A re-using B's id gets a fresh
/// receipt of its own, exactly as with an id nobody used (neither B's
/// receipt nor a 409 that would tell the id exists).
#[tokio::test]
async fn a_saad_reusing_another_saads_transmission_id_gets_its_own_receipt_as_for_a_new_id() {
    let app = spawn_app(world::RECEIVED).await;
    let world = world::build(&app).await;
    app.set_now(world::RECEIVED);
    let delivery = |tid: &str| {
        json!({"transmission_id": tid, "interventions": [world::json_line(
            "L-9", PLAN_A, world::BEN_A, "2024-01-12T17:00:00+01:00", "2024-01-12T18:00:00+01:00")]})
        .to_string()
    };
    let (status_b, body_b) = call(
        &app,
        &world.token_a,
        Method::POST,
        "/deliveries",
        Some(("application/json", delivery("T-B-1"))),
    )
    .await;
    assert_eq!(status_b, StatusCode::OK, "{body_b}");
    assert!(
        !body_b.contains("\"line_id\":\"B-1\""),
        "B's receipt line leaked: {body_b}"
    );
    // A fresh database for the comparison: the line id is taken in this one.
    let other = spawn_app(world::RECEIVED).await;
    let other_world = world::build(&other).await;
    other.set_now(world::RECEIVED);
    let (status_u, body_u) = call(
        &other,
        &other_world.token_a,
        Method::POST,
        "/deliveries",
        Some(("application/json", delivery("T-NEW-1"))),
    )
    .await;
    assert_eq!(status_u, StatusCode::OK, "{body_u}");
    assert_eq!(
        body_b.replace("T-B-1", "{T}"),
        body_u.replace("T-NEW-1", "{T}")
    );
    assert!(
        app.store
            .get_receipt(SAAD_B, "T-B-1")
            .await
            .expect("receipt")
            .is_some()
    );
    assert!(
        app.store
            .get_receipt(SAAD_A, "T-B-1")
            .await
            .expect("receipt")
            .is_some()
    );
}
