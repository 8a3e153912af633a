//! Group commit keeps the rules' order (R2 re-sends, R3 first reception,
//! R6 overlaps and "later" sequences, the alias rule): deliveries queued
//! together are judged in waves on contexts loaded together, and the result
//! must be exactly what the same deliveries give one after another: the
//! same outcome and receipt for each, the same rows stored. Likewise a
//! large delivery ingested part by part as it is read gives exactly what
//! the same delivery gives whole.

#[path = "storage/support.rs"]
mod support;

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;
use saad_gateway::domain::checks::check_delivery;
use saad_gateway::domain::model::{InterventionSubmission, LineAction};
use saad_gateway::domain::params::Parameters;
use saad_gateway::domain::time::Stamp;
use saad_gateway::domain::types::{Siret, WorkerId};
use saad_gateway::service::receipt::Receipt;
use saad_gateway::storage::{CommitOutcome, GroupedDelivery, Judged, Store};
use support::{SAAD_A, SAAD_B, TestDb, plan, saad};

/// One generated line: which plan (and how the beneficiary is named),
/// which line id, worker, slot and length, and what the SAAD asks.
#[derive(Debug, Clone)]
struct LineSpec {
    plan: usize,
    naming: u8,
    line: u8,
    worker: u8,
    slot: i64,
    minutes: i64,
    action: u8,
}

#[derive(Debug, Clone)]
struct DeliverySpec {
    saad_b: bool,
    tid: u8,
    lines: Vec<LineSpec>,
}

/// Plans: (plan_ref, beneficiary, SAAD). B-1 is served by both SAADs
/// (cross-SAAD overlaps); P-3 of SAAD B named by SAAD A is `UNKNOWN_PLAN`.
const PLANS: [(&str, &str, &str); 5] = [
    ("P-1", "B-1", SAAD_A),
    ("P-2", "B-2", SAAD_A),
    ("P-3", "B-3", SAAD_B),
    ("P-4", "B-1", SAAD_B),
    ("P-5", "B-4", SAAD_A),
];

fn line_spec() -> impl Strategy<Value = LineSpec> {
    (
        0..PLANS.len(),
        0u8..4,
        0u8..5,
        0u8..3,
        0i64..8,
        prop::sample::select(vec![30i64, 60, 90]),
        0u8..10,
    )
        .prop_map(
            |(plan, naming, line, worker, slot, minutes, action)| LineSpec {
                plan,
                naming,
                line,
                worker,
                slot,
                minutes,
                action,
            },
        )
}

fn delivery_spec() -> impl Strategy<Value = DeliverySpec> {
    (
        any::<bool>(),
        0u8..6,
        prop::collection::vec(line_spec(), 1..4),
    )
        .prop_map(|(saad_b, tid, lines)| DeliverySpec { saad_b, tid, lines })
}

fn day_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 10, 6, 0, 0)
        .single()
        .expect("instant")
}

fn submission(spec: &LineSpec) -> InterventionSubmission {
    let (plan_ref, beneficiary, _) = PLANS[spec.plan];
    let start = day_start() + Duration::minutes(45 * spec.slot);
    let end = start + Duration::minutes(spec.minutes);
    let stamp = |at: DateTime<Utc>| Stamp::parse(&at.to_rfc3339()).expect("stamp");
    // The SAAD's own id for the beneficiary (alias rule), the financer's
    // id, or no plan reference at all (the plan is found by beneficiary).
    let (plan_ref, beneficiary_id) = match spec.naming {
        0 => (Some(plan_ref.to_owned()), format!("own-{beneficiary}")),
        1 => (None, beneficiary.to_owned()),
        _ => (Some(plan_ref.to_owned()), beneficiary.to_owned()),
    };
    let action = match spec.action {
        0 => LineAction::Withdraw,
        1 => LineAction::StampsOnly,
        _ => LineAction::Count,
    };
    InterventionSubmission {
        line_id: format!("L{}", spec.line),
        plan_ref,
        beneficiary_id,
        worker_id: Some(WorkerId::parse(&format!("W{}", spec.worker)).expect("worker")),
        aid_type: Some("APA".to_owned()),
        raw_start: Some(stamp(start)),
        raw_end: Some(stamp(end)),
        action,
        ..InterventionSubmission::default()
    }
}

fn params() -> Arc<Parameters> {
    Arc::new(
        saad_gateway::charter::load_dir(&saad_gateway::charter::default_dir()).expect("charter"),
    )
}

