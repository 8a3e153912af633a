//! Closing one large département month (issue #9 target: under 2 s on both
//! backends): 300 000 accepted interventions over 10 000 plans of one SAAD
//! in January 2024 (30 one-hour interventions per plan, exactly the plan's
//! 1 800 minutes), closed through `service::close::close_month` — bulk
//! reads, reconciliation, and the one-transaction write of the invoice, its
//! 10 000 lines with the traceability of the 300 000 billed interventions.
//!
//! `SAADGW_BENCH_CLOSE_ROWS` sets the number of interventions (default
//! 300 000; plans = rows / 30). Data are seeded through the storage API
//! (deliveries of 10 000 lines through `Store::ingest`). First a one-shot
//! close per backend is printed; then criterion measures the close again
//! on the same data, the month being reopened (its pro-forma rows deleted,
//! bench only) outside the timed section. PostgreSQL is skipped with a
//! notice when unreachable.
//!
//! `SAADGW_BENCH_CLOSE_ROWS=300000 cargo bench --bench month_close`

#[path = "../../tests/storage/support.rs"]
mod support;

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use criterion::{Criterion, Throughput};
use saad_gateway::domain::ingest::{AcceptedIntervention, IngestResult};
use saad_gateway::domain::model::{Counted, InterventionSubmission, LineOutcome, LineStatus};
use saad_gateway::domain::params::Parameters;
use saad_gateway::domain::time::Period;
use saad_gateway::domain::types::YearMonth;
use saad_gateway::service::close::close_month;
use saad_gateway::storage::Store;
use support::*;

const PER_PLAN: usize = 30;
const DELIVERY: usize = 10_000;

fn january() -> YearMonth {
    YearMonth::new(2024, 1).expect("month")
}

fn close_time() -> DateTime<Utc> {
    t("2024-02-01T08:00:00Z")
}

/// Seeds `plans` plans and `plans × 30` accepted interventions.
async fn seed(store: &Store, rows: usize) -> usize {
    let plans = rows.div_ceil(PER_PLAN).max(1);
    let now = t("2024-01-01T00:00:00Z");
    store.upsert_saad(&saad(SAAD_A), now).await.expect("saad");
    let mut pending = Vec::new();
    for p in 0..plans {
        let plan = plan(&format!("P-{p}"), 1, &format!("B-{p}"), SAAD_A);
        pending.push(async move { store.insert_plan_version(&plan, now).await });
        if pending.len() == 64 {
            for r in futures_util::future::join_all(pending.drain(..)).await {
                r.expect("plan");
            }
        }
    }
    for r in futures_util::future::join_all(pending).await {
        r.expect("plan");
    }
    let base = Utc
        .with_ymd_and_hms(2024, 1, 1, 7, 0, 0)
        .single()
        .expect("base");
    let total = plans * PER_PLAN;
    let received = t("2024-01-31T20:00:00Z");
    let mut first = 0;
    let mut k = 0;
    while first < total {
        let n = DELIVERY.min(total - first);
        let tid = format!("CLOSE-{k}");
        let mut lines = Vec::with_capacity(n);
        let mut prototype = Vec::with_capacity(n);
        for i in first..first + n {
            let (p, d) = (i % plans, i / plans);
            let start = base + chrono::Duration::days(i64::try_from(d).expect("day"));
            let period = Period {
                start,
                end: start + chrono::Duration::minutes(60),
            };
            let line_id = format!("L-{i}");
            let (plan_ref, beneficiary) = (format!("P-{p}"), format!("B-{p}"));
            lines.push(InterventionSubmission {
                line_id: line_id.clone(),
                plan_ref: Some(plan_ref.clone()),
                beneficiary_id: beneficiary.clone(),
                aid_type: Some("APA".to_owned()),
                ..InterventionSubmission::default()
            });
            prototype.push((line_id, plan_ref, beneficiary, period));
        }
        store
            .ingest(SAAD_A, &tid, "h", &lines, received, |context| {
                let mut result = IngestResult::default();
                for (j, (line_id, plan_ref, beneficiary, period)) in
                    prototype.into_iter().enumerate()
                {
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
                        raw_received_at: Some(received),
                        sequence: Some(context.next_sequence + i64::try_from(j).expect("j")),
                        fingerprint: Some(format!("fp-{k}-{j}")),
                    });
                    result.accepted.push(AcceptedIntervention {
                        saad_siret: SAAD_A.to_owned(),
                        line_id: line_id.clone(),
                        beneficiary_id: beneficiary,
                        worker_id: None,
                        period,
                        shared_time: false,
                        plan_ref,
                        sequence: context.next_sequence + i64::try_from(j).expect("j"),
                        rounded_minutes: 60,
                        corrected: false,
                    });
                    result.fingerprints.push((line_id, format!("fp-{k}-{j}")));
                }
                (result, format!(r#"{{"transmission_id":"{tid}"}}"#))
            })
            .await
            .expect("ingest");
        first += n;
        k += 1;
    }
    total
}

