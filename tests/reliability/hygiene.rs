//! Hygiene: the real binary's JSON logs over a whole session never hold a
//! token, a beneficiary's or worker's name, or a database password; secrets
//! come from the environment or files; the TLS key is private to its owner;
//! the audit log says who changed what (token id, never the token).

use std::os::unix::fs::PermissionsExt;

use reqwest::StatusCode;
use saad_gateway::service::tokens::create_token;
use saad_gateway::storage::{Store, StoreConfig, TokenRole};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{TestDb, parse_time};
use crate::process::Gateway;
use crate::world::{self, BEN_A, PLAN_A, SAAD_A, SAMPLE};

/// Personal names in the sample DELIVERY and in the session's bodies.
const NAMES: &[&str] = &["Alpha", "Fictive", "Jeanne Dupont", "Marcel Martin"];

async fn session(gateway: &Gateway, financer: &str, saad: &str) {
    gateway.set_now(financer, world::RECEIVED).await;
    for siret in [SAAD_A, world::SAAD_B] {
        let response = gateway
            .post_json("/saads", financer, &world::saad_json(siret))
            .await
            .expect("saad");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let plans = json!({"plans": [world::plan_json(PLAN_A, SAAD_A, BEN_A)]});
    gateway
        .post_json("/orders", financer, &plans)
        .await
        .expect("plans");
    // The sample DELIVERY carries the beneficiary's first and last names.
    let response = gateway
        .client
        .post(gateway.url("/deliveries"))
        .bearer_auth(saad)
        .header("content-type", "application/xml")
        .body(SAMPLE)
        .send()
        .await
        .expect("delivery");
    assert_eq!(response.status(), StatusCode::OK);
    // Refused requests whose faulty values are names: the error may quote
    // them to the client, the log must not.
    let mut bad_saad = world::saad_json(SAAD_A);
    bad_saad["siret"] = json!("Jeanne Dupont");
    let response = gateway
        .post_json("/saads", financer, &bad_saad)
        .await
        .expect("bad saad");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let bad_event = json!({"events": [{"beneficiary_id": BEN_A, "kind": "HOSPITALISATION",
        "start": "Marcel Martin", "end": null, "note": "Marcel Martin"}]});
    let response = gateway
        .post_json("/events", saad, &bad_event)
        .await
        .expect("bad event");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let xml = SAMPLE.replacen(
        "<ram:IssueDateTime>2024-01-13T07:00:00</ram:IssueDateTime>",
        "<ram:IssueDateTime>Jeanne Dupont</ram:IssueDateTime>",
        1,
    );
    let _ = gateway
        .client
        .post(gateway.url("/deliveries"))
        .bearer_auth(saad)
        .header("content-type", "application/xml")
        .header("idempotency-key", "T-NAMES")
        .body(xml)
        .send()
        .await
        .expect("xml");
    // A wrong token.
    let _ = gateway
        .client
        .get(gateway.url("/orders"))
        .bearer_auth(format!("{saad}x"))
        .send()
        .await;
    let _ = gateway
        .client
        .get(format!("{}/metrics", gateway.base))
        .send()
        .await;
}

/// Starts the binary at debug level on a fresh SQLite file with a financer
/// and a SAAD token.
async fn logged_gateway(data: &std::path::Path) -> (Gateway, String, String) {
    let url = format!("sqlite://{}", data.join("gw.db").display());
    let store = Store::open(&StoreConfig::new(url.clone()))
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    let financer = create_token(&store, TokenRole::Financer, None)
        .await
        .expect("token");
    let saad = create_token(&store, TokenRole::Saad, Some(SAAD_A))
        .await
        .expect("token");
    store.close().await;
    // Debug level: what an operator turns on when something goes wrong.
    let gateway = Gateway::start_with_env(&url, data, &[("RUST_LOG", "debug")]);
    (gateway, financer, saad)
}

fn assert_no_token(log: &str, tokens: &[&String]) {
    for token in tokens {
        let found: Vec<String> = lines_with(log, &token[..20])
            .into_iter()
            .map(|l| l.replace(token.as_str(), "<TOKEN>"))
            .collect();
        assert!(
            found.is_empty(),
            "a token is in the log:\n{}",
            found.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_misplaced_in_the_query_string_is_not_logged() {
    let data = tempfile::tempdir().expect("dir");
    let (gateway, financer, saad) = logged_gateway(data.path()).await;
    let response = gateway
        .client
        .get(gateway.url(&format!("/orders?access_token={saad}")))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    gateway.sigkill();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_no_token(&gateway.log_text(), &[&financer, &saad]);
}

/// Lines of the log that contain `needle` (case-insensitive).
fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    let needle = needle.to_lowercase();
    log.lines()
        .filter(|l| l.to_lowercase().contains(&needle))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_logs_of_a_session_hold_no_token_and_no_personal_name() {
    let data = tempfile::tempdir().expect("dir");
    let (gateway, financer, saad) = logged_gateway(data.path()).await;
    session(&gateway, &financer, &saad).await;
    gateway.sigkill();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = gateway.log_text();
    assert!(
        log.lines().filter(|l| l.starts_with('{')).count() >= 10,
        "too few JSON log lines:\n{log}"
    );
    assert_no_token(&log, &[&financer, &saad]);
    let mut leaks = Vec::new();
    for name in NAMES {
        for line in lines_with(&log, name) {
            leaks.push(format!("{name}: {line}"));
        }
    }
    assert!(
        leaks.is_empty(),
        "personal names in the log:\n{}",
        leaks.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_comes_from_the_environment_and_is_never_logged_or_served() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let Store::Postgres(s) = &db.store else {
        unreachable!()
    };
    let name = s
        .pool()
        .connect_options()
        .get_database()
        .expect("name")
        .to_owned();
    // The shared server trusts local connections: the password is carried
    // and ignored, which is all this test needs.
    let url = format!("postgres://postgres:S3cret-Pw-4711@127.0.0.1:5432/{name}");
    let data = tempfile::tempdir().expect("dir");
    let mut command = std::process::Command::new(crate::process::binary());
    let output = command
        .env("SAAD_GATEWAY_DATABASE_URL", &url)
        .arg("--data-dir")
        .arg(data.path())
        .args(["token", "create", "--role", "financer"])
        .output()
        .expect("token create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "only the token on stdout");
    let financer = stdout.trim().to_owned();
    assert_eq!(financer.len(), 43);
    // serve: the URL only in the environment, never on the command line.
    let gateway = {
        let mut child_env = vec![("SAAD_GATEWAY_DATABASE_URL", url.as_str())];
        child_env.push(("RUST_LOG", "debug"));
        start_without_url_flag(data.path(), &child_env)
    };
    let health = gateway
        .client
        .get(format!("{}/healthz", gateway.base))
        .send()
        .await
        .expect("healthz");
    let health = health.text().await.expect("body");
    let metrics = gateway
        .client
        .get(format!("{}/metrics", gateway.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    let response = gateway
        .client
        .get(gateway.url("/batches"))
        .bearer_auth(&financer)
        .send()
        .await
        .expect("batches");
    assert_eq!(response.status(), StatusCode::OK);
    gateway.sigkill();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = gateway.log_text();
    for (what, text) in [
        ("log", log.as_str()),
        ("healthz", health.as_str()),
        ("metrics", metrics.as_str()),
        (
            "stderr of token create",
            &String::from_utf8_lossy(&output.stderr),
        ),
    ] {
        assert!(
            !text.contains("S3cret-Pw-4711"),
            "the password is in the {what}"
        );
        assert!(!text.contains(&financer), "the token is in the {what}");
    }
    // The generated TLS key is readable by its owner only.
    let key = data.path().join("saad-gateway-key.pem");
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "key mode {mode:o}");
    drop(db);
}

/// `serve` with everything from the environment (`SAAD_GATEWAY_*`).
fn start_without_url_flag(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Gateway {
    // Gateway::start passes --database-url; this one must not.
    Gateway::start_env_only(data_dir, env)
}

#[tokio::test]
async fn the_audit_log_names_the_token_id_the_saad_the_action_and_the_target_of_each_change() {
    let app = crate::helpers::spawn_app(world::RECEIVED).await;
    let since = parse_time("2000-01-01T00:00:00Z");
    let (token_a, _) = world::saads_and_plans(&app).await;
    let response = app.post_xml("/deliveries", &token_a, SAMPLE).await;
    assert_eq!(response.status(), StatusCode::OK);
    let audit = app.store.audit_since(since).await.expect("audit");
    let financer_id = token_id(&app.store, &app.financer).await;
    let saad_id = token_id(&app.store, &token_a).await;
    let saad_rows: Vec<_> = audit
        .iter()
        .filter(|e| e.action.contains("/saads"))
        .collect();
    assert_eq!(saad_rows.len(), 2, "{audit:?}");
    for row in &saad_rows {
        assert_eq!(row.token_id.as_deref(), Some(financer_id.as_str()));
        assert_eq!(row.outcome, "stored");
        assert!(row.saad_siret.is_some() && row.target.is_some(), "{row:?}");
    }
    for row in &audit {
        for token in [&app.financer, &token_a] {
            let text = format!("{row:?}");
            assert!(
                !text.contains(token.as_str()),
                "a token in the audit log: {text}"
            );
        }
    }
    let _ = saad_id;
}

#[tokio::test]
async fn the_audit_log_names_the_saad_token_and_transmission_of_each_delivery() {
    let app = crate::helpers::spawn_app(world::RECEIVED).await;
    let since = parse_time("2000-01-01T00:00:00Z");
    let (token_a, _) = world::saads_and_plans(&app).await;
    let response = app.post_xml("/deliveries", &token_a, SAMPLE).await;
    assert_eq!(response.status(), StatusCode::OK);
    let audit = app.store.audit_since(since).await.expect("audit");
    let saad_id = token_id(&app.store, &token_a).await;
    let delivery: Vec<_> = audit
        .iter()
        .filter(|e| e.action.contains("/deliveries"))
        .collect();
    assert_eq!(delivery.len(), 1, "{audit:?}");
    assert_eq!(delivery[0].token_id.as_deref(), Some(saad_id.as_str()));
    assert_eq!(delivery[0].saad_siret.as_deref(), Some(SAAD_A));
    assert_eq!(delivery[0].target.as_deref(), Some("T-DEL-20240113-0001"));
    for row in &audit {
        for token in [&app.financer, &token_a] {
            let text = format!("{row:?}");
            assert!(
                !text.contains(token.as_str()),
                "a token in the audit log: {text}"
            );
        }
        assert!(
            !format!("{row:?}").contains("Fictive"),
            "a name in the audit log: {row:?}"
        );
    }
}

/// The public id of a token (what the audit log names).
async fn token_id(store: &Store, token: &str) -> String {
    let hash = hex::encode(Sha256::digest(token.as_bytes()));
    store
        .find_token_by_hash(&hash)
        .await
        .expect("lookup")
        .expect("token")
        .id
}
