//! Black-box tests of the HTTP skeleton: each test starts the real server on
//! 127.0.0.1 port 0 over TLS with the generated self-signed certificate and
//! talks to it with a real HTTPS client (reqwest + rustls) trusting that
//! certificate.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use saad_gateway::http::auth::{InMemoryTokens, Principal, Role, require_financer, require_saad};
use saad_gateway::http::clock::Clock;
use saad_gateway::http::error::{ApiError, parse_json};
use saad_gateway::http::health::{AlwaysHealthy, HealthCheck, HealthError};
use saad_gateway::http::metrics::Metrics;
use saad_gateway::http::rate_limit::{Limit, RateLimitConfig};
use saad_gateway::http::server::{BodyLimits, StopHandle};
use saad_gateway::http::tls::{SELF_SIGNED_CERT_FILE, TlsSource};
use saad_gateway::http::{Server, ServerConfig, ServerDeps, not_built_yet};
use serde_json::{Value, json};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Knobs a test may turn.
struct Options {
    clock: Clock,
    health: Arc<dyn HealthCheck>,
    rate_limits: RateLimitConfig,
    max_body: usize,
    data_dir: Option<std::path::PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            clock: Clock::System,
            health: Arc::new(AlwaysHealthy),
            rate_limits: RateLimitConfig {
                per_ip: Limit::new(1000, 1000),
                per_token: Limit::new(1000, 1000),
                prune_every: Duration::from_secs(60),
            },
            max_body: 16 * 1024,
            data_dir: None,
        }
    }
}

struct TestApp {
    base: String,
    client: reqwest::Client,
    handle: StopHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    slow: SlowGate,
    financer: String,
    saad: String,
    cert_pem: Vec<u8>,
    _data_dir: Option<tempfile::TempDir>,
}

impl TestApp {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Result<reqwest::Response> {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await
    }

    /// Drops the client first: its idle keep-alive connections would
    /// otherwise hold a graceful stop until the shutdown timeout.
    async fn stop(self) {
        let Self {
            client,
            handle,
            server,
            ..
        } = self;
        drop(client);
        handle.stop(true).await;
        let _ = server.await;
    }
}

#[derive(Debug, serde::Deserialize)]
#[expect(dead_code, reason = "only deserialised")]
struct Strict {
    lines: Vec<Line>,
}

#[derive(Debug, serde::Deserialize)]
#[expect(dead_code, reason = "only deserialised")]
struct Line {
    minutes: u32,
}

/// Holds `/test/slow` requests in their handler until the test releases
/// them; one per server, so tests running in parallel do not see each
/// other's requests.
#[derive(Clone, Default)]
struct SlowGate {
    started: Arc<tokio::sync::Notify>,
    release: Arc<tokio::sync::Notify>,
}

/// Routes standing in for the real ones, relative to /api/v1.
fn test_routes(cfg: &mut web::ServiceConfig) {
    // A resource (rather than `cfg.route`) answers 405 for other methods.
    cfg.service(web::resource("/test/financer-only").route(web::get().to(
        |principal: Principal| async move {
            require_financer(&principal)?;
            Ok::<_, ApiError>(HttpResponse::Ok().json(json!({"ok": true})))
        },
    )))
    .route(
        "/test/saad-only",
        web::get().to(|principal: Principal| async move {
            let siret = require_saad(&principal)?.to_owned();
            Ok::<_, ApiError>(HttpResponse::Ok().json(json!({ "siret": siret })))
        }),
    )
    .route(
        "/test/echo",
        web::post().to(|body: web::Json<Value>| async move { HttpResponse::Ok().json(body.0) }),
    )
    .route(
        "/test/strict",
        web::post().to(|body: web::Bytes| async move {
            parse_json::<Strict>(&body)?;
            Ok::<_, ApiError>(HttpResponse::NoContent().finish())
        }),
    )
    .route(
        "/test/slow",
        web::get().to(|gate: web::Data<SlowGate>| async move {
            gate.started.notify_one();
            gate.release.notified().await;
            HttpResponse::Ok().json(json!({"slow": "done"}))
        }),
    )
    .route(
        "/test/now",
        web::get().to(|clock: web::Data<Clock>| async move {
            HttpResponse::Ok().json(json!({ "now": clock.now() }))
        }),
    )
    .route(
        "/test/broken",
        web::get().to(|| async {
            Err::<HttpResponse, _>(ApiError::internal_message(
                "connection string postgres://secret",
            ))
        }),
    )
    .route("/invoices", web::get().to(not_built_yet));
}

