//! Bad-input catalogue (issue 8): malformed and hostile requests across the
//! routes. Each must answer its documented 4xx in the contract's error shape
//! with a useful message (line and column for XML and JSON syntax), store
//! nothing but its audit row, and leave the server serving.

use reqwest::{Method, StatusCode};
use saad_gateway::http::server::BodyLimits;
use serde_json::{Value, json};

use crate::helpers::{TestApp, json_of, spawn_app_with_limits};
use crate::snapshot;
use crate::world::{self, BEN_A, BEN_B, PLAN_A, PLAN_B, SAAD_A, SAAD_B, SAMPLE};

/// Small limits so that "oversized" costs little: 256 KiB for JSON and other
/// bodies, 1 MiB for DELIVERY.
const LIMITS: BodyLimits = BodyLimits {
    default_bytes: 256 * 1024,
    delivery_bytes: 1024 * 1024,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Financer,
    SaadA,
    Nobody,
    Raw(&'static str),
}

/// One hostile request and its documented answer.
struct Case {
    name: String,
    method: Method,
    path: String,
    who: Who,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// The error must carry `details.line` and `details.column` (≥ 1).
    located: bool,
    /// A known product bug this case shows (run by the ignored test).
    bug: Option<&'static str>,
}

fn case(name: &str, method: Method, path: &str, who: Who, status: u16, code: &'static str) -> Case {
    Case {
        name: name.to_owned(),
        method,
        path: path.to_owned(),
        who,
        content_type: None,
        headers: Vec::new(),
        body: Vec::new(),
        status,
        code,
        located: false,
        bug: None,
    }
}

impl Case {
    fn xml(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some("application/xml");
        self.body = body.into();
        self
    }
    fn json_text(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = Some("application/json");
        self.body = body.into();
        self
    }
    fn json(self, body: &Value) -> Self {
        self.json_text(body.to_string())
    }
    fn typed(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Self {
        self.content_type = content_type;
        self.body = body.into();
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn located(mut self) -> Self {
        self.located = true;
        self
    }
    fn bug(mut self, what: &'static str) -> Self {
        self.bug = Some(what);
        self
    }
}

const SQL: &str = "x'); DROP TABLE saads; --";
const SQL_OR: &str = "' OR '1'='1";
const HTML: &str = "<script>alert(document.cookie)</script>";

fn post(name: &str, path: &str, who: Who, status: u16, code: &'static str) -> Case {
    case(name, Method::POST, path, who, status, code)
}

fn get(name: &str, path: &str, who: Who, status: u16, code: &'static str) -> Case {
    case(name, Method::GET, path, who, status, code)
}

fn delivery(name: &str, status: u16, code: &'static str) -> Case {
    post(name, "/deliveries", Who::SaadA, status, code)
}

fn json_delivery(lines: Vec<Value>) -> Value {
    json!({"transmission_id": "T-BAD", "interventions": lines})
}

fn billion_laughs() -> String {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for level in 1..10 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        doc.push_str(&format!(
            " <!ENTITY lol{level} \"{}\">\n",
            format!("&{previous};").repeat(10)
        ));
    }
    doc.push_str("]>\n<lolz>&lol9;</lolz>\n");
    doc
}

fn sample_with(from: &str, to: &str) -> String {
    assert!(SAMPLE.contains(from), "the sample holds {from}");
    SAMPLE.replacen(from, to, 1)
}

fn nested_xml(depth: usize) -> String {
    format!(
        "<?xml version=\"1.0\"?>\n{}{}",
        "<a>".repeat(depth),
        "</a>".repeat(depth)
    )
}

fn invalid_utf8_xml() -> Vec<u8> {
    let mut bytes = SAMPLE
        .replacen("Alpha FICTIVE", "Alpha \u{1}", 1)
        .into_bytes();
    let at = bytes.iter().position(|&b| b == 1).expect("marker");
    bytes.splice(at..=at, [0xC3, 0x28, 0xFF]);
    bytes
}

fn saad_with(pointer: &str, value: Value) -> Value {
    let mut saad = world::saad_json(SAAD_A);
    *saad
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")) = value;
    saad
}

fn plans_with(pointer: &str, value: Value) -> Value {
    let mut plan = world::plan_json("PA-NEW-0009", SAAD_A, "BEN-NEW");
    *plan
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("{pointer}")) = value;
    json!({"plans": [plan]})
}

fn event(start: Value, end: Value, kind: &str, beneficiary: &str) -> Value {
    json!({"events": [{"beneficiary_id": beneficiary, "kind": kind, "start": start, "end": end, "note": null}]})
}

fn overrun(plan: &str, month: &str, minutes: Value) -> Value {
    json!({"plan_ref": plan, "month": month, "minutes": minutes})
}

/// The catalogue.
fn catalogue(world: &world::World) -> Vec<Case> {
    let ok_line = || {
        world::json_line(
            "L-1",
            PLAN_A,
            BEN_A,
            "2024-01-12T09:00:00",
            "2024-01-12T10:00:00",
        )
    };
    let half = &SAMPLE[..SAMPLE.len() / 2];
    let almost = &SAMPLE[..SAMPLE.len() * 9 / 10];
    let huge_attribute = SAMPLE.replacen(
        "versionID=\"1.4\"",
        &format!("versionID=\"{}\"", "A".repeat(200 * 1024)),
        1,
    );
    let huge_text = sample_with(
        "<ram:ID>INTV-2024-000811</ram:ID>",
        &format!("<ram:ID>{}</ram:ID>", "9".repeat(200 * 1024)),
    );
    let oversized_xml = format!("{SAMPLE}<!--{}-->", "x".repeat(LIMITS.delivery_bytes));
    let oversized_json = json!({"transmission_id": "T-BIG", "interventions": [], "pad": "x".repeat(LIMITS.default_bytes)});
    let nested_json = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let mut invalid_utf8_json = br#"{"transmission_id": "T-"#.to_vec();
    invalid_utf8_json.extend_from_slice(&[0xC3, 0x28, 0xFF]);
    invalid_utf8_json.extend_from_slice(br#"", "interventions": []}"#);
    let order_sample = include_str!("../fixtures/esppadom/order-apa-example.xml");
    let _ = world.invoice_a.len();

    vec![
        // ---- POST /deliveries, ESPPADOM XML
        delivery("xml: empty body", 400, "invalid_xml").xml("").located(),
        delivery("xml: truncated at half", 400, "invalid_xml").xml(half).located(),
        delivery("xml: truncated at 90 %", 400, "invalid_xml").xml(almost).located(),
        delivery("xml: not XML at all", 400, "invalid_xml").xml("hello, gateway").located(),
        delivery("xml: mismatched closing tag", 400, "invalid_xml")
            .xml(sample_with("</ram:ID>", "</ram:IDX>")).located(),
        delivery("xml: wrong message namespace", 400, "invalid_xml")
            .xml(sample_with("urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2", "urn:example:not-esppadom")).located(),
        delivery("xml: an ORDER sent as a DELIVERY", 400, "invalid_xml").xml(order_sample).located(),
        delivery("xml: billion laughs", 400, "invalid_xml").xml(billion_laughs()).located(),
        delivery("xml: external entity (XXE) on /etc/passwd", 400, "invalid_xml")
            .xml(sample_with("<ns:delivery", "<!DOCTYPE ns:delivery [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n<ns:delivery")
                .replacen("Alpha FICTIVE", "&xxe;", 1)).located(),
        delivery("xml: external DTD over the network", 400, "invalid_xml")
            .xml(sample_with("<ns:delivery", "<!DOCTYPE ns:delivery SYSTEM \"http://127.0.0.1:9/evil.dtd\">\n<ns:delivery")).located(),
        delivery("xml: undeclared entity reference", 400, "invalid_xml")
            .xml(sample_with("Alpha FICTIVE", "&undefined;")).located(),
        delivery("xml: NUL character reference", 400, "invalid_xml")
            .xml(sample_with("Alpha FICTIVE", "Alpha&#0;")).located(),
        delivery("xml: 200 KiB attribute", 400, "invalid_xml").xml(huge_attribute).located(),
        delivery("xml: 200 KiB text node", 400, "invalid_xml").xml(huge_text).located(),
        delivery("xml: 10 000 nested elements", 400, "invalid_xml").xml(nested_xml(10_000)).located(),
        delivery("xml: invalid UTF-8", 400, "invalid_xml").xml(invalid_utf8_xml()).located(),
        delivery("xml: two root elements", 400, "invalid_xml").xml(format!("{SAMPLE}<extra/>")).located(),
        delivery("xml: another SAAD's SIRET in ShipFrom", 422, "invalid_request")
            .xml(sample_with("<pie:SIRET>00000000000018</pie:SIRET>", &format!("<pie:SIRET>{SAAD_B}</pie:SIRET>"))),
        delivery("xml: no transmission id and no Idempotency-Key", 400, "invalid_request")
            .xml(sample_with("<ram:SpecifiedTransactionID>T-DEL-20240113-0001</ram:SpecifiedTransactionID>", "")),
        delivery("xml: SQL injection in the transmission id header", 400, "invalid_request")
            .xml(SAMPLE).header("idempotency-key", ""),
        delivery("xml: over the DELIVERY body limit", 413, "payload_too_large").xml(oversized_xml),
        // ---- POST /deliveries, JSON
        delivery("json: empty body", 400, "invalid_json").json_text("").located()
            .bug("column 0 for an empty JSON body (serde_json counts columns from 0 at EOF)"),
        post("events: JSON cut after a newline", "/events", Who::SaadA, 400, "invalid_json")
            .json_text("{\"events\": [\n")
            .located()
            .bug("column 0 when a JSON body ends right after a newline"),
        delivery("json: syntax error", 400, "invalid_json").json_text("{\"transmission_id\": \"T\",\n \"interventions\": [}").located(),
        delivery("json: truncated", 400, "invalid_json").json_text("{\"transmission_id\": \"T\", \"interv").located(),
        delivery("json: interventions is a string", 400, "invalid_json")
            .json(&json!({"transmission_id": "T", "interventions": "all"})).located(),
        delivery("json: no transmission_id", 400, "invalid_json").json(&json!({"interventions": [ok_line()]})).located(),
        delivery("json: empty transmission_id", 400, "invalid_request").json(&json!({"transmission_id": "  ", "interventions": [ok_line()]})),
        delivery("json: Idempotency-Key differs from transmission_id", 400, "invalid_request")
            .json(&json_delivery(vec![ok_line()])).header("idempotency-key", SQL),
        delivery("json: 300-character Idempotency-Key", 400, "invalid_request")
            .json(&json_delivery(vec![ok_line()])).header("idempotency-key", "k".repeat(300)),
        delivery("json: invalid UTF-8", 400, "invalid_json").json_text(invalid_utf8_json.clone()).located(),
        delivery("json: 5 000 nested arrays", 400, "invalid_json").json_text(nested_json.clone()).located(),
        delivery("json: declarative is a number", 400, "invalid_json").json(&json_delivery(vec![{
            let mut line = ok_line();
            line["declarative"] = json!(12);
            line
        }])).located(),
        delivery("json: over the body limit", 413, "payload_too_large").json(&oversized_json),
        delivery("content type text/plain", 415, "unsupported_media_type").typed(Some("text/plain"), SAMPLE),
        delivery("no content type", 415, "unsupported_media_type").typed(None, SAMPLE),
        delivery("multipart body", 415, "unsupported_media_type").typed(Some("multipart/form-data; boundary=x"), "--x--"),
        // ---- POST /saads (F)
        post("saads: syntax error", "/saads", Who::Financer, 400, "invalid_json").json_text("{\"siret\": }").located(),
        post("saads: top-level array", "/saads", Who::Financer, 400, "invalid_json").json(&json!([world::saad_json(SAAD_A)])).located(),
        post("saads: SQL injection in siret", "/saads", Who::Financer, 400, "invalid_json").json(&saad_with("/siret", json!(SQL))).located(),
        post("saads: HTML in siret", "/saads", Who::Financer, 400, "invalid_json").json(&saad_with("/siret", json!(HTML))).located(),
        post("saads: invalid IBAN", "/saads", Who::Financer, 422, "invalid_request").json(&saad_with("/iban", json!("FR7630006000011234567890180"))),
        post("saads: SQL injection in IBAN", "/saads", Who::Financer, 422, "invalid_request").json(&saad_with("/iban", json!(SQL_OR))),
        post("saads: HTML in BIC", "/saads", Who::Financer, 422, "invalid_request").json(&saad_with("/bic", json!(HTML))),
        post("saads: unknown aid type", "/saads", Who::Financer, 400, "invalid_json").json(&saad_with("/aid_types/0/aid_type", json!("XYZ"))).located(),
        post("saads: negative hourly rate", "/saads", Who::Financer, 422, "invalid_request").json(&saad_with("/aid_types/0/tariffs/0/hourly_rate", json!("-24.00"))),
        post("saads: absurd hourly rate", "/saads", Who::Financer, 400, "invalid_json").json(&saad_with("/aid_types/0/tariffs/0/hourly_rate", json!("1e400"))).located(),
        post("saads: 30 February", "/saads", Who::Financer, 400, "invalid_json").json(&saad_with("/aid_types/0/tariffs/0/valid_from", json!("2024-02-30"))).located(),
        post("saads: year 99999", "/saads", Who::Financer, 400, "invalid_json").json(&saad_with("/aid_types/0/tariffs/0/valid_from", json!("99999-01-01"))).located(),
        post("saads: XML content type", "/saads", Who::Financer, 415, "unsupported_media_type").xml("<saad/>"),
        post("saads: over the body limit", "/saads", Who::Financer, 413, "payload_too_large").json(&oversized_json),
        // ---- POST /orders (F)
        post("orders: truncated ORDER", "/orders", Who::Financer, 400, "invalid_xml").xml(&order_sample[..order_sample.len() / 2]).located(),
        post("orders: billion laughs", "/orders", Who::Financer, 400, "invalid_xml").xml(billion_laughs()).located(),
        post("orders: a DELIVERY sent as an ORDER", "/orders", Who::Financer, 400, "invalid_xml").xml(SAMPLE).located(),
        post("orders: unknown field", "/orders", Who::Financer, 400, "invalid_json").json(&json!({"plans": [], "drop": SQL})).located(),
        post("orders: monthly_minutes is text", "/orders", Who::Financer, 400, "invalid_json").json(&plans_with("/monthly_minutes", json!("lots"))).located(),
        post("orders: monthly_minutes beyond i64", "/orders", Who::Financer, 400, "invalid_json").json_text(plans_with("/monthly_minutes", json!(0)).to_string().replace("\"monthly_minutes\":0", "\"monthly_minutes\":99999999999999999999999")).located(),
        post("orders: unknown aid type", "/orders", Who::Financer, 400, "invalid_json").json(&plans_with("/aid_type", json!("APA'--"))).located(),
        post("orders: text/csv", "/orders", Who::Financer, 415, "unsupported_media_type").typed(Some("text/csv"), "plan_ref\nP"),
        // ---- POST /events (F+S)
        post("events: end before start", "/events", Who::SaadA, 422, "invalid_request").json(&event(json!("2024-01-20"), json!("2024-01-10"), "HOSPITALISATION", BEN_A)),
        post("events: month 13", "/events", Who::SaadA, 400, "invalid_json").json(&event(json!("2024-13-01"), json!(null), "HOSPITALISATION", BEN_A)).located(),
        post("events: SQL injection as a date", "/events", Who::SaadA, 400, "invalid_json").json(&event(json!(SQL), json!(null), "HOSPITALISATION", BEN_A)).located(),
        post("events: another SAAD's beneficiary", "/events", Who::SaadA, 404, "not_found").json(&event(json!("2024-01-20"), json!(null), "HOSPITALISATION", BEN_B)),
        post("events: events is an object", "/events", Who::SaadA, 400, "invalid_json").json(&json!({"events": {"a": 1}})).located(),
        post("events: 5 000 nested arrays", "/events", Who::SaadA, 400, "invalid_json").json_text(nested_json).located(),
        post("events: XML body", "/events", Who::SaadA, 415, "unsupported_media_type").xml("<events/>"),
        // ---- POST /overrun-authorisations (F)
        post("overruns: zero minutes", "/overrun-authorisations", Who::Financer, 422, "invalid_request").json(&overrun(PLAN_A, "2024-01", json!(0))),
        post("overruns: negative minutes", "/overrun-authorisations", Who::Financer, 422, "invalid_request").json(&overrun(PLAN_A, "2024-01", json!(-60))),
        post("overruns: minutes beyond i64", "/overrun-authorisations", Who::Financer, 400, "invalid_json")
            .json_text(format!("{{\"plan_ref\": \"{PLAN_A}\", \"month\": \"2024-01\", \"minutes\": 99999999999999999999999}}")).located(),
        post("overruns: fractional minutes", "/overrun-authorisations", Who::Financer, 400, "invalid_json").json(&overrun(PLAN_A, "2024-01", json!(1.5))).located(),
        post("overruns: month 13", "/overrun-authorisations", Who::Financer, 400, "invalid_json").json(&overrun(PLAN_A, "2024-13", json!(60))).located(),
        post("overruns: SQL injection as plan", "/overrun-authorisations", Who::Financer, 404, "not_found").json(&overrun(SQL_OR, "2024-01", json!(60))),
        post("overruns: unknown field", "/overrun-authorisations", Who::Financer, 400, "invalid_json")
            .json(&json!({"plan_ref": PLAN_B, "month": "2024-01", "minutes": 60, "approved_by": HTML})).located(),
        // ---- months, invoices, rejections, batches, clock
        post("close: month 13", "/months/2024-13/close", Who::Financer, 400, "invalid_request"),
        post("close: SQL injection as month", "/months/'%20OR%20'1'%3D'1/close", Who::Financer, 400, "invalid_request"),
        post("close: a month not over", "/months/2099-01/close", Who::Financer, 409, "conflict"),
        get("invoices: month 99", "/invoices?month=2024-99", Who::SaadA, 400, "invalid_request"),
        get("invoices: no month", "/invoices", Who::SaadA, 400, "invalid_request"),
        get("invoices: HTML as id", "/invoices/%3Cscript%3Ealert(1)%3C%2Fscript%3E", Who::SaadA, 404, "not_found"),
        post("invoices: validate an unknown id", &format!("/invoices/{}/validate", "%27%20OR%201%3D1--"), Who::SaadA, 404, "not_found"),
        get("rejections: month is text", "/rejections?month=january", Who::SaadA, 400, "invalid_request"),
        get("rejections: HTML in saad_siret", &format!("/rejections?month=2024-01&saad_siret={}", "%3Cb%3E"), Who::Financer, 404, "not_found"),
        get("batches: SQL injection as id", "/batches/%27%20OR%20%271%27%3D%271", Who::Financer, 404, "not_found"),
        post("clock: not a date", "/admin/clock", Who::Financer, 400, "invalid_json").json(&json!({"now": "yesterday"})).located(),
        // ---- authentication and methods
        get("no token", "/orders", Who::Nobody, 401, "unauthorized"),
        get("HTML as token", "/orders", Who::Raw(HTML), 401, "unauthorized"),
        get("8 KiB token", "/orders", Who::Raw("8k"), 401, "unauthorized"),
        case("PUT on /saads", Method::PUT, "/saads", Who::Financer, 405, "method_not_allowed"),
        case("DELETE on an invoice", Method::DELETE, "/invoices/x", Who::Financer, 405, "method_not_allowed"),
    ]
}

async fn send(app: &TestApp, world: &world::World, case: &Case) -> reqwest::Response {
    let mut request = app.client.request(case.method.clone(), app.url(&case.path));
    request = match case.who {
        Who::Financer => request.bearer_auth(&app.financer),
        Who::SaadA => request.bearer_auth(&world.token_a),
        Who::Nobody => request,
        Who::Raw("8k") => request.bearer_auth("t".repeat(8 * 1024)),
        Who::Raw(token) => request.header("authorization", format!("Bearer {token}")),
    };
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    for (name, value) in &case.headers {
        request = request.header(*name, value);
    }
    request.body(case.body.clone()).send().await.expect("send")
}

/// What went wrong with one case (empty: nothing).
async fn judge(app: &TestApp, world: &world::World, case: &Case) -> Vec<String> {
    let mut problems = Vec::new();
    let before = snapshot::counts(&app.store).await;
    let audit_before = snapshot::audit_rows(&app.store).await;
    let response = send(app, world, case).await;
    let status = response.status().as_u16();
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.unwrap_or_default();
    if status != case.status {
        problems.push(format!("status {status}, expected {}", case.status));
    }
    match serde_json::from_str::<Value>(&text) {
        Err(_) => problems.push("body is not JSON".to_owned()),
        Ok(body) => {
            let error = &body["error"];
            if error["code"] != case.code {
                problems.push(format!("code {}, expected {}", error["code"], case.code));
            }
            match error["message"].as_str() {
                Some(message) if message.len() >= 10 => {
                    // Quoting the faulty value is useful; echoing a 200 KiB
                    // one back is not.
                    if message.len() > 1024 {
                        problems.push(format!("message of {} bytes", message.len()));
                    }
                }
                _ => problems.push("no useful message".to_owned()),
            }
            if error.get("details").is_none() {
                problems.push("no details member".to_owned());
            }
            if error["request_id"].as_str() != header_id.as_deref() {
                problems.push("request_id differs from X-Request-Id".to_owned());
            }
            if case.located {
                let line = error["details"]["line"].as_u64().unwrap_or(0);
                let column = error["details"]["column"].as_u64().unwrap_or(0);
                if line == 0 || column == 0 {
                    problems.push("no line/column in details".to_owned());
                }
            }
        }
    }
    let after = snapshot::counts(&app.store).await;
    if after != before {
        let changed: Vec<_> = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| b != a)
            .map(|((t, b), (_, a))| format!("{t}: {b} -> {a}"))
            .collect();
        problems.push(format!("stored something: {}", changed.join(", ")));
    }
    let audit_after = snapshot::audit_rows(&app.store).await;
    if audit_after - audit_before > 1 {
        problems.push(format!("{} audit rows", audit_after - audit_before));
    }
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .map(|r| r.status());
    if !matches!(health, Ok(StatusCode::OK)) {
        problems.push(format!("server not serving after it: {health:?}"));
    }
    if !problems.is_empty() {
        problems.push(format!(
            "body: {}",
            text.chars().take(400).collect::<String>()
        ));
    }
    problems
}

#[tokio::test]
async fn every_hostile_request_of_the_catalogue_gets_its_4xx_stores_nothing_and_the_server_keeps_serving()
 {
    run_catalogue(false).await;
}

#[tokio::test]
async fn catalogue_cases_showing_known_bugs_answer_as_documented() {
    run_catalogue(true).await;
}

async fn run_catalogue(known_bugs: bool) {
    let app = spawn_app_with_limits(world::RECEIVED, LIMITS).await;
    let world = world::build(&app).await;
    let all = catalogue(&world);
    assert!(all.len() >= 60, "{} cases", all.len());
    let cases: Vec<&Case> = all
        .iter()
        .filter(|c| c.bug.is_some() == known_bugs)
        .collect();
    let mut failures = Vec::new();
    for case in cases.iter().copied() {
        let problems = judge(&app, &world, case).await;
        if !problems.is_empty() {
            failures.push(format!("{}: {}", case.name, problems.join("; ")));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Refused requests are recorded in the audit log with their status, and a
/// refused POST leaves exactly that one row.
#[tokio::test]
async fn a_refused_post_leaves_exactly_its_audit_row() {
    let app = spawn_app_with_limits(world::RECEIVED, LIMITS).await;
    let (token_a, _) = world::saads_and_plans(&app).await;
    let since = app.clock.now();
    let before = snapshot::counts(&app.store).await;
    let body = event(
        json!("2024-01-20"),
        json!("2024-01-10"),
        "HOSPITALISATION",
        BEN_A,
    );
    let response = app.post_json("/events", &token_a, &body).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(snapshot::counts(&app.store).await, before);
    let audit = app.store.audit_since(since).await.expect("audit");
    let rows: Vec<_> = audit
        .iter()
        .filter(|e| e.action.contains("/events"))
        .collect();
    assert_eq!(rows.len(), 1, "{audit:?}");
    assert_eq!(rows[0].outcome, "refused:422");
    assert_eq!(rows[0].saad_siret.as_deref(), Some(SAAD_A));
    assert!(rows[0].token_id.is_some());
}

/// Injection strings in free-text fields are data: stored verbatim, given
/// back verbatim (JSON-escaped), and they change nothing else.
#[tokio::test]
async fn sql_and_html_in_free_text_fields_are_stored_verbatim_and_harm_nothing() {
    let app = spawn_app_with_limits(world::RECEIVED, LIMITS).await;
    let (token_a, _) = world::saads_and_plans(&app).await;
    let mut saad = world::saad_json(SAAD_A);
    saad["name"] = json!(format!("{SQL} {HTML}"));
    let body = json_of(
        app.post_json("/saads", &app.financer, &saad).await,
        StatusCode::OK,
    )
    .await;
    assert_eq!(body["name"], format!("{SQL} {HTML}"));
    let stored = app
        .store
        .get_saad(SAAD_A)
        .await
        .expect("get")
        .expect("saad");
    assert_eq!(stored.name, format!("{SQL} {HTML}"));
    let events = json!({"events": [{"beneficiary_id": BEN_A, "kind": "HOSPITALISATION",
        "start": "2024-01-05", "end": null, "note": format!("{HTML} {SQL}")}]});
    let response = app.post_json("/events", &token_a, &events).await;
    let content_type = response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body = json_of(response, StatusCode::OK).await;
    assert_eq!(body["events"][0]["note"], format!("{HTML} {SQL}"));
    let stored = app
        .store
        .events_of(&[BEN_A.to_owned()])
        .await
        .expect("events");
    assert_eq!(
        stored[0].note.as_deref(),
        Some(format!("{HTML} {SQL}").as_str())
    );
    // Every table is still there and the other SAAD untouched.
    snapshot::counts(&app.store).await;
    assert!(app.store.get_saad(SAAD_B).await.expect("get").is_some());
    assert_eq!(
        app.store.plan_versions(PLAN_B).await.expect("plans").len(),
        1
    );
}
