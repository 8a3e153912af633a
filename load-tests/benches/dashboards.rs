//! Dashboard pages with 20 000 beneficiaries (issue 7: "they stay fast with
//! 20 000 beneficiaries (paginate)"): one SAAD with 20 000 plans in
//! January 2024 (override with `SAADGW_BENCH_PLANS`), the real gateway over
//! HTTPS on SQLite, a logged-in session; criterion measures one page load
//! (request to last byte) of the plan consumption page, first and last page,
//! and of the rejection notice.
//!
//! `cargo bench --bench dashboards`

#[path = "../../tests/storage/support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use chrono_tz::Europe::Paris;
use criterion::Criterion;
use saad_gateway::http::clock::Clock;
use saad_gateway::http::server::ServerConfig;
use saad_gateway::http::tls::{SELF_SIGNED_CERT_FILE, TlsSource};
use saad_gateway::service::tokens::create_token;
use saad_gateway::storage::TokenRole;
use support::{SAAD_A, TestDb, plan, saad};

fn main() {
    let plans: usize = std::env::var("SAADGW_BENCH_PLANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (client, base, _db, _dir) = runtime.block_on(async {
        saad_gateway::http::tls::install_crypto_provider();
        let db = TestDb::sqlite().await;
        let store = db.store.clone();
        let now = Paris
            .with_ymd_and_hms(2024, 2, 1, 9, 0, 0)
            .single()
            .expect("time")
            .with_timezone(&Utc);
        store.upsert_saad(&saad(SAAD_A), now).await.expect("SAAD");
        let started = Instant::now();
        for i in 0..plans {
            store
                .insert_plan_version(
                    &plan(&format!("PB-APA-{i:06}"), 1, &format!("BEN-{i:06}"), SAAD_A),
                    now,
                )
                .await
                .expect("plan");
        }
        println!("{plans} plans stored in {:?}", started.elapsed());
        let token = create_token(&store, TokenRole::Saad, Some(SAAD_A))
            .await
            .expect("token");
        let dir = tempfile::tempdir().expect("dir");
        let config = ServerConfig {
            listen: "127.0.0.1:0".into(),
            tls: Some(TlsSource::SelfSigned {
                data_dir: dir.path().to_path_buf(),
            }),
            handle_signals: false,
            ..ServerConfig::default()
        };
        let params = Arc::new(
            saad_gateway::charter::load_dir(&saad_gateway::charter::default_dir())
                .expect("charter"),
        );
        let running =
            saad_gateway::http::gateway::start(config, store.clone(), params, Clock::manual(now))
                .expect("gateway");
        let base = running.base_url();
        tokio::spawn(running.run_until_stopped());
        let cert = std::fs::read(dir.path().join(SELF_SIGNED_CERT_FILE)).expect("cert");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
            .cookie_store(true)
            .timeout(Duration::from_secs(120))
            .build()
            .expect("client");
        let form = client
            .get(format!("{base}/connexion"))
            .send()
            .await
            .expect("form")
            .text()
            .await
            .expect("form");
        let at = form.find("name=\"csrf\" value=\"").expect("csrf") + 19;
        let csrf = form[at..].split('"').next().expect("csrf").to_owned();
        let landing = client
            .post(format!("{base}/connexion"))
            .form(&[("token", token.as_str()), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("login");
        assert!(landing.status().is_success());
        (client, base, db, dir)
    });
    let last = plans.div_ceil(50);
    let pages = [
        (
            "plans page 1",
            format!("/saad/{SAAD_A}/plans?mois=2024-01&page=1"),
        ),
        (
            "plans last page",
            format!("/saad/{SAAD_A}/plans?mois=2024-01&page={last}"),
        ),
        (
            "plans filtered",
            format!("/saad/{SAAD_A}/plans?mois=2024-01&beneficiaire=BEN-012345"),
        ),
        (
            "rejection notice",
            format!("/saad/{SAAD_A}/rejets?mois=2024-01"),
        ),
    ];
    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    let mut group = criterion.benchmark_group(format!("dashboards_{plans}_plans"));
    for (name, path) in &pages {
        let url = format!("{base}{path}");
        group.bench_function(*name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let response = client.get(&url).send().await.expect("page");
                    assert!(response.status().is_success());
                    response.bytes().await.expect("body").len()
                })
            })
        });
    }
    group.finish();
    criterion.final_summary();
}