/// The grouped delivery of `spec` (the `k`-th), judged by the real checks;
/// the receipt it builds goes to `receipts[k]`.
fn grouped(
    k: usize,
    spec: &DeliverySpec,
    params: &Arc<Parameters>,
    receipts: &Arc<Mutex<Vec<Option<String>>>>,
) -> GroupedDelivery {
    let siret = if spec.saad_b { SAAD_B } else { SAAD_A };
    let lines: Vec<InterventionSubmission> = spec.lines.iter().map(submission).collect();
    let tid = format!("T{}", spec.tid);
    let now = day_start() + Duration::hours(12) + Duration::seconds(i64::try_from(k).expect("k"));
    let params = Arc::clone(params);
    let receipts = Arc::clone(receipts);
    let judge_tid = tid.clone();
    let judge_saad = Siret::parse(siret).expect("siret");
    GroupedDelivery {
        saad_siret: siret.to_owned(),
        transmission_id: tid,
        body_hash: format!("{lines:?}"),
        lines,
        now,
        judge: Box::new(move |context, lines| {
            let result = check_delivery(context, &params, &judge_saad, lines)?;
            let receipt = Receipt::build(&judge_tid, now, &result.outcomes, &params);
            let receipt_json = serde_json::to_string(&receipt)?;
            if let Ok(mut slots) = receipts.lock() {
                slots[k] = Some(receipt_json.clone());
            }
            Ok(Judged {
                result,
                receipt_json,
            })
        }),
        audit: None,
        later: None,
    }
}

async fn prepare(store: &Store) {
    let now = Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("now");
    for siret in [SAAD_A, SAAD_B] {
        store.upsert_saad(&saad(siret), now).await.expect("saad");
    }
    for (plan_ref, beneficiary, siret) in PLANS {
        store
            .insert_plan_version(&plan(plan_ref, 1, beneficiary, siret), now)
            .await
            .expect("plan");
    }
}

/// A version row as compared: id, SAAD, line, line number, status,
/// reasons, sequence, beneficiary.
type VersionSeen = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
);

/// What each delivery got back, and every row ingestion writes.
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    outcomes: Vec<String>,
    receipts: Vec<Option<String>>,
    versions: Vec<VersionSeen>,
    current: Vec<(String, String, i64, i64, String, String, i64)>,
    aliases: Vec<(String, String, String, String)>,
    withdrawals: Vec<(String, String, i64)>,
}

async fn observe(store: &Store, outcomes: Vec<String>, receipts: Vec<Option<String>>) -> Observed {
    const VERSIONS: &str = "SELECT id, saad_siret, line_id, line_no, status, reasons, sequence, \
                            beneficiary_id FROM intervention_versions ORDER BY id";
    const CURRENT: &str = "SELECT saad_siret, line_id, version_id, sequence, plan_ref, beneficiary_id, \
                           rounded_minutes FROM current_interventions ORDER BY saad_siret, line_id";
    const ALIASES: &str = "SELECT saad_siret, plan_ref, alias_id, beneficiary_id FROM beneficiary_aliases \
                           ORDER BY saad_siret, plan_ref, alias_id";
    const WITHDRAWALS: &str = "SELECT saad_siret, line_id, version_id FROM withdrawals \
                               ORDER BY version_id";
    macro_rules! rows {
        ($pool:expr) => {
            Observed {
                outcomes,
                receipts,
                versions: sqlx::query_as(VERSIONS)
                    .fetch_all($pool)
                    .await
                    .expect("versions"),
                current: sqlx::query_as(CURRENT)
                    .fetch_all($pool)
                    .await
                    .expect("current"),
                aliases: sqlx::query_as(ALIASES)
                    .fetch_all($pool)
                    .await
                    .expect("aliases"),
                withdrawals: sqlx::query_as(WITHDRAWALS)
                    .fetch_all($pool)
                    .await
                    .expect("withdrawals"),
            }
        };
    }
    match store {
        Store::Sqlite(s) => rows!(s.pool()),
        Store::Postgres(s) => rows!(s.pool()),
    }
}

fn outcome_text(outcome: Result<CommitOutcome, saad_gateway::storage::GroupError>) -> String {
    match outcome {
        Ok(CommitOutcome::Stored) => "stored".to_owned(),
        Ok(CommitOutcome::AlreadyStored {
            receipt_json,
            body_hash,
        }) => format!("already stored: {receipt_json} / {body_hash}"),
        Ok(CommitOutcome::AlreadyStoredInParts {
            receipt_prefix,
            parts,
            body_hash,
        }) => format!("already stored in {parts} parts: {receipt_prefix} / {body_hash}"),
        Err(error) => format!("error: {error}"),
    }
}

