//! `spawn_app`: the real gateway on a fresh database over HTTPS, and a small
//! typed client. Tests never sleep to wait for the server: the listener is
//! bound before `spawn_app` returns.

#![allow(dead_code)]

#[path = "../storage/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::{Response, StatusCode};
use saad_gateway::charter;
use saad_gateway::http::clock::Clock;
use saad_gateway::http::server::{BodyLimits, DeliveryParts, ServerConfig};
use saad_gateway::http::tls::SELF_SIGNED_CERT_FILE;
use saad_gateway::http::tls::TlsSource;
use saad_gateway::service::tokens::create_token;
use saad_gateway::storage::{Store, TokenRole};
use serde_json::Value;

pub use support::TestDb;

/// Which database the gateway runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running gateway and a client that trusts its certificate.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Store,
    /// A financer token.
    pub financer: String,
    /// The manual clock (every test app runs with `--clock manual`).
    pub clock: Clock,
    handle: actix_web::dev::ServerHandle,
    _db: TestDb,
    _data_dir: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// Starts the gateway on SQLite with a manual clock set to `now`.
pub async fn spawn_app(now: &str) -> TestApp {
    spawn_app_on(Backend::Sqlite, now)
        .await
        .expect("SQLite is always available")
}

/// Starts the gateway on a backend; `None` when PostgreSQL is unreachable
/// outside CI (under `CI=true` that panics instead).
pub async fn spawn_app_on(backend: Backend, now: &str) -> Option<TestApp> {
    spawn_app_configured(backend, now, None, None).await
}

/// Starts the gateway on SQLite with small body limits (413 tests).
pub async fn spawn_app_with_limits(now: &str, limits: BodyLimits) -> TestApp {
    spawn_app_configured(Backend::Sqlite, now, Some(limits), None)
        .await
        .expect("SQLite is always available")
}

/// Starts the gateway reading DELIVERY bodies over `parts.bytes` in parts
/// of `parts.lines` lines; `None` when PostgreSQL is unreachable outside CI.
pub async fn spawn_app_with_parts(
    backend: Backend,
    now: &str,
    parts: DeliveryParts,
) -> Option<TestApp> {
    spawn_app_configured(backend, now, None, Some(parts)).await
}

/// Starts the gateway; `body_limits` and `parts` replace the defaults when
/// given.
async fn spawn_app_configured(
    backend: Backend,
    now: &str,
    body_limits: Option<BodyLimits>,
    parts: Option<DeliveryParts>,
) -> Option<TestApp> {
    saad_gateway::http::tls::install_crypto_provider();
    let db = match backend {
        Backend::Sqlite => TestDb::sqlite().await,
        Backend::Postgres => TestDb::postgres().await?,
    };
    let store = db.store.clone();
    store.migrate().await.expect("migrate");
    let params = Arc::new(charter::load_dir(&charter::default_dir()).expect("charter"));
    let data_dir = tempfile::tempdir().expect("data dir");
    let defaults = ServerConfig::default();
    let config = ServerConfig {
        body_limits: body_limits.unwrap_or(defaults.body_limits),
        delivery_parts: parts.unwrap_or(defaults.delivery_parts),
        listen: "127.0.0.1:0".into(),
        tls: Some(TlsSource::SelfSigned {
            data_dir: data_dir.path().to_path_buf(),
        }),
        workers: Some(2),
        handle_signals: false,
        shutdown_timeout: Duration::from_secs(5),
        ..defaults
    };
    let clock = Clock::manual(parse_time(now));
    let running = saad_gateway::http::gateway::start(config, store.clone(), params, clock.clone())
        .expect("start gateway");
    let base = running.base_url();
    let handle = running.handle();
    tokio::spawn(running.run_until_stopped());
    let cert = std::fs::read(data_dir.path().join(SELF_SIGNED_CERT_FILE)).expect("certificate");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
        .https_only(true)
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let financer = create_token(&store, TokenRole::Financer, None)
        .await
        .expect("financer token");
    Some(TestApp {
        base,
        client,
        store,
        financer,
        clock,
        handle,
        _db: db,
        _data_dir: data_dir,
    })
}

/// Parses an RFC 3339 instant (tests' fixed times).
pub fn parse_time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

impl TestApp {
    /// The full URL of an API path (`/api/v1` + path).
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// A token for a SAAD.
    pub async fn saad_token(&self, siret: &str) -> String {
        create_token(&self.store, TokenRole::Saad, Some(siret))
            .await
            .expect("saad token")
    }

    /// Moves the manual clock.
    pub fn set_now(&self, now: &str) {
        self.clock.set(parse_time(now)).expect("manual clock");
    }

    /// `GET` with a bearer token.
    pub async fn get(&self, path: &str, token: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET")
    }

    /// `POST` of a JSON body with a bearer token.
    pub async fn post_json(&self, path: &str, token: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("POST json")
    }

    /// `POST` of an XML body with a bearer token.
    pub async fn post_xml(
        &self,
        path: &str,
        token: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "application/xml")
            .body(body)
            .send()
            .await
            .expect("POST xml")
    }
}

/// Asserts a status and returns the JSON body.
pub async fn json_of(response: Response, status: StatusCode) -> Value {
    let actual = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(actual, status, "body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts the contract's error shape (`{"error": {"code", "message", "details"}}`)
/// and returns the `error` object.
pub async fn error_of(response: Response, status: StatusCode, code: &str) -> Value {
    let body = json_of(response, status).await;
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "body: {body}");
    assert!(error["message"].is_string(), "body: {body}");
    assert!(error.get("details").is_some(), "body: {body}");
    error
}