async fn spawn_app(options: Options) -> Result<TestApp, Box<dyn std::error::Error>> {
    let (data_dir, owned) = match options.data_dir {
        Some(dir) => (dir, None),
        None => {
            let dir = tempfile::tempdir()?;
            (dir.path().to_path_buf(), Some(dir))
        }
    };
    let mut tokens = InMemoryTokens::new();
    let financer = tokens.issue("tok-financer", Role::Financer);
    let saad = tokens.issue(
        "tok-saad",
        Role::Saad {
            siret: "12345678900011".into(),
        },
    );
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        tls: Some(TlsSource::SelfSigned {
            data_dir: data_dir.clone(),
        }),
        body_limits: BodyLimits {
            default_bytes: options.max_body,
            delivery_bytes: options.max_body,
        },
        rate_limits: options.rate_limits,
        workers: Some(1),
        shutdown_timeout: Duration::from_secs(10),
        handle_signals: false,
        ..ServerConfig::default()
    };
    let deps = ServerDeps {
        tokens: Arc::new(tokens),
        health: options.health,
        clock: options.clock,
        metrics: Metrics::new()?,
    };
    let slow = SlowGate::default();
    let gate = web::Data::new(slow.clone());
    let routes = move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(gate.clone());
        test_routes(cfg);
    };
    let running = Server::build(config, routes, deps)?;
    let base = running.base_url();
    let handle = running.stop_handle();
    let server = tokio::spawn(running.run_until_stopped());
    let cert_pem = std::fs::read(data_dir.join(SELF_SIGNED_CERT_FILE))?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert_pem)?)
        .https_only(true)
        .timeout(Duration::from_secs(20))
        .build()?;
    Ok(TestApp {
        base,
        client,
        handle,
        server,
        slow,
        financer,
        saad,
        cert_pem,
        _data_dir: owned,
    })
}

/// Checks the contract's error shape and returns the `error` object.
async fn error_of(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status);
    let header_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let error = body.get("error").cloned().unwrap_or(Value::Null);
    assert_eq!(error["code"], code, "body: {body}");
    assert!(error["message"].is_string(), "body: {body}");
    assert!(error.get("details").is_some(), "body: {body}");
    assert_eq!(
        error["request_id"].as_str(),
        header_id.as_deref(),
        "request id in body and header: {body}"
    );
    error
}