/// The deliveries one after another: each waits for the one before.
async fn one_by_one(store: &Store, specs: &[DeliverySpec]) -> Observed {
    prepare(store).await;
    let params = params();
    let receipts = Arc::new(Mutex::new(vec![None; specs.len()]));
    let mut outcomes = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        let outcome = store
            .ingest_grouped(grouped(k, spec, &params, &receipts))
            .await;
        outcomes.push(outcome_text(outcome));
    }
    let receipts = receipts.lock().expect("receipts").clone();
    observe(store, outcomes, receipts).await
}

/// The deliveries queued together, in the same order: on a current-thread
/// runtime every submission is queued before the group committer runs, so
/// they form one group (waves inside it).
async fn together(store: &Store, specs: &[DeliverySpec]) -> Observed {
    prepare(store).await;
    let params = params();
    let receipts = Arc::new(Mutex::new(vec![None; specs.len()]));
    let submissions = specs
        .iter()
        .enumerate()
        .map(|(k, spec)| store.ingest_grouped(grouped(k, spec, &params, &receipts)));
    let outcomes = futures_util::future::join_all(submissions)
        .await
        .into_iter()
        .map(outcome_text)
        .collect();
    let receipts = receipts.lock().expect("receipts").clone();
    observe(store, outcomes, receipts).await
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// R2/R3/R6 and the alias rule, SQLite: a group gives what the same
    /// deliveries give one after another.
    #[test]
    fn r6_a_group_is_judged_as_its_deliveries_one_after_another_sqlite(
        specs in prop::collection::vec(delivery_spec(), 2..14)
    ) {
        let runtime = current_thread();
        let (alone, grouped) = runtime.block_on(async {
            let a = TestDb::sqlite().await;
            let b = TestDb::sqlite().await;
            (one_by_one(&a.store, &specs).await, together(&b.store, &specs).await)
        });
        prop_assert_eq!(alone, grouped);
    }
}

/// The same on PostgreSQL (its lists are arrays, its instants timestamps),
/// on a fixed set of generated cases.
#[test]
fn r6_a_group_is_judged_as_its_deliveries_one_after_another_postgres() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = prop::collection::vec(delivery_spec(), 2..14);
    let runtime = current_thread();
    for _ in 0..6 {
        let specs = strategy
            .new_tree(&mut runner)
            .expect("generated deliveries")
            .current();
        let observed = runtime.block_on(async {
            let a = TestDb::postgres().await?;
            let b = TestDb::postgres().await?;
            Some((
                one_by_one(&a.store, &specs).await,
                together(&b.store, &specs).await,
            ))
        });
        let Some((alone, grouped)) = observed else {
            return;
        };
        assert_eq!(alone, grouped, "deliveries: {specs:?}");
    }
}

/// R6 in a group: a delivery that withdraws an accepted line (`SUP`) frees
/// its slot for the next delivery of the same group, exactly as when the
/// next one comes after it.
#[test]
fn r6_a_line_withdrawn_by_a_grouped_delivery_frees_its_slot() {
    let line = |plan, line, worker, slot| LineSpec {
        plan,
        naming: 2,
        line,
        worker,
        slot,
        minutes: 60,
        action: 5,
    };
    let specs = vec![
        // SAAD A: L0 for B-1 (P-1), worker W0, slot 0.
        DeliverySpec {
            saad_b: false,
            tid: 0,
            lines: vec![line(0, 0, 0, 0)],
        },
        // SAAD A withdraws L0.
        DeliverySpec {
            saad_b: false,
            tid: 1,
            lines: vec![LineSpec {
                action: 0,
                ..line(0, 0, 0, 0)
            }],
        },
        // SAAD B: B-1 (P-4) at slot 0, where L0 was.
        DeliverySpec {
            saad_b: true,
            tid: 0,
            lines: vec![line(3, 0, 0, 0)],
        },
    ];
    let runtime = current_thread();
    let (alone, grouped) = runtime.block_on(async {
        let a = TestDb::sqlite().await;
        let b = TestDb::sqlite().await;
        (
            one_by_one(&a.store, &specs).await,
            together(&b.store, &specs).await,
        )
    });
    assert_eq!(alone, grouped);
    // The case is the one meant: the withdrawal, then the slot taken.
    let statuses: Vec<&str> = alone.versions.iter().map(|v| v.4.as_str()).collect();
    assert_eq!(statuses, ["accepted", "accepted", "accepted"], "{alone:#?}");
}

