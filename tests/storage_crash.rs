//! Crash test: a writer process committing deliveries is killed with
//! SIGKILL mid-way; after reopening, every acknowledged delivery is there in
//! full and no delivery is there in part.
//!
//! The writer is this test binary itself, re-executed with
//! `SAADGW_CRASH_WRITER_URL` set: then `crash_writer_entry` commits
//! deliveries in a loop and prints `ACK <transmission id>` after each commit
//! returns. Without the variable that test does nothing.

#[path = "storage/support.rs"]
mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use saad_gateway::storage::{DeliveryCommit, Store, StoreConfig};
use support::*;

const WRITER_ENV: &str = "SAADGW_CRASH_WRITER_URL";
const LINES: usize = 1_000;
const ACKS_BEFORE_KILL: usize = 6;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn crash_writer_entry() {
    let Ok(url) = std::env::var(WRITER_ENV) else {
        return;
    };
    runtime().block_on(async move {
        let store = Store::open(&StoreConfig::new(url))
            .await
            .expect("writer opens store");
        let now = t("2024-01-02T12:00:00Z");
        for k in 0i64.. {
            let tid = format!("D{k}");
            let mut tx = store.begin_ingest().await.expect("begin");
            let probe = accepted_delivery(&tid, LINES, 0, 1, now);
            let context = tx
                .load_context(SAAD_A, &probe.lines, now)
                .await
                .expect("context");
            let built = accepted_delivery(
                &tid,
                LINES,
                k * i64::try_from(LINES).expect("lines"),
                context.next_sequence,
                now,
            );
            tx.commit(DeliveryCommit {
                saad_siret: SAAD_A,
                transmission_id: &tid,
                body_hash: "h",
                receipt_json: &built.receipt,
                lines: &built.lines,
                result: &built.result,
                now,
            })
            .await
            .expect("commit");
            let mut out = std::io::stdout().lock();
            writeln!(out, "ACK {tid}").expect("stdout");
            out.flush().expect("flush");
        }
    });
}

/// Runs the writer against `url`, kills it after some acks, returns them.
fn run_and_kill_writer(url: &str) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "crash_writer_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WRITER_ENV, url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut acks = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read writer output");
        if let Some(tid) = line.strip_prefix("ACK ") {
            acks.push(tid.to_owned());
            if acks.len() == ACKS_BEFORE_KILL {
                break;
            }
        }
    }
    assert_eq!(
        acks.len(),
        ACKS_BEFORE_KILL,
        "writer stopped before {ACKS_BEFORE_KILL} acks"
    );
    // Land the kill inside the next commit rather than between two.
    std::thread::sleep(Duration::from_millis(15));
    child.kill().expect("SIGKILL the writer");
    child.wait().expect("reap writer");
    acks
}

async fn check_after_crash(store: &Store, acks: &[String]) {
    let lines = i64::try_from(LINES).expect("lines");
    for tid in acks {
        assert!(
            store
                .get_receipt(SAAD_A, tid)
                .await
                .expect("receipt")
                .is_some(),
            "acknowledged {tid} has no receipt"
        );
    }
    let per_transmission: Vec<(String, i64)> = match store {
        Store::Sqlite(s) => sqlx::query_as(
            "SELECT r.transmission_id, (SELECT COUNT(*) FROM intervention_versions v \
             WHERE v.transmission_id = r.transmission_id) FROM receipts r",
        )
        .fetch_all(s.pool())
        .await
        .expect("counts"),
        Store::Postgres(s) => sqlx::query_as(
            "SELECT r.transmission_id, (SELECT COUNT(*) FROM intervention_versions v \
             WHERE v.transmission_id = r.transmission_id) FROM receipts r",
        )
        .fetch_all(s.pool())
        .await
        .expect("counts"),
    };
    assert!(per_transmission.len() >= acks.len());
    for (tid, count) in &per_transmission {
        assert_eq!(*count, lines, "transmission {tid} is stored in part");
    }
    let orphans: i64 = match store {
        Store::Sqlite(s) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM intervention_versions v WHERE NOT EXISTS \
             (SELECT 1 FROM receipts r WHERE r.transmission_id = v.transmission_id)",
        )
        .fetch_one(s.pool())
        .await
        .expect("orphans"),
        Store::Postgres(s) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM intervention_versions v WHERE NOT EXISTS \
             (SELECT 1 FROM receipts r WHERE r.transmission_id = v.transmission_id)",
        )
        .fetch_one(s.pool())
        .await
        .expect("orphans"),
    };
    assert_eq!(orphans, 0, "lines stored without their receipt");
    let raw: i64 = match store {
        Store::Sqlite(s) => sqlx::query_scalar(RAW_SIDES)
            .fetch_one(s.pool())
            .await
            .expect("raw"),
        Store::Postgres(s) => sqlx::query_scalar(RAW_SIDES)
            .fetch_one(s.pool())
            .await
            .expect("raw"),
    };
    assert_eq!(
        raw,
        2 * lines * i64::try_from(per_transmission.len()).expect("n")
    );
}

/// Raw sides stored: columns of the version row that first brought them.
const RAW_SIDES: &str = "SELECT COUNT(raw_start) + COUNT(raw_end) FROM intervention_versions";

#[test]
fn killed_writer_leaves_every_acknowledged_delivery_whole_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("crash.db").display());
    let acks = run_and_kill_writer(&url);
    runtime().block_on(async {
        let store = Store::open(&StoreConfig::new(url))
            .await
            .expect("reopen after crash");
        check_after_crash(&store, &acks).await;
    });
}

#[test]
fn killed_writer_leaves_every_acknowledged_delivery_whole_on_postgres() {
    let rt = runtime();
    let Some(db) = rt.block_on(TestDb::postgres()) else {
        return;
    };
    let url = match &db.store {
        Store::Postgres(s) => {
            let options = s.pool().connect_options();
            format!(
                "{}/{}",
                server_url(),
                options.get_database().expect("database name")
            )
        }
        Store::Sqlite(_) => unreachable!("postgres harness"),
    };
    let acks = run_and_kill_writer(&url);
    rt.block_on(async {
        let store = Store::open(&StoreConfig::new(url))
            .await
            .expect("reopen after crash");
        check_after_crash(&store, &acks).await;
        store.close().await;
    });
    drop(db);
}