#[tokio::test]
async fn a_request_without_a_token_is_unauthorized_in_the_error_shape() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app.get("/api/v1/test/financer-only", None).await?;
    assert!(response.headers().contains_key("www-authenticate"));
    error_of(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let (unknown, _hash) = saad_gateway::http::auth::generate_token();
    let response = app
        .get("/api/v1/test/financer-only", Some(&unknown))
        .await?;
    error_of(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    let response = app
        .client
        .get(app.url("/api/v1/test/financer-only"))
        .header("Authorization", format!("Basic {}", app.financer))
        .send()
        .await?;
    error_of(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn each_role_is_forbidden_on_the_other_roles_routes() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app
        .get("/api/v1/test/financer-only", Some(&app.saad))
        .await?;
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;
    let response = app
        .get("/api/v1/test/saad-only", Some(&app.financer))
        .await?;
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;

    let response = app
        .get("/api/v1/test/financer-only", Some(&app.financer))
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.get("/api/v1/test/saad-only", Some(&app.saad)).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    assert_eq!(body["siret"], "12345678900011");
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_token_over_its_burst_gets_429_with_retry_after() -> TestResult {
    let app = spawn_app(Options {
        rate_limits: RateLimitConfig {
            per_ip: Limit::new(1000, 1000),
            per_token: Limit::new(1, 3),
            prune_every: Duration::from_secs(60),
        },
        ..Options::default()
    })
    .await?;
    for _ in 0..3 {
        let response = app
            .get("/api/v1/test/financer-only", Some(&app.financer))
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = app
        .get("/api/v1/test/financer-only", Some(&app.financer))
        .await?;
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(retry_after >= 1, "Retry-After in whole seconds, at least 1");
    let error = error_of(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(error["details"]["retry_after_seconds"], retry_after);

    // Another token still passes: the limit is per token.
    let response = app.get("/api/v1/test/saad-only", Some(&app.saad)).await?;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_client_ip_over_its_burst_gets_429_before_authentication() -> TestResult {
    let app = spawn_app(Options {
        rate_limits: RateLimitConfig {
            per_ip: Limit::new(1, 2),
            per_token: Limit::new(1000, 1000),
            prune_every: Duration::from_secs(60),
        },
        ..Options::default()
    })
    .await?;
    for _ in 0..2 {
        let response = app.get("/api/v1/test/financer-only", None).await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.get("/api/v1/test/financer-only", None).await?;
    assert!(response.headers().contains_key("retry-after"));
    error_of(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_oversized_json_body_is_413() -> TestResult {
    let app = spawn_app(Options {
        max_body: 1024,
        ..Options::default()
    })
    .await?;
    let big = json!({ "padding": "x".repeat(4096) });
    for path in ["/api/v1/test/echo", "/api/v1/test/strict"] {
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth(&app.saad)
            .json(&big)
            .send()
            .await?;
        let error = error_of(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
        assert_eq!(error["details"]["limit_bytes"], 1024, "{path}");
    }
    // Under the limit passes.
    let response = app
        .client
        .post(app.url("/api/v1/test/echo"))
        .bearer_auth(&app.saad)
        .json(&json!({"small": true}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn malformed_json_is_400_with_line_and_column() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app
        .client
        .post(app.url("/api/v1/test/echo"))
        .bearer_auth(&app.saad)
        .header("content-type", "application/json")
        .body("{\n  \"a\": ,\n}")
        .send()
        .await?;
    let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(error["details"]["line"], 2);
    assert!(error["details"]["column"].as_u64().is_some_and(|c| c > 0));
    assert!(error["details"].get("path").is_some());

    // With parse_json, the path of the wrong field is given too.
    let response = app
        .client
        .post(app.url("/api/v1/test/strict"))
        .bearer_auth(&app.saad)
        .header("content-type", "application/json")
        .body("{\"lines\": [\n{\"minutes\": 5},\n{\"minutes\": -1}]}")
        .send()
        .await?;
    let error = error_of(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    assert_eq!(error["details"]["line"], 3);
    assert_eq!(error["details"]["path"], "lines[1].minutes");
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_json_route_refuses_another_content_type_with_415() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app
        .client
        .post(app.url("/api/v1/test/echo"))
        .bearer_auth(&app.saad)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await?;
    error_of(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_answer_json_errors() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app.get("/nothing-here", None).await?;
    error_of(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app.get("/api/v1/nothing-here", Some(&app.financer)).await?;
    error_of(response, StatusCode::NOT_FOUND, "not_found").await;
    let response = app
        .client
        .delete(app.url("/api/v1/test/financer-only"))
        .bearer_auth(&app.financer)
        .send()
        .await?;
    error_of(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let response = app.get("/api/v1/admin/clock", Some(&app.financer)).await?;
    error_of(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn a_route_not_built_yet_answers_501() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app.get("/api/v1/invoices", Some(&app.financer)).await?;
    let error = error_of(response, StatusCode::NOT_IMPLEMENTED, "not_implemented").await;
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("/api/v1/invoices"))
    );
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_internal_error_hides_its_cause_and_gives_the_request_id() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app.get("/api/v1/test/broken", Some(&app.financer)).await?;
    let error = error_of(response, StatusCode::INTERNAL_SERVER_ERROR, "internal").await;
    assert_eq!(error["message"], "internal error");
    assert!(!error.to_string().contains("secret"));
    assert!(
        error["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    app.stop().await;
    Ok(())
}

struct SwitchableHealth(AtomicBool);

#[async_trait::async_trait]
impl HealthCheck for SwitchableHealth {
    async fn check_database(&self) -> Result<(), HealthError> {
        if self.0.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(HealthError("connection refused".into()))
        }
    }
}

#[tokio::test]
async fn healthz_is_200_when_the_database_answers_and_503_when_not() -> TestResult {
    let health = Arc::new(SwitchableHealth(AtomicBool::new(true)));
    let app = spawn_app(Options {
        health: Arc::clone(&health) as Arc<dyn HealthCheck>,
        ..Options::default()
    })
    .await?;
    let response = app.get("/healthz", None).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    assert_eq!(body, json!({"status": "ok", "database": "ok"}));

    health.0.store(false, Ordering::SeqCst);
    let response = app.get("/healthz", None).await?;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await?;
    assert_eq!(body["database"], "unreachable");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(!body.to_string().contains("connection refused"));
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn metrics_count_requests_by_route_pattern_and_status() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    app.get("/healthz", None).await?;
    app.get("/api/v1/test/financer-only", Some(&app.financer))
        .await?;
    let response = app.get("/metrics", None).await?;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await?;
    assert!(
        text.contains(r#"http_requests_total{method="GET",route="/healthz",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(
        r#"http_requests_total{method="GET",route="/api/v1/test/financer-only",status="200"} 1"#
    ));
    assert!(text.contains("http_request_duration_seconds_bucket"));
    assert!(text.contains("# TYPE interventions_total counter"));
    assert!(text.contains("# TYPE ingestion_seconds histogram"));
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn the_clock_route_is_404_without_a_manual_clock() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app
        .client
        .post(app.url("/api/v1/admin/clock"))
        .bearer_auth(&app.financer)
        .json(&json!({"now": "2025-03-03T10:00:00+01:00"}))
        .send()
        .await?;
    error_of(response, StatusCode::NOT_FOUND, "not_found").await;
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn the_manual_clock_is_set_by_the_financer_and_seen_by_routes() -> TestResult {
    let app = spawn_app(Options {
        clock: Clock::manual(Utc::now()),
        ..Options::default()
    })
    .await?;
    let response = app
        .client
        .post(app.url("/api/v1/admin/clock"))
        .bearer_auth(&app.financer)
        .json(&json!({"now": "2025-03-03T10:00:00+01:00"}))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await?;
    let expected: DateTime<Utc> = "2025-03-03T09:00:00Z".parse()?;
    let answered: DateTime<Utc> = body["now"].as_str().unwrap_or("").parse()?;
    assert_eq!(answered, expected);

    let response = app.get("/api/v1/test/now", Some(&app.saad)).await?;
    let body: Value = response.json().await?;
    let seen: DateTime<Utc> = body["now"].as_str().unwrap_or("").parse()?;
    assert_eq!(seen, expected);

    let response = app
        .client
        .post(app.url("/api/v1/admin/clock"))
        .bearer_auth(&app.saad)
        .json(&json!({"now": "2025-04-01T00:00:00Z"}))
        .send()
        .await?;
    error_of(response, StatusCode::FORBIDDEN, "forbidden").await;

    let response = app
        .client
        .post(app.url("/api/v1/admin/clock"))
        .bearer_auth(&app.financer)
        .header("content-type", "application/json")
        .body(r#"{"now": "yesterday"}"#)
        .send()
        .await?;
    error_of(response, StatusCode::BAD_REQUEST, "invalid_json").await;
    app.stop().await;
    Ok(())
}

/// A TLS 1.0 or 1.1 ClientHello (no `supported_versions` extension).
fn legacy_client_hello(minor: u8) -> Vec<u8> {
    let mut body = vec![0x03, minor];
    body.extend_from_slice(&[0x42; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // cipher suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap_or(0).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

#[tokio::test]
async fn tls_1_0_and_1_1_clients_are_refused_and_1_2_and_1_3_accepted() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let address = app.base.trim_start_matches("https://").to_owned();
    for minor in [0x01_u8, 0x02] {
        let address = address.clone();
        let answer = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut stream = TcpStream::connect(&address)?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(&legacy_client_hello(minor))?;
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            Ok(answer)
        })
        .await??;
        // Either an alert record (0x15) or a closed connection; never a
        // ServerHello (handshake record 0x16).
        assert_ne!(
            answer.first(),
            Some(&0x16),
            "TLS 1.{} was accepted",
            minor - 1
        );
        if let Some(&kind) = answer.first() {
            assert_eq!(kind, 0x15, "an alert");
        }
    }
    assert_eq!(saad_gateway::http::tls::PROTOCOL_VERSIONS.len(), 2);

    for version in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&app.cert_pem)?)
            .min_tls_version(version)
            .max_tls_version(version)
            .build()?;
        let response = client.get(app.url("/healthz")).send().await?;
        assert_eq!(response.status(), StatusCode::OK, "{version:?}");
    }
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn alpn_offers_http2_and_http1() -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let response = app.get("/healthz", None).await?;
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    let http1 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&app.cert_pem)?)
        .http1_only()
        .build()?;
    let response = http1.get(app.url("/healthz")).send().await?;
    assert_eq!(response.version(), reqwest::Version::HTTP_11);
    drop(http1);
    app.stop().await;
    Ok(())
}

#[tokio::test]
async fn the_self_signed_certificate_is_reused_across_starts_and_names_localhost() -> TestResult {
    let dir = tempfile::tempdir()?;
    let first = spawn_app(Options {
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    })
    .await?;
    let first_pem = first.cert_pem.clone();
    first.stop().await;

    let second = spawn_app(Options {
        data_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    })
    .await?;
    assert_eq!(
        second.cert_pem, first_pem,
        "same certificate on the second start"
    );

    // A client trusting the first start's certificate reaches the second
    // start, by IP and by name.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&first_pem)?)
        .build()?;
    let response = client.get(second.url("/healthz")).send().await?;
    assert_eq!(response.status(), StatusCode::OK);
    let port = second
        .base
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_owned();
    let by_name = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&first_pem)?)
        .resolve("localhost", format!("127.0.0.1:{port}").parse()?)
        .build()?;
    let response = by_name
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    second.stop().await;
    Ok(())
}

#[tokio::test]
async fn an_in_flight_request_completes_after_a_graceful_stop() -> TestResult {
    in_flight_request_completes_after_a_graceful_stop(false).await
}

#[tokio::test]
async fn an_in_flight_http1_request_completes_after_a_graceful_stop() -> TestResult {
    in_flight_request_completes_after_a_graceful_stop(true).await
}

async fn in_flight_request_completes_after_a_graceful_stop(http1: bool) -> TestResult {
    let app = spawn_app(Options::default()).await?;
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&app.cert_pem)?);
    if http1 {
        builder = builder.http1_only();
    }
    let client = builder.build()?;
    let url = app.url("/api/v1/test/slow");
    let token = app.financer.clone();
    let request = client.get(url).bearer_auth(token);
    let slow = tokio::spawn(async move { request.send().await });
    // The request is in its handler, held there until released.
    tokio::time::timeout(Duration::from_secs(20), app.slow.started.notified()).await?;

    let handle = app.handle.clone();
    let stopping = tokio::spawn(async move { handle.stop(true).await });
    // Wait (bounded) until the stop has begun.
    for _ in 0..2000 {
        if app.handle.is_draining() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(app.handle.is_draining(), "the stop has begun");
    assert!(
        !stopping.is_finished(),
        "a graceful stop waits for the request in flight"
    );

    app.slow.release.notify_one();
    let response = tokio::time::timeout(Duration::from_secs(20), slow).await???;
    assert_eq!(response.status(), StatusCode::OK);
    if http1 {
        // While draining, an HTTP/1.1 connection is closed after its response.
        assert_eq!(
            response
                .headers()
                .get("connection")
                .and_then(|v| v.to_str().ok()),
            Some("close")
        );
    }
    let body: Value = response.json().await?;
    assert_eq!(body["slow"], "done");
    if !http1 {
        // An HTTP/2 connection stays open until the client lets it go.
        drop(client);
    }
    drop(app.client);

    tokio::time::timeout(Duration::from_secs(20), stopping).await??;
    tokio::time::timeout(Duration::from_secs(10), app.server).await???;
    // The listener is closed: a new request cannot get through.
    let fresh = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&app.cert_pem)?)
        .build()?;
    assert!(
        fresh
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test]
async fn plain_http_serves_without_tls_when_asked() -> TestResult {
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        tls: None,
        workers: Some(1),
        handle_signals: false,
        ..ServerConfig::default()
    };
    let deps = ServerDeps {
        tokens: Arc::new(InMemoryTokens::new()),
        health: Arc::new(AlwaysHealthy),
        clock: Clock::System,
        metrics: Metrics::new()?,
    };
    let running = Server::build(config, |_cfg| {}, deps)?;
    let base = running.base_url();
    assert!(base.starts_with("http://"));
    let handle = running.handle();
    let server = tokio::spawn(running.run_until_stopped());
    let response = reqwest::get(format!("{base}/healthz")).await?;
    assert_eq!(response.status(), StatusCode::OK);
    handle.stop(true).await;
    server.await??;
    Ok(())
}

#[tokio::test]
async fn the_in_memory_token_table_maps_hashes_to_principals() -> TestResult {
    use saad_gateway::http::auth::{TokenLookup, hash_token};
    let mut tokens = InMemoryTokens::new();
    let token = tokens.issue("t9", Role::Financer);
    let found = tokens.lookup(&hash_token(&token)).await?;
    assert_eq!(found.map(|p| p.token_id), Some("t9".to_owned()));
    assert_eq!(tokens.lookup("00").await?.map(|p| p.token_id), None);
    Ok(())
}

#[tokio::test]
async fn a_client_that_sends_its_request_head_too_slowly_is_cut_with_408() -> TestResult {
    // Slow-loris: the head never ends. The h1 dispatcher answers 408 and
    // closes once `client_request_timeout` has passed (TLS or not).
    let config = ServerConfig {
        listen: "127.0.0.1:0".into(),
        tls: None,
        workers: Some(1),
        handle_signals: false,
        client_request_timeout: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let deps = ServerDeps {
        tokens: Arc::new(InMemoryTokens::new()),
        health: Arc::new(AlwaysHealthy),
        clock: Clock::System,
        metrics: Metrics::new()?,
    };
    let running = Server::build(config, |_cfg| {}, deps)?;
    let address = running.local_addr();
    let handle = running.stop_handle();
    let server = tokio::spawn(running.run_until_stopped());
    let answer = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(address)?;
        // Far longer than the timeout: the server must close first.
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    })
    .await??;
    assert!(answer.starts_with("HTTP/1.1 408"), "answer: {answer:?}");
    handle.stop(true).await;
    server.await??;
    Ok(())
}