/// Reopens January (bench only): deletes its pro-forma rows and month row.
async fn reopen(store: &Store) {
    let statements = [
        "DELETE FROM invoice_lines",
        "DELETE FROM invoices",
        "DELETE FROM months",
    ];
    for sql in statements {
        match store {
            Store::Sqlite(s) => {
                sqlx::query(sql).execute(s.pool()).await.expect("reopen");
            }
            Store::Postgres(s) => {
                sqlx::query(sql).execute(s.pool()).await.expect("reopen");
            }
        }
    }
    if let Store::Postgres(s) = store {
        sqlx::query("VACUUM ANALYZE").execute(s.pool()).await.ok();
    }
}

async fn close_once(store: &Store, params: &Parameters) -> (Duration, usize) {
    let started = Instant::now();
    let outcome = close_month(store, params, january(), close_time())
        .await
        .expect("close");
    let spent = started.elapsed();
    let lines: i64 = outcome.invoices.iter().map(|i| i.line_count).sum();
    (spent, usize::try_from(lines).expect("lines"))
}

fn main() {
    let rows: usize = std::env::var("SAADGW_BENCH_CLOSE_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let params =
        saad_gateway::charter::load_dir(&saad_gateway::charter::default_dir()).expect("charter");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    // Every close logs its phases (load, compute, store) at info level,
    // the load's parts at debug level (`SAADGW_BENCH_CLOSE_LOG` overrides
    // the filter, e.g. `off`).
    tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("SAADGW_BENCH_CLOSE_LOG")
                .unwrap_or_else(|_| "saad_gateway::service::close=debug".to_owned()),
        )
        .init();
    let sqlite = runtime.block_on(TestDb::sqlite());
    let postgres = runtime.block_on(TestDb::postgres());
    let mut dbs = vec![("sqlite", &sqlite)];
    if let Some(pg) = &postgres {
        dbs.push(("postgres", pg));
    }
    for (name, db) in &dbs {
        let seeding = Instant::now();
        let seeded = runtime.block_on(seed(&db.store, rows));
        if let Store::Postgres(s) = &db.store {
            runtime
                .block_on(sqlx::query("VACUUM ANALYZE").execute(s.pool()))
                .ok();
        }
        let seeded_in = seeding.elapsed();
        let (first, lines) = runtime.block_on(close_once(&db.store, &params));
        let again = Instant::now();
        runtime.block_on(close_once(&db.store, &params));
        println!(
            "{name}: seeded {seeded} interventions over {} plans in {} s; \
             first close {} ms ({lines} invoice lines); closing again {} ms",
            seeded / PER_PLAN,
            seeded_in.as_secs(),
            first.as_millis(),
            again.elapsed().as_millis()
        );
    }

    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .configure_from_args();
    let mut group = criterion.benchmark_group("month_close");
    group.throughput(Throughput::Elements(rows as u64));
    for (name, db) in &dbs {
        group.bench_function(format!("{name}/close_{rows}_interventions"), |b| {
            b.iter_custom(|iterations| {
                let mut spent = Duration::ZERO;
                for _ in 0..iterations {
                    runtime.block_on(reopen(&db.store));
                    spent += runtime.block_on(close_once(&db.store, &params)).0;
                }
                spent
            });
        });
    }
    group.finish();
    criterion.final_summary();
    drop(postgres);
}
