//! Insert throughput of the ingestion commit path, on SQLite and PostgreSQL.
//!
//! First a one-shot run per backend: 1 000 000 interventions (override with
//! `SAADGW_BENCH_ROWS`) committed as deliveries of 10 000 lines through
//! `begin_ingest` → `load_context` → `commit`, printing interventions/s for
//! the commit alone and for context + commit (the storage layer end to end).
//! Then a criterion group measuring one 10 000-line delivery per iteration,
//! context + commit (`Throughput::Elements`). PostgreSQL is skipped with a
//! notice when unreachable. `SAADGW_BENCH_BACKEND=sqlite|postgres` runs one.
//!
//! `SAADGW_BENCH_ROWS=1000000 cargo bench --bench storage_insert -- --warm-up-time 1 --measurement-time 10 --sample-size 10`

#[path = "../../tests/storage/support.rs"]
mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use saad_gateway::storage::{DeliveryCommit, Store};
use support::*;

const DELIVERY: usize = 10_000;

/// Commits one delivery `k` through the ingestion transaction; returns
/// (context time, commit time).
async fn commit_one(store: &Store, k: i64) -> (Duration, Duration) {
    let now = t("2024-01-02T12:00:00Z");
    let tid = format!("BENCH-{k}");
    let first = k * i64::try_from(DELIVERY).expect("size");
    // Building the judged delivery (the fixture standing in for the checks)
    // is not timed: only begin + context load, and the commit.
    let probe = accepted_delivery(&tid, DELIVERY, first, 1, now);
    let started = Instant::now();
    let mut tx = store.begin_ingest().await.expect("begin");
    let context = tx
        .load_context(SAAD_A, &probe.lines, now)
        .await
        .expect("context");
    let loaded = started.elapsed();
    let built = accepted_delivery(&tid, DELIVERY, first, context.next_sequence, now);
    let commit_start = Instant::now();
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
    (loaded, commit_start.elapsed())
}

async fn one_shot(name: &str, store: &Store, rows: usize) {
    let deliveries = rows.div_ceil(DELIVERY);
    let mut context_time = Duration::ZERO;
    let mut commit_time = Duration::ZERO;
    let mut slowest = Duration::ZERO;
    for k in 0..deliveries {
        let (c, w) = commit_one(store, i64::try_from(k).expect("k")).await;
        context_time += c;
        commit_time += w;
        slowest = slowest.max(c + w);
    }
    let total_rows = u128::try_from(deliveries * DELIVERY).expect("rows");
    let per_second = |d: Duration| total_rows * 1_000_000 / d.as_micros().max(1);
    let both = commit_time + context_time;
    println!(
        "{name}: {total_rows} interventions in {deliveries} deliveries of {DELIVERY}: \
         commit {} rows/s ({} ms), context+commit {} rows/s ({} ms), \
         mean delivery {} ms, slowest {} ms",
        per_second(commit_time),
        commit_time.as_millis(),
        per_second(both),
        both.as_millis(),
        both.as_millis() / u128::try_from(deliveries).expect("n").max(1),
        slowest.as_millis(),
    );
}

fn main() {
    let rows: usize = std::env::var("SAADGW_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let only = std::env::var("SAADGW_BENCH_BACKEND").unwrap_or_default();
    let sqlite = runtime.block_on(TestDb::sqlite());
    let postgres = if only == "sqlite" {
        None
    } else {
        runtime.block_on(TestDb::postgres())
    };
    if only != "postgres" {
        runtime.block_on(one_shot("sqlite", &sqlite.store, rows));
    }
    if let Some(pg) = &postgres {
        runtime.block_on(one_shot("postgres", &pg.store, rows));
    }

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    let mut group = criterion.benchmark_group("storage_insert");
    group.throughput(Throughput::Elements(DELIVERY as u64));
    let mut dbs = Vec::new();
    if only != "postgres" {
        dbs.push(("sqlite", &sqlite));
    }
    if let Some(pg) = &postgres {
        dbs.push(("postgres", pg));
    }
    for (name, db) in dbs {
        let mut k = 1_000i64;
        group.bench_function(format!("{name}/delivery_of_{DELIVERY}"), |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    k += 1;
                    let (context, commit) = runtime.block_on(commit_one(&db.store, k));
                    spent += context + commit;
                }
                spent
            });
        });
    }
    group.finish();
    criterion.final_summary();
    drop(postgres);
}