/// What a delivery of `spec`'s lines (SAAD A, transmission `T-BIG`) gets
/// back through the service, whole or in parts of `part` lines, after
/// `earlier` deliveries one by one; the receipt is read back whole (from
/// storage's parts when it was stored in parts).
async fn big_delivery(
    store: &Store,
    earlier: &[DeliverySpec],
    lines: &[LineSpec],
    part: Option<usize>,
) -> Observed {
    use saad_gateway::service::ingest::{Ingested, ingest_delivery, ingest_in_parts};
    use saad_gateway::storage::{Part, RECEIPT_PARTS_END};
    let mut observed = one_by_one(store, earlier).await;
    let params = params();
    let saad = Siret::parse(SAAD_A).expect("siret");
    let submissions: Vec<InterventionSubmission> = lines.iter().map(submission).collect();
    let now = day_start() + Duration::hours(14);
    let ingested = match part {
        None => ingest_delivery(store, params, &saad, "T-BIG", "h", submissions, now, None).await,
        Some(size) => {
            let mut parts = submissions
                .chunks(size)
                .map(<[InterventionSubmission]>::to_vec);
            let first = parts.next().unwrap_or_default();
            let (sender, later) = tokio::sync::mpsc::channel(64);
            for lines in parts {
                sender.send(Part::Lines(lines)).await.expect("part");
            }
            sender.send(Part::End).await.expect("end");
            ingest_in_parts(store, params, &saad, "T-BIG", "h", first, later, now, None).await
        }
    };
    let receipt = match ingested.expect("ingested") {
        Ingested::Stored(receipt) | Ingested::Replayed(receipt) => {
            serde_json::to_string(&receipt).expect("receipt")
        }
        Ingested::InParts(receipt) => {
            let mut parts = Vec::new();
            for part_no in 1..=receipt.parts {
                parts.push(
                    store
                        .receipt_part(SAAD_A, "T-BIG", part_no)
                        .await
                        .expect("part")
                        .expect("stored part"),
                );
            }
            format!("{}{}{RECEIPT_PARTS_END}", receipt.prefix, parts.join(","))
        }
    };
    let rows = observe(store, Vec::new(), Vec::new()).await;
    observed.receipts.push(Some(receipt));
    Observed {
        outcomes: observed.outcomes,
        receipts: observed.receipts,
        ..rows
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// R1–R6 on a large delivery read in parts (docs/deliveries.md "Large
    /// files"): judged part by part, each part on what the earlier parts
    /// stored, it gives the same receipt (byte for byte), the same outcome
    /// for every line (overlaps with earlier lines of the same delivery,
    /// re-sent and withdrawn lines, first receptions, aliases) and the same
    /// rows (line numbers included) as the same delivery judged whole.
    #[test]
    fn r6_a_delivery_read_in_parts_is_judged_as_the_whole_delivery(
        earlier in prop::collection::vec(delivery_spec(), 0..4),
        lines in prop::collection::vec(line_spec(), 2..24),
        part in 1usize..6,
    ) {
        let runtime = current_thread();
        let (whole, in_parts) = runtime.block_on(async {
            let a = TestDb::sqlite().await;
            let b = TestDb::sqlite().await;
            (
                big_delivery(&a.store, &earlier, &lines, None).await,
                big_delivery(&b.store, &earlier, &lines, Some(part)).await,
            )
        });
        prop_assert_eq!(whole, in_parts);
    }
}

/// The same on PostgreSQL, on a fixed set of generated cases.
#[test]
fn r6_a_delivery_read_in_parts_is_judged_as_the_whole_delivery_postgres() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[11; 32]),
    );
    let strategy = (
        prop::collection::vec(delivery_spec(), 0..4),
        prop::collection::vec(line_spec(), 2..24),
        1usize..6,
    );
    let runtime = current_thread();
    for _ in 0..4 {
        let (earlier, lines, part) = strategy
            .new_tree(&mut runner)
            .expect("generated deliveries")
            .current();
        let observed = runtime.block_on(async {
            let a = TestDb::postgres().await?;
            let b = TestDb::postgres().await?;
            Some((
                big_delivery(&a.store, &earlier, &lines, None).await,
                big_delivery(&b.store, &earlier, &lines, Some(part)).await,
            ))
        });
        let Some((whole, in_parts)) = observed else {
            return;
        };
        assert_eq!(
            whole, in_parts,
            "earlier: {earlier:?}, lines: {lines:?}, part: {part}"
        );
    }
}
