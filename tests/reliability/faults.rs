//! Faults (issue 8): PostgreSQL stopped during ingestion, the process killed
//! with SIGKILL during ingestion and during month close, SQLite's disk full.
//! The gateway is the real binary (`process::Gateway`); PostgreSQL is a
//! private cluster (`process::PrivatePg`), never the shared server.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::process::{Gateway, PrivatePg, create_token, is_root};
use crate::world::{self, BEN_A, PLAN_A, SAAD_A};

/// Registers the two SAADs and plans through a running gateway.
async fn setup_over_http(gateway: &Gateway, financer: &str) {
    gateway.set_now(financer, world::RECEIVED).await;
    for siret in [world::SAAD_A, world::SAAD_B] {
        let response = gateway
            .post_json("/saads", financer, &world::saad_json(siret))
            .await
            .expect("saad");
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let plans = json!({"plans": [world::plan_json(PLAN_A, SAAD_A, BEN_A),
                                 world::plan_json(world::PLAN_B, world::SAAD_B, world::BEN_B)]});
    let response = gateway
        .post_json("/orders", financer, &plans)
        .await
        .expect("plans");
    assert_eq!(response.status(), StatusCode::OK);
}

/// Delivery number `n`: one 15-minute intervention, each in its own slot.
fn delivery(n: usize, lines: usize) -> Value {
    let base = chrono::DateTime::parse_from_rfc3339("2024-01-02T08:00:00+01:00").expect("time");
    let interventions: Vec<Value> = (0..lines)
        .map(|k| {
            let start = base
                + chrono::Duration::minutes(i64::try_from((n * lines + k) * 20).expect("minutes"));
            let end = start + chrono::Duration::minutes(15);
            world::json_line(
                &format!("L-{n}-{k}"),
                PLAN_A,
                BEN_A,
                &start.to_rfc3339(),
                &end.to_rfc3339(),
            )
        })
        .collect();
    json!({"transmission_id": format!("T-{n}"), "interventions": interventions})
}

/// What one delivery request got.
#[derive(Debug, Clone)]
struct Sent {
    n: usize,
    status: Option<StatusCode>,
    retry_after: Option<String>,
    at: Instant,
}

/// Sends deliveries one after the other until `stop`, recording each answer.
fn sender(
    gateway: Arc<Gateway>,
    token: String,
    lines: usize,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Sent>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut n = 0;
        while !stop.load(Ordering::SeqCst) {
            let result = gateway
                .post_json("/deliveries", &token, &delivery(n, lines))
                .await;
            let (status, retry_after) = match result {
                Ok(response) => {
                    let retry = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let status = response.status();
                    let _ = response.bytes().await;
                    (Some(status), retry)
                }
                Err(_) => (None, None),
            };
            log.lock().await.push(Sent {
                n,
                status,
                retry_after,
                at: Instant::now(),
            });
            n += 1;
            if status != Some(StatusCode::OK) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    })
}

