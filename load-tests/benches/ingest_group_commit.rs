//! Real-time ingestion through the group committer: many concurrent
//! single-intervention deliveries (`Store::ingest_grouped`), each answered
//! only after the shared transaction committed.
//!
//! A one-shot run per backend first: `SAADGW_BENCH_REQUESTS` deliveries
//! (default 20 000) from `SAADGW_BENCH_CLIENTS` concurrent clients (default
//! 256), printing deliveries/s and the p50/p95/p99 latency of one delivery
//! (queue + context + judge + write + commit). Then a criterion group of
//! 2 000 deliveries per iteration (`Throughput::Elements`). PostgreSQL is
//! skipped with a notice when unreachable;
//! `SAADGW_BENCH_BACKEND=sqlite|postgres` runs one.
//!
//! `cargo bench --bench ingest_group_commit -- --warm-up-time 1 --measurement-time 10 --sample-size 10`

#[path = "../../tests/storage/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use saad_gateway::storage::{CommitOutcome, GroupedDelivery, Judged, Store};
use support::*;

/// One single-intervention delivery, judged on its context by the fixture.
fn delivery(k: i64) -> GroupedDelivery {
    let now = t("2024-01-02T12:00:00Z");
    let tid = format!("RT-{k}");
    let lines = accepted_delivery(&tid, 1, k, 1, now).lines;
    GroupedDelivery {
        saad_siret: SAAD_A.to_owned(),
        transmission_id: tid.clone(),
        body_hash: "h".to_owned(),
        lines,
        now,
        judge: Box::new(move |context, _| {
            let built = accepted_delivery(&tid, 1, k, context.next_sequence, now);
            Ok(Judged {
                result: built.result,
                receipt_json: built.receipt,
            })
        }),
        audit: None,
        later: None,
    }
}

/// Sends `requests` deliveries from `clients` concurrent clients; returns the
/// wall time and every latency.
async fn run(
    store: &Store,
    next: &Arc<AtomicI64>,
    requests: i64,
    clients: usize,
) -> (Duration, Vec<Duration>) {
    let end = next.load(Ordering::SeqCst) + requests;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let store = store.clone();
        let next = Arc::clone(next);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= end {
                    break;
                }
                let sent = Instant::now();
                let outcome = store.ingest_grouped(delivery(k)).await.expect("ingest");
                assert_eq!(outcome, CommitOutcome::Stored);
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client"));
    }
    (started.elapsed(), latencies)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let index = (sorted.len() * p / 100).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default()
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let requests = i64::try_from(env("SAADGW_BENCH_REQUESTS", 20_000)).expect("requests");
    let clients = env("SAADGW_BENCH_CLIENTS", 256);
    let only = std::env::var("SAADGW_BENCH_BACKEND").unwrap_or_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sqlite = runtime.block_on(TestDb::sqlite());
    let postgres = if only == "sqlite" {
        None
    } else {
        runtime.block_on(TestDb::postgres())
    };
    let mut dbs = Vec::new();
    if only != "postgres" {
        dbs.push(("sqlite", &sqlite));
    }
    if let Some(pg) = &postgres {
        dbs.push(("postgres", pg));
    }
    let counters: Vec<Arc<AtomicI64>> = dbs.iter().map(|_| Arc::new(AtomicI64::new(0))).collect();
    for ((name, db), next) in dbs.iter().zip(&counters) {
        let (wall, mut latencies) = runtime.block_on(run(&db.store, next, requests, clients));
        latencies.sort();
        let per_second = u128::try_from(requests).expect("n") * 1_000_000 / wall.as_micros().max(1);
        println!(
            "{name}: {requests} single-intervention deliveries from {clients} clients in {} ms: \
             {per_second} deliveries/s, latency p50 {} ms, p95 {} ms, p99 {} ms",
            wall.as_millis(),
            percentile(&latencies, 50).as_millis(),
            percentile(&latencies, 95).as_millis(),
            percentile(&latencies, 99).as_millis(),
        );
    }

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    let mut group = criterion.benchmark_group("ingest_group_commit");
    const PER_ITERATION: i64 = 2_000;
    group.throughput(Throughput::Elements(PER_ITERATION as u64));
    for ((name, db), next) in dbs.iter().zip(&counters) {
        group.bench_function(
            format!("{name}/single_line_deliveries_{clients}_clients"),
            |b| {
                b.iter_custom(|iterations| {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iterations {
                        spent += runtime
                            .block_on(run(&db.store, next, PER_ITERATION, clients))
                            .0;
                    }
                    spent
                });
            },
        );
    }
    group.finish();
    criterion.final_summary();
    drop(postgres);
}
