//! The dashboards' tests share this: the real gateway over HTTPS on a fresh
//! SQLite database with a manual clock, loaded with the demo's January
//! (`saad_gateway::demo::load_january`, through the real API), and a
//! browser-like client (cookie store, redirects followed).

#![allow(dead_code)]

#[path = "../storage/support.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use saad_gateway::charter;
use saad_gateway::demo::{DemoTokens, load_january};
use saad_gateway::http::clock::Clock;
use saad_gateway::http::server::ServerConfig;
use saad_gateway::http::tls::{SELF_SIGNED_CERT_FILE, TlsSource};
use saad_gateway::storage::Store;

#[allow(unused_imports)]
pub use saad_gateway::demo::{SAAD_A, SAAD_C};
pub use support::TestDb;

/// A running gateway with the demo's January loaded (left open).
pub struct DemoApp {
    pub base: String,
    pub store: Store,
    pub clock: Clock,
    pub tokens: DemoTokens,
    cert: Vec<u8>,
    handle: actix_web::dev::ServerHandle,
    _db: TestDb,
    _data_dir: tempfile::TempDir,
}

impl Drop for DemoApp {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}

/// A Paris wall-clock instant.
pub fn paris(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Paris
        .with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("Paris time")
        .with_timezone(&Utc)
}

impl DemoApp {
    /// Starts the gateway and plays the demo's steps 1–4 (January 2024).
    pub async fn start() -> DemoApp {
        saad_gateway::http::tls::install_crypto_provider();
        let db = TestDb::sqlite().await;
        let store = db.store.clone();
        store.migrate().await.expect("migrate");
        let params = Arc::new(charter::load_dir(&charter::default_dir()).expect("charter"));
        let data_dir = tempfile::tempdir().expect("data dir");
        let config = ServerConfig {
            listen: "127.0.0.1:0".into(),
            tls: Some(TlsSource::SelfSigned {
                data_dir: data_dir.path().to_path_buf(),
            }),
            workers: Some(2),
            handle_signals: false,
            shutdown_timeout: Duration::from_secs(5),
            ..ServerConfig::default()
        };
        let clock = Clock::manual(paris(2024, 1, 2, 8));
        let running =
            saad_gateway::http::gateway::start(config, store.clone(), params, clock.clone())
                .expect("start gateway");
        let base = running.base_url();
        let handle = running.handle();
        tokio::spawn(running.run_until_stopped());
        let cert = std::fs::read(data_dir.path().join(SELF_SIGNED_CERT_FILE)).expect("cert");
        let api = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
            .https_only(true)
            .build()
            .expect("client");
        let tokens = load_january(&store, api, &base, clock.clone())
            .await
            .expect("demo data");
        DemoApp {
            base,
            store,
            clock,
            tokens,
            cert,
            handle,
            _db: db,
            _data_dir: data_dir,
        }
    }

    /// A SAAD's demo token.
    pub fn saad_token(&self, siret: &str) -> String {
        self.tokens
            .saads
            .iter()
            .find(|(s, _)| *s == siret)
            .map(|(_, t)| t.clone())
            .expect("demo SAAD")
    }

    /// A client that behaves like a browser: cookie store, redirects followed.
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.cert).expect("pem"))
            .https_only(true)
            .cookie_store(true)
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client")
    }

    /// Same, without following redirects (to look at a 303 and its cookies).
    pub fn browser_no_redirect(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&self.cert).expect("pem"))
            .https_only(true)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client")
    }

    /// The URL of a page.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// The value of the first `name="csrf"` hidden field of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().expect("value").to_owned()
}

/// Logs in through the form with `token`; returns the landing page's HTML.
pub async fn log_in(app: &DemoApp, client: &reqwest::Client, token: &str) -> String {
    let form = client
        .get(app.url("/connexion"))
        .send()
        .await
        .expect("GET /connexion")
        .text()
        .await
        .expect("form");
    let response = client
        .post(app.url("/connexion"))
        .form(&[("token", token), ("csrf", &csrf_of(&form))])
        .send()
        .await
        .expect("POST /connexion");
    assert_eq!(response.status(), 200, "login lands on a page");
    response.text().await.expect("page")
}
