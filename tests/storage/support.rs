//! Helpers shared by the storage tests: a fresh store per test on each
//! backend, and judged deliveries built by hand (the checks are not needed
//! to test what storage writes).

#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use saad_gateway::domain::ingest::{AcceptedIntervention, IngestResult, RawStamp, Side};
use saad_gateway::domain::model::{
    Counted, InterventionSubmission, LineOutcome, LineStatus, PlanVersion, Saad, SaadAidType,
    Tariff,
};
use saad_gateway::domain::time::{Period, Stamp};
use saad_gateway::domain::types::{AidType, RejectionCode, SaadStatus, Siret, WorkerId};
use saad_gateway::storage::{Store, StoreConfig};

pub const SAAD_A: &str = "73282932000074";
pub const SAAD_B: &str = "00000000000018";

/// A store on a fresh database, removed when dropped.
pub struct TestDb {
    pub store: Store,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { name: String },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        Self::sqlite_migrated(true).await
    }

    /// A fresh SQLite database, migrated (as `Store::open`) or not at all
    /// (as `Store::connect`).
    pub async fn sqlite_migrated(migrated: bool) -> TestDb {
        Self::sqlite_configured(migrated, |_| {}).await
    }

    /// [`Self::sqlite_migrated`], with `configure` applied to the store's
    /// configuration first.
    pub async fn sqlite_configured(
        migrated: bool,
        configure: impl FnOnce(&mut StoreConfig),
    ) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let mut config = StoreConfig::new(url);
        configure(&mut config);
        let store = if migrated {
            Store::open(&config).await
        } else {
            Store::connect(&config).await
        }
        .expect("open sqlite");
        TestDb {
            store,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a notice) when the
    /// server is unreachable outside CI. Under `CI=true` it panics instead.
    pub async fn postgres() -> Option<TestDb> {
        Self::postgres_migrated(true).await
    }

    /// [`Self::postgres`], migrated or not at all (see [`Self::sqlite_migrated`]).
    pub async fn postgres_migrated(migrated: bool) -> Option<TestDb> {
        Self::postgres_configured(migrated, |_| {}).await
    }

    /// [`Self::postgres_migrated`], with `configure` applied to the store's
    /// configuration first.
    pub async fn postgres_configured(
        migrated: bool,
        configure: impl FnOnce(&mut StoreConfig),
    ) -> Option<TestDb> {
        let admin = admin_url();
        let name = format!(
            "saadgw_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                + 1000 * u64::from(Utc::now().timestamp_subsec_micros())
        );
        let connect = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(&admin)
            .await;
        let admin_pool = match connect {
            Ok(pool) => pool,
            Err(error) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true and PostgreSQL at {admin} is unreachable: {error}");
                }
                eprintln!(
                    "NOTICE: PostgreSQL unreachable ({error}); skipping PostgreSQL storage test"
                );
                return None;
            }
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&admin_pool)
            .await
            .expect("create test database");
        admin_pool.close().await;
        let mut config = StoreConfig::new(format!("{}/{name}", server_url()));
        configure(&mut config);
        let store = if migrated {
            Store::open(&config).await
        } else {
            Store::connect(&config).await
        }
        .expect("open postgres");
        Some(TestDb {
            store,
            cleanup: Cleanup::Postgres { name },
        })
    }
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn server_url() -> String {
    std::env::var("SAADGW_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

pub fn admin_url() -> String {
    format!("{}/postgres", server_url())
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { name } = &self.cleanup {
            let name = name.clone();
            // Async drop: a short-lived runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async move {
                    if let Ok(pool) = sqlx::PgPool::connect(&admin_url()).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&pool)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn t(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .expect("instant")
        .with_timezone(&Utc)
}

pub fn saad(siret: &str) -> Saad {
    Saad {
        siret: Siret::parse(siret).expect("siret"),
        name: format!("SAAD {siret}"),
        iban: "FR7630006000011234567890189".to_owned(),
        bic: "AGRIFRPP".to_owned(),
        declarative: false,
        finess: Some("710000000".to_owned()),
        legal_category: None,
        account_holder: None,
        address: None,
        aid_types: vec![SaadAidType {
            aid_type: AidType::Apa,
            status: SaadStatus::Habilite,
            tariffs: vec![Tariff {
                valid_from: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
                valid_to: None,
                hourly_rate: Decimal::new(2450, 2),
            }],
        }],
    }
}

pub fn plan(plan_ref: &str, version: u32, beneficiary: &str, siret: &str) -> PlanVersion {
    PlanVersion {
        plan_ref: plan_ref.to_owned(),
        version,
        beneficiary_id: beneficiary.to_owned(),
        saad_siret: Siret::parse(siret).expect("siret"),
        aid_type: AidType::Apa,
        gir: Some(2),
        household: None,
        valid_from: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
        valid_to: chrono::NaiveDate::from_ymd_opt(2024, 12, 31).expect("date"),
        monthly_minutes: 1800,
        hourly_rate: Decimal::new(2450, 2),
        participation_rate: Some(Decimal::new(15713, 5)),
        coverage_rate: None,
        monthly_amount: Decimal::new(73500, 2),
        respite_exemption: false,
        household_ref: None,
    }
}

/// A judged delivery: submissions, the result, and a receipt.
pub struct Built {
    pub lines: Vec<InterventionSubmission>,
    pub result: IngestResult,
    pub receipt: String,
}

/// `n` accepted one-hour lines `{prefix}-{i}` of beneficiary `B-{i % 50}`,
/// starting `first` hours after 2024-01-01T06:00Z, sequences from `next_sequence`.
pub fn accepted_delivery(
    prefix: &str,
    n: usize,
    first: i64,
    next_sequence: i64,
    now: DateTime<Utc>,
) -> Built {
    let base = Utc
        .with_ymd_and_hms(2024, 1, 1, 6, 0, 0)
        .single()
        .expect("base");
    let mut lines = Vec::with_capacity(n);
    let mut result = IngestResult::default();
    for i in 0..n {
        let index = first + i64::try_from(i).expect("index");
        let start = base + Duration::minutes(90 * index);
        let end = start + Duration::minutes(60);
        let line_id = format!("{prefix}-{i}");
        let beneficiary = format!("B-{}", index % 50);
        let worker = WorkerId::parse(&format!("W{}", index % 20)).expect("worker");
        let raw_start = Stamp::parse(&start.to_rfc3339()).expect("stamp");
        let raw_end = Stamp::parse(&end.to_rfc3339()).expect("stamp");
        let period = Period { start, end };
        lines.push(InterventionSubmission {
            line_id: line_id.clone(),
            plan_ref: Some("P-1".to_owned()),
            beneficiary_id: beneficiary.clone(),
            worker_id: Some(worker.clone()),
            aid_type: Some("APA".to_owned()),
            raw_start: Some(raw_start),
            raw_end: Some(raw_end),
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
            plan_ref: Some("P-1".to_owned()),
            beneficiary_id: Some(beneficiary.clone()),
            raw_received_at: Some(now),
            sequence: Some(next_sequence + i64::try_from(i).expect("index")),
            fingerprint: Some(format!("fp-{index}")),
        });
        for (side, stamp) in [(Side::Start, raw_start), (Side::End, raw_end)] {
            result.new_raw.push((
                line_id.clone(),
                RawStamp {
                    side,
                    stamp,
                    received_at: now,
                },
            ));
        }
        result.accepted.push(AcceptedIntervention {
            saad_siret: SAAD_A.to_owned(),
            line_id: line_id.clone(),
            beneficiary_id: beneficiary,
            worker_id: Some(worker),
            period,
            shared_time: false,
            plan_ref: "P-1".to_owned(),
            sequence: next_sequence + i64::try_from(i).expect("index"),
            rounded_minutes: 60,
            corrected: false,
        });
        result.fingerprints.push((line_id, format!("fp-{index}")));
    }
    let receipt = format!(r#"{{"transmission_id":"{prefix}","accepted":{n},"rejected":0}}"#);
    Built {
        lines,
        result,
        receipt,
    }
}

/// Turns line `index` of a built delivery into a rejection.
pub fn reject_line(built: &mut Built, index: usize, code: RejectionCode) {
    let line_id = built.result.outcomes[index].line_id.clone();
    let outcome = &mut built.result.outcomes[index];
    outcome.status = LineStatus::Rejected;
    outcome.reasons = vec![code];
    outcome.rounded_minutes = 0;
    built.result.accepted.retain(|a| a.line_id != line_id);
    built.result.fingerprints.retain(|(l, _)| *l != line_id);
}