async fn wait_for(
    log: &Mutex<Vec<Sent>>,
    what: &str,
    timeout: Duration,
    predicate: impl Fn(&[Sent]) -> bool,
) {
    let started = Instant::now();
    while !predicate(&log.lock().await) {
        assert!(
            started.elapsed() < timeout,
            "timed out waiting for {what}: {:?}",
            log.lock().await.iter().rev().take(5).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn stored_transmissions(url: &str) -> (BTreeSet<String>, i64) {
    let pool = sqlx::PgPool::connect(url).await.expect("connect");
    let tids: Vec<String> = sqlx::query_scalar("SELECT transmission_id FROM receipts")
        .fetch_all(&pool)
        .await
        .expect("receipts");
    let orphans: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM intervention_versions v WHERE NOT EXISTS \
         (SELECT 1 FROM receipts r WHERE r.transmission_id = v.transmission_id)",
    )
    .fetch_one(&pool)
    .await
    .expect("orphans");
    pool.close().await;
    (tids.into_iter().collect(), orphans)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_during_ingestion_gives_503_with_retry_after_acknowledges_only_what_is_stored_and_recovers_by_itself()
 {
    let Some(pg) = PrivatePg::start() else { return };
    let url = pg.url("postgres");
    let data = tempfile::tempdir().expect("data dir");
    let financer = create_token(&url, data.path(), "financer", None);
    let token = create_token(&url, data.path(), "saad", Some(SAAD_A));
    let gateway = Arc::new(Gateway::start(&url, data.path()));
    setup_over_http(&gateway, &financer).await;

    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let task = sender(
        Arc::clone(&gateway),
        token.clone(),
        3,
        Arc::clone(&stop),
        Arc::clone(&log),
    );
    wait_for(
        &log,
        "5 acknowledged deliveries",
        Duration::from_secs(30),
        |l| {
            l.iter()
                .filter(|s| s.status == Some(StatusCode::OK))
                .count()
                >= 5
        },
    )
    .await;

    let stopped_at = Instant::now();
    pg.stop_server();
    wait_for(
        &log,
        "3 answers while the database is down",
        Duration::from_secs(60),
        |l| {
            l.iter()
                .filter(|s| s.at > stopped_at + Duration::from_millis(200))
                .count()
                >= 3
        },
    )
    .await;
    let health = gateway
        .client
        .get(format!("{}/healthz", gateway.base))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(health.headers().contains_key("retry-after"));

    let restarted_at = Instant::now();
    pg.start_server();
    wait_for(
        &log,
        "an acknowledged delivery after the restart",
        Duration::from_secs(60),
        |l| {
            l.iter()
                .any(|s| s.at > restarted_at && s.status == Some(StatusCode::OK))
        },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    task.await.expect("sender");
    let recovered_after = log
        .lock()
        .await
        .iter()
        .find(|s| s.at > restarted_at && s.status == Some(StatusCode::OK))
        .map(|s| s.at - restarted_at);
    eprintln!("recovered {recovered_after:?} after the database came back");

    let log = log.lock().await.clone();
    let unexpected: Vec<_> = log
        .iter()
        .filter(|s| {
            !matches!(
                s.status,
                Some(StatusCode::OK) | Some(StatusCode::SERVICE_UNAVAILABLE)
            )
        })
        .collect();
    assert!(
        unexpected.is_empty(),
        "only 200 or 503 while the database comes and goes: {unexpected:?}"
    );
    let refused: Vec<_> = log
        .iter()
        .filter(|s| s.status == Some(StatusCode::SERVICE_UNAVAILABLE))
        .collect();
    assert!(!refused.is_empty(), "no 503 while the database was down");
    for sent in &refused {
        assert!(
            sent.retry_after
                .as_deref()
                .is_some_and(|r| r.parse::<u64>().is_ok_and(|s| s >= 1)),
            "503 without Retry-After: {sent:?}"
        );
    }
    let (stored, orphans) = stored_transmissions(&url).await;
    assert_eq!(orphans, 0, "interventions stored without their receipt");
    for sent in log.iter().filter(|s| s.status == Some(StatusCode::OK)) {
        assert!(
            stored.contains(&format!("T-{}", sent.n)),
            "T-{} was acknowledged but is not stored",
            sent.n
        );
    }
    // A client retries what was refused: each is now taken (or was stored
    // before the connection broke, and then gives the first receipt).
    for sent in &refused {
        let response = gateway
            .post_json("/deliveries", &token, &delivery(sent.n, 3))
            .await
            .expect("retry");
        assert_eq!(response.status(), StatusCode::OK, "retry of T-{}", sent.n);
    }
    drop(pg);
}

// ---- SIGKILL during ingestion and during month close (SQLite file) ----

/// A store on a SQLite file, migrated.
async fn sqlite_store(path: &Path) -> saad_gateway::storage::Store {
    let url = format!("sqlite://{}", path.display());
    let store = saad_gateway::storage::Store::open(&saad_gateway::storage::StoreConfig::new(url))
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    store
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_during_ingestion_keeps_every_acknowledged_delivery_whole() {
    let data = tempfile::tempdir().expect("data dir");
    let db = data.path().join("gw.db");
    let url = sqlite_url(&db);
    let financer = create_token(&url, data.path(), "financer", None);
    let token = create_token(&url, data.path(), "saad", Some(SAAD_A));
    let gateway = Arc::new(Gateway::start(&url, data.path()));
    setup_over_http(&gateway, &financer).await;
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let task = sender(
        Arc::clone(&gateway),
        token.clone(),
        40,
        Arc::clone(&stop),
        Arc::clone(&log),
    );
    wait_for(
        &log,
        "8 acknowledged deliveries",
        Duration::from_secs(60),
        |l| {
            l.iter()
                .filter(|s| s.status == Some(StatusCode::OK))
                .count()
                >= 8
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(30)).await;
    gateway.sigkill();
    stop.store(true, Ordering::SeqCst);
    let _ = task.await;
    drop(gateway);
    let acked: Vec<usize> = log
        .lock()
        .await
        .iter()
        .filter(|s| s.status == Some(StatusCode::OK))
        .map(|s| s.n)
        .collect();

    let store = sqlite_store(&db).await;
    for n in &acked {
        assert!(
            store
                .get_receipt(SAAD_A, &format!("T-{n}"))
                .await
                .expect("receipt")
                .is_some(),
            "T-{n} acknowledged, not stored"
        );
    }
    let saad_gateway::storage::Store::Sqlite(s) = &store else {
        unreachable!()
    };
    let partial: Vec<(String, i64)> = sqlx::query_as(
        "SELECT r.transmission_id, (SELECT COUNT(*) FROM intervention_versions v WHERE v.transmission_id = r.transmission_id) \
         FROM receipts r WHERE r.transmission_id LIKE 'T-%'",
    )
    .fetch_all(s.pool())
    .await
    .expect("counts");
    for (tid, lines) in &partial {
        assert_eq!(*lines, 40, "{tid} stored in part");
    }
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(s.pool())
        .await
        .expect("integrity");
    assert_eq!(check, "ok");
    store.close().await;
    // Restarted, the gateway gives the first receipt for an acknowledged one.
    let gateway = Gateway::start(&url, data.path());
    let last = *acked.last().expect("acks");
    let response = gateway
        .post_json("/deliveries", &token, &delivery(last, 40))
        .await
        .expect("replay");
    assert_eq!(response.status(), StatusCode::OK);
}

/// A month with enough data that its close takes a while: `plans` plans of
/// SAAD A with `per_plan` accepted interventions each, stored directly.
async fn big_january(store: &saad_gateway::storage::Store, plans: usize, per_plan: usize) {
    use saad_gateway::domain::ingest::{AcceptedIntervention, IngestResult};
    use saad_gateway::domain::model::{
        Counted, InterventionSubmission, LineOutcome, LineStatus, PlanVersion,
    };
    use saad_gateway::domain::time::Period;
    let now: DateTime<Utc> = crate::helpers::parse_time("2024-02-01T12:00:00Z");
    let saad: saad_gateway::domain::model::Saad =
        serde_json::from_value(world::saad_json(SAAD_A)).expect("saad");
    store.upsert_saad(&saad, now).await.expect("saad");
    let mut sequence = 1;
    for p in 0..plans {
        let plan_ref = format!("P-{p:04}");
        let beneficiary = format!("BEN-{p:04}");
        let plan: PlanVersion =
            serde_json::from_value(world::plan_json(&plan_ref, SAAD_A, &beneficiary))
                .expect("plan");
        store.insert_plan_version(&plan, now).await.expect("plan");
        let tid = format!("T-{p}");
        let mut submissions = Vec::new();
        let mut result = IngestResult::default();
        for k in 0..per_plan {
            let line_id = format!("L-{p}-{k}");
            let start = crate::helpers::parse_time("2024-01-02T08:00:00Z")
                + chrono::Duration::hours(i64::try_from(k * 12).expect("k"));
            let period = Period {
                start,
                end: start + chrono::Duration::minutes(60),
            };
            submissions.push(InterventionSubmission {
                line_id: line_id.clone(),
                plan_ref: Some(plan_ref.clone()),
                beneficiary_id: beneficiary.clone(),
                aid_type: Some("APA".to_owned()),
                ..InterventionSubmission::default()
            });
            result.outcomes.push(LineOutcome {
                line_id: line_id.clone(),
                status: LineStatus::Accepted,
                reasons: vec![],
                warnings: vec![],
                counted: Some(Counted {
                    period,
                    corrected: false,
                    declarative: false,
                    reason: None,
                }),
                counted_minutes: 60,
                rounded_minutes: 60,
                plan_ref: Some(plan_ref.clone()),
                beneficiary_id: Some(beneficiary.clone()),
                raw_received_at: Some(now),
                sequence: Some(sequence),
                fingerprint: Some(format!("fp-{p}-{k}")),
            });
            result.accepted.push(AcceptedIntervention {
                saad_siret: SAAD_A.to_owned(),
                line_id: line_id.clone(),
                beneficiary_id: beneficiary.clone(),
                worker_id: None,
                period,
                shared_time: false,
                plan_ref: plan_ref.clone(),
                sequence,
                rounded_minutes: 60,
                corrected: false,
            });
            sequence += 1;
            result.fingerprints.push((line_id, format!("fp-{p}-{k}")));
        }
        let receipt = format!(r#"{{"transmission_id":"{tid}"}}"#);
        store
            .ingest(
                SAAD_A,
                &tid,
                &format!("hash-{tid}"),
                &submissions,
                now,
                |_| (result, receipt),
            )
            .await
            .expect("ingest");
    }
}

/// Invoices in the store, as `id:line count`, sorted.
async fn stored_invoices(store: &saad_gateway::storage::Store) -> Vec<String> {
    let sql = "SELECT i.id, (SELECT COUNT(*) FROM invoice_lines l WHERE l.invoice_id = i.id) FROM invoices i ORDER BY i.id";
    let rows: Vec<(String, i64)> = match store {
        saad_gateway::storage::Store::Sqlite(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
        saad_gateway::storage::Store::Postgres(s) => sqlx::query_as(sql).fetch_all(s.pool()).await,
    }
    .expect("invoices");
    rows.into_iter()
        .map(|(id, lines)| format!("{id}:{lines}"))
        .collect()
}

async fn close_over_http(gateway: &Gateway, financer: &str) -> Value {
    let response = gateway
        .client
        .post(gateway.url("/months/2024-01/close"))
        .bearer_auth(financer)
        .send()
        .await
        .expect("close");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body: Value = response.json().await.expect("json");
    body["invoices"]
        .as_array_mut()
        .expect("invoices")
        .sort_by_key(|i| i["id"].as_str().unwrap_or_default().to_owned());
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_during_month_close_leaves_no_half_closed_month_and_closing_again_gives_the_same_invoices()
 {
    let base = tempfile::tempdir().expect("dir");
    let template = base.path().join("template.db");
    let mut urls = Vec::new();
    {
        let store = sqlite_store(&template).await;
        big_january(&store, 60, 40).await;
        // `VACUUM INTO` writes a consistent copy through SQLite itself; a
        // file copy could catch the main file mid-checkpoint with part of
        // the data still in the WAL.
        let saad_gateway::storage::Store::Sqlite(s) = &store else {
            unreachable!()
        };
        for k in 0..4 {
            let db = base.path().join(format!("copy-{k}.db"));
            sqlx::query("VACUUM INTO ?")
                .bind(db.to_str().expect("utf-8 path"))
                .execute(s.pool())
                .await
                .expect("copy");
            urls.push(sqlite_url(&db));
        }
        store.close().await;
    }
    kill_during_close(&urls, base.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_during_month_close_on_postgres_leaves_no_half_closed_month() {
    let Some(db) = crate::helpers::TestDb::postgres().await else {
        return;
    };
    let saad_gateway::storage::Store::Postgres(s) = &db.store else {
        unreachable!()
    };
    let template = s
        .pool()
        .connect_options()
        .get_database()
        .expect("name")
        .to_owned();
    db.store.migrate().await.expect("migrate");
    big_january(&db.store, 60, 40).await;
    db.store.close().await;
    let server = std::env::var("SAADGW_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres"))
        .await
        .expect("admin");
    // The pool's sessions may linger a moment after close: end them, as
    // CREATE DATABASE … TEMPLATE needs the template to be idle.
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
        .bind(&template)
        .execute(&admin)
        .await
        .expect("terminate");
    let mut names = Vec::new();
    for k in 0..4 {
        let name = format!("{template}_c{k}");
        sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .execute(&admin)
            .await
            .expect("copy");
        names.push(name);
    }
    let urls: Vec<String> = names.iter().map(|n| format!("{server}/{n}")).collect();
    let dir = tempfile::tempdir().expect("dir");
    kill_during_close(&urls, dir.path()).await;
    for name in &names {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&admin)
            .await;
    }
    admin.close().await;
    drop(db);
}

/// `urls`: four copies of the same prepared January. The first is closed
/// without interruption (the reference); on each other a gateway is killed
/// at 10 %, 40 % and 80 % of the reference's duration, then the state is
/// checked and the month closed again.
async fn kill_during_close(urls: &[String], data: &Path) {
    const NOW: &str = "2024-02-05T10:00:00+01:00";
    let financer = create_token(&urls[0], data, "financer", None);
    let gateway = Gateway::start(&urls[0], data);
    gateway.set_now(&financer, NOW).await;
    let started = Instant::now();
    let reference = close_over_http(&gateway, &financer).await;
    let took = started.elapsed();
    gateway.kill();
    let expected: Vec<String> = reference["invoices"]
        .as_array()
        .expect("invoices")
        .iter()
        .map(|i| format!("{}:{}", i["id"].as_str().expect("id"), i["line_count"]))
        .collect();
    eprintln!("uninterrupted close: {took:?}, invoices {expected:?}");
    assert!(!expected.is_empty());

    for (url, fraction) in urls[1..].iter().zip([0.1, 0.4, 0.8]) {
        let financer = create_token(url, data, "financer", None);
        let gateway = Gateway::start(url, data);
        gateway.set_now(&financer, NOW).await;
        let request = gateway
            .client
            .post(gateway.url("/months/2024-01/close"))
            .bearer_auth(&financer)
            .send();
        let delay = took.mul_f64(fraction);
        let answered = tokio::time::timeout(delay, request).await.is_ok();
        gateway.kill();

        let store = saad_gateway::storage::Store::open(&saad_gateway::storage::StoreConfig::new(
            url.clone(),
        ))
        .await
        .expect("reopen");
        let month = store
            .get_month(saad_gateway::domain::types::YearMonth::new(2024, 1).expect("m"))
            .await
            .expect("month");
        let invoices = stored_invoices(&store).await;
        eprintln!(
            "killed after {delay:?} (answered: {answered}): month {:?}, {} invoices",
            month.status,
            invoices.len()
        );
        if invoices.is_empty() {
            assert_eq!(month.closed_at, None, "a month closed without its invoices");
        } else {
            assert_eq!(invoices, expected, "half-closed month");
            assert!(month.closed_at.is_some(), "invoices of a month still open");
        }
        if let saad_gateway::storage::Store::Sqlite(s) = &store {
            let check: String = sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(s.pool())
                .await
                .expect("integrity");
            assert_eq!(check, "ok");
        }
        store.close().await;

        let gateway = Gateway::start(url, data);
        gateway.set_now(&financer, NOW).await;
        let again = close_over_http(&gateway, &financer).await;
        assert_eq!(again, reference, "closing again gives other invoices");
        gateway.kill();
    }
}

// ---- SQLite disk full ----

/// Runs `mount`/`umount`; false when not permitted.
fn mount_tmpfs(dir: &Path, size: &str) -> bool {
    is_root()
        && std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success())
}

struct Unmount<'a>(&'a Path);
impl Drop for Unmount<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_refuses_the_delivery_keeps_the_file_sound_loses_nothing_and_recovers_when_space_returns()
 {
    disk_full(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_disk_full_answers_507_or_503_with_a_clear_message() {
    disk_full(true).await;
}

async fn disk_full(check_status: bool) {
    let dir = tempfile::tempdir().expect("dir");
    if !mount_tmpfs(dir.path(), "6m") {
        // A container without CAP_SYS_ADMIN cannot mount even as root: the
        // test says so rather than fill the machine's real disk.
        eprintln!(
            "NOTICE: cannot mount a tmpfs (not root or no CAP_SYS_ADMIN); disk-full test skipped"
        );
        return;
    }
    let _unmount = Unmount(dir.path());
    let db = dir.path().join("gw.db");
    let url = sqlite_url(&db);
    let financer = create_token(&url, dir.path(), "financer", None);
    let token = create_token(&url, dir.path(), "saad", Some(SAAD_A));
    let gateway = Gateway::start(&url, dir.path());
    setup_over_http(&gateway, &financer).await;
    // Leave about 300 KiB free.
    let filler = dir.path().join("filler");
    let free = fs_free(dir.path());
    std::fs::write(
        &filler,
        vec![0u8; usize::try_from(free.saturating_sub(300 * 1024)).expect("size")],
    )
    .expect("filler");

    let mut acked = Vec::new();
    let mut full = None;
    for n in 0..400 {
        let response = gateway
            .post_json("/deliveries", &token, &delivery(n, 30))
            .await
            .expect("send");
        let status = response.status();
        let retry = response.headers().get("retry-after").is_some();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status == StatusCode::OK {
            acked.push(n);
            continue;
        }
        full = Some((n, status, retry, body));
        break;
    }
    let (n, status, retry, body) = full.expect("the disk never filled");
    eprintln!(
        "disk full after {} deliveries: {status} {body}",
        acked.len()
    );
    assert!(
        status.is_client_error() || status.is_server_error(),
        "{status}"
    );
    if check_status {
        assert!(
            status == StatusCode::INSUFFICIENT_STORAGE || status == StatusCode::SERVICE_UNAVAILABLE,
            "disk full must answer 507 or 503, got {status}: {body}"
        );
        assert!(
            status == StatusCode::INSUFFICIENT_STORAGE || retry,
            "503 without Retry-After"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.contains("internal")),
            "{body}"
        );
    }
    // Space returns: the same delivery is taken, nothing acknowledged is lost.
    std::fs::remove_file(&filler).expect("free space");
    let response = gateway
        .post_json("/deliveries", &token, &delivery(n, 30))
        .await
        .expect("retry");
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if status != StatusCode::OK {
        let logs = gateway.log_text();
        let errors: Vec<&str> = logs.lines().filter(|l| l.contains("ERROR")).collect();
        panic!("after space returned: {status} {body}\n{errors:#?}");
    }
    gateway.kill();
    let store = sqlite_store(&db).await;
    let saad_gateway::storage::Store::Sqlite(s) = &store else {
        unreachable!()
    };
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(s.pool())
        .await
        .expect("integrity");
    assert_eq!(check, "ok");
    for n in acked.iter().chain([&n]) {
        assert!(
            store
                .get_receipt(SAAD_A, &format!("T-{n}"))
                .await
                .expect("receipt")
                .is_some(),
            "T-{n} lost"
        );
    }
    store.close().await;
}

/// Free bytes on the file system holding `path` (`df -B1 --output=avail`).
fn fs_free(path: &Path) -> u64 {
    let output = std::process::Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(path)
        .output()
        .expect("df");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .expect("df line")
        .trim()
        .parse()
        .expect("bytes")
}
