//! Storage contract tests, written once and run against SQLite and the real
//! PostgreSQL (127.0.0.1:5432; under `CI=true` PostgreSQL must be reachable).

#[path = "storage/support.rs"]
mod support;

use std::collections::BTreeSet;

use chrono::{Duration, NaiveDate};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use saad_gateway::domain::ingest::Side;
use saad_gateway::domain::model::{Event, LineAction, OverrunAuthorisation};
use saad_gateway::domain::time::Stamp;
use saad_gateway::domain::types::{EventKind, RejectionCode, YearMonth};
use saad_gateway::storage::{
    AuditEntry, BatchPaymentRecord, BilledIntervention, CommitOutcome, DeliveryCommit, GroupError,
    GroupedDelivery, InvoiceKind, InvoiceLineRecord, InvoiceRecord, InvoiceStatus, Judged,
    MonthStatus, PaymentBatchRecord, PlanInsert, Store, StoreError, TokenRecord, TokenRole, Upsert,
};
use support::*;

/// Runs SQL straight on the pool, bypassing the store's API.
async fn raw_sql(store: &Store, sql: &str) -> Result<u64, StoreError> {
    let done = match store {
        Store::Sqlite(s) => sqlx::query(sql)
            .execute(s.pool())
            .await
            .map(|r| r.rows_affected()),
        Store::Postgres(s) => sqlx::query(sql)
            .execute(s.pool())
            .await
            .map(|r| r.rows_affected()),
    };
    done.map_err(StoreError::from)
}

async fn count(store: &Store, sql: &str) -> i64 {
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(sql)
            .fetch_one(s.pool())
            .await
            .expect(sql),
        Store::Postgres(s) => sqlx::query_scalar(sql)
            .fetch_one(s.pool())
            .await
            .expect(sql),
    }
}

/// Raw sides stored: columns of the version rows that first brought them.
const RAW_SIDES: &str = "SELECT COUNT(raw_start) + COUNT(raw_end) FROM intervention_versions";

/// A raw side as stored before raw stamps became version columns (the
/// `raw_stamps` table, still read and still append-only).
async fn legacy_raw_side(store: &Store) {
    let received = match store {
        Store::Sqlite(_) => "'2024-01-02T11:00:00.000000Z'",
        Store::Postgres(_) => "TIMESTAMPTZ '2024-01-02T11:00:00Z'",
    };
    raw_sql(
        store,
        &format!(
            "INSERT INTO raw_stamps (financer_id, saad_siret, line_id, side, stamp, received_at, transmission_id) \
             VALUES ('default', '{SAAD_A}', 'OLD-0', 'start', '2024-01-01T07:00:00+01:00', {received}, 'OLD')"
        ),
    )
    .await
    .expect("legacy raw side");
    // Such rows were there when the gateway opened the database: it looks
    // for them when it migrates.
    store.migrate().await.expect("migrate");
}

/// Ingests a built delivery through the ingestion transaction.
async fn ingest(store: &Store, tid: &str, built: &Built) -> CommitOutcome {
    let now = t("2024-01-02T12:00:00Z");
    let mut tx = store.begin_ingest().await.expect("begin ingest");
    let _context = tx
        .load_context(SAAD_A, &built.lines, now)
        .await
        .expect("context");
    tx.commit(DeliveryCommit {
        saad_siret: SAAD_A,
        transmission_id: tid,
        body_hash: "hash-1",
        receipt_json: &built.receipt,
        lines: &built.lines,
        result: &built.result,
        now,
    })
    .await
    .expect("commit")
}

mod cases {
    use super::*;

    pub async fn saads_are_upserted_and_listed(store: &Store) {
        let now = t("2024-01-01T00:00:00Z");
        let mut a = saad(SAAD_A);
        assert_eq!(store.upsert_saad(&a, now).await.unwrap(), Upsert::Created);
        a.name = "Renamed".to_owned();
        assert_eq!(store.upsert_saad(&a, now).await.unwrap(), Upsert::Updated);
        store.upsert_saad(&saad(SAAD_B), now).await.unwrap();
        assert_eq!(store.get_saad(SAAD_A).await.unwrap(), Some(a));
        assert_eq!(store.list_saads().await.unwrap().len(), 2);
        assert_eq!(store.get_saad("11111111111111").await.unwrap(), None);
    }

    pub async fn tokens_are_found_by_hash_and_revoked(store: &Store) {
        let token = TokenRecord {
            id: "tok-1".to_owned(),
            role: TokenRole::Saad,
            saad_siret: Some(SAAD_A.to_owned()),
            token_hash: "ab".repeat(32),
            created_at: t("2024-01-01T00:00:00Z"),
            revoked_at: None,
        };
        store.create_token(&token).await.unwrap();
        assert!(matches!(
            store.create_token(&token).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store.find_token_by_hash(&token.token_hash).await.unwrap(),
            Some(token.clone())
        );
        store
            .revoke_token("tok-1", t("2024-01-02T00:00:00Z"))
            .await
            .unwrap();
        let revoked = store
            .find_token_by_hash(&token.token_hash)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(revoked.revoked_at, Some(t("2024-01-02T00:00:00Z")));
        assert!(matches!(
            store.revoke_token("tok-1", t("2024-01-03T00:00:00Z")).await,
            Err(StoreError::NotFound)
        ));
    }

    pub async fn plan_versions_are_unique_and_queried_by_saad_and_month(store: &Store) {
        let now = t("2024-01-01T00:00:00Z");
        let v1 = plan("P-1", 1, "B-1", SAAD_A);
        assert_eq!(
            store.insert_plan_version(&v1, now).await.unwrap(),
            PlanInsert::Inserted
        );
        assert_eq!(
            store.insert_plan_version(&v1, now).await.unwrap(),
            PlanInsert::Identical
        );
        let mut changed = v1.clone();
        changed.monthly_minutes = 600;
        assert!(matches!(
            store.insert_plan_version(&changed, now).await.unwrap(),
            PlanInsert::Conflicting(_)
        ));
        let mut v2 = plan("P-1", 2, "B-1", SAAD_A);
        v2.valid_from = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        store.insert_plan_version(&v2, now).await.unwrap();
        let mut other = plan("P-2", 1, "B-2", SAAD_B);
        other.aid_type = saad_gateway::domain::types::AidType::Am;
        other.household_ref = Some("H-1".to_owned());
        store.insert_plan_version(&other, now).await.unwrap();

        assert_eq!(
            store.plan_versions("P-1").await.unwrap(),
            vec![v1.clone(), v2.clone()]
        );
        let march = NaiveDate::from_ymd_opt(2024, 3, 1).unwrap();
        assert_eq!(
            store.saad_plans_on(SAAD_A, march).await.unwrap(),
            vec![v1.clone()]
        );
        let july = YearMonth::new(2024, 7).unwrap();
        assert_eq!(
            store.saad_plans_in_month(SAAD_A, july).await.unwrap().len(),
            2
        );
        assert!(
            store
                .saad_plans_in_month(SAAD_B, YearMonth::new(2025, 1).unwrap())
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.plans_in_month(july).await.unwrap().len(), 3);
        assert_eq!(store.household_am_plans("H-1").await.unwrap(), vec![other]);
    }

    pub async fn events_are_upserted_by_beneficiary_kind_and_start(store: &Store) {
        let mut event = Event {
            beneficiary_id: "B-1".to_owned(),
            kind: EventKind::Hospitalisation,
            start: NaiveDate::from_ymd_opt(2024, 1, 10).unwrap(),
            end: None,
            note: None,
        };
        assert_eq!(
            store
                .upsert_event(&event, t("2024-01-10T10:00:00Z"))
                .await
                .unwrap(),
            Upsert::Created
        );
        event.end = Some(NaiveDate::from_ymd_opt(2024, 1, 20).unwrap());
        assert_eq!(
            store
                .upsert_event(&event, t("2024-01-21T10:00:00Z"))
                .await
                .unwrap(),
            Upsert::Updated
        );
        let stored = store
            .events_of(&["B-1".to_owned(), "B-9".to_owned()])
            .await
            .unwrap();
        assert_eq!(stored, vec![event.clone()]);
        let changed = store
            .events_changed_since(t("2024-01-15T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(changed, vec![(event.clone(), t("2024-01-21T10:00:00Z"))]);
        assert!(
            store
                .events_changed_since(t("2024-01-22T00:00:00Z"))
                .await
                .unwrap()
                .is_empty()
        );
    }

    pub async fn overrun_authorisations_are_summed_by_plan_and_month(store: &Store) {
        let month = YearMonth::new(2024, 2).unwrap();
        for minutes in [60, 30] {
            let auth = OverrunAuthorisation {
                plan_ref: "P-1".to_owned(),
                month,
                minutes,
            };
            store
                .insert_overrun_authorisation(&auth, t("2024-02-01T00:00:00Z"))
                .await
                .unwrap();
        }
        assert_eq!(store.authorised_minutes("P-1", month).await.unwrap(), 90);
        assert_eq!(
            store.authorised_minutes("P-1", month.next()).await.unwrap(),
            0
        );
    }

    pub async fn a_delivery_is_stored_in_full_and_seen_by_the_next_context(store: &Store) {
        let now = t("2024-01-02T12:00:00Z");
        store.upsert_saad(&saad(SAAD_A), now).await.unwrap();
        store
            .insert_plan_version(&plan("P-1", 1, "B-1", SAAD_A), now)
            .await
            .unwrap();
        let mut built = accepted_delivery("T1", 30, 0, 1, now);
        built
            .result
            .new_aliases
            .push(saad_gateway::domain::ingest::BeneficiaryAlias {
                plan_ref: "P-1".to_owned(),
                alias_id: "MY-B1".to_owned(),
                beneficiary_id: "B-1".to_owned(),
            });
        assert_eq!(ingest(store, "T1", &built).await, CommitOutcome::Stored);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            30
        );
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM current_interventions").await,
            30
        );
        assert_eq!(count(store, RAW_SIDES).await, 60);
        let receipt = store.get_receipt(SAAD_A, "T1").await.unwrap().unwrap();
        assert_eq!(receipt.receipt_json, built.receipt);
        assert_eq!(store.get_receipt(SAAD_B, "T1").await.unwrap(), None);

        // A second delivery re-sending line T1-3 and naming beneficiary B-1
        // by its alias sees priors, neighbours, aliases and the next sequence.
        let mut tx = store.begin_ingest().await.unwrap();
        let mut lines = accepted_delivery("T1", 4, 0, 31, now).lines;
        lines[0].beneficiary_id = "MY-B1".to_owned();
        lines[0].plan_ref = None;
        let context = tx.load_context(SAAD_A, &lines, now).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(context.next_sequence, 31);
        assert_eq!(
            context.saad.as_ref().map(|s| s.siret.as_str()),
            Some(SAAD_A)
        );
        assert_eq!(context.plans.len(), 1);
        assert_eq!(context.aliases.len(), 1);
        assert_eq!(context.priors.len(), 4);
        let prior = context.priors.iter().find(|p| p.line_id == "T1-3").unwrap();
        assert_eq!(prior.raw.len(), 2);
        assert_eq!(prior.accepted.as_ref().map(|a| a.sequence), Some(4));
        assert_eq!(prior.accepted_fingerprint.as_deref(), Some("fp-3"));
        // Neighbours: lines within a day of the stamps (0..=4 span 6 hours),
        // by beneficiary or worker: every line starting before day 2 06:00.
        let neighbour_ids: BTreeSet<&str> = context
            .neighbours
            .iter()
            .map(|n| n.line_id.as_str())
            .collect();
        assert!(neighbour_ids.contains("T1-0") && neighbour_ids.contains("T1-3"));
        assert!(!neighbour_ids.contains("T1-29"), "{neighbour_ids:?}");
        assert!(
            context
                .neighbours
                .windows(2)
                .all(|w| w[0].sequence < w[1].sequence)
        );
    }

    pub async fn same_transmission_twice_stores_one_copy(store: &Store) {
        let now = t("2024-01-02T12:00:00Z");
        let built = accepted_delivery("T1", 10, 0, 1, now);
        assert_eq!(ingest(store, "T1", &built).await, CommitOutcome::Stored);
        let again = accepted_delivery("T1", 10, 0, 11, now);
        let outcome = ingest(store, "T1", &again).await;
        assert_eq!(
            outcome,
            CommitOutcome::AlreadyStored {
                receipt_json: built.receipt.clone(),
                body_hash: "hash-1".to_owned()
            }
        );
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            10
        );
        assert_eq!(count(store, "SELECT COUNT(*) FROM receipts").await, 1);
    }

    pub async fn two_racing_stores_of_one_transmission_leave_one_copy(store: &Store) {
        let now = t("2024-01-02T12:00:00Z");
        let first = accepted_delivery("RACE", 200, 0, 1, now);
        let mut second = accepted_delivery("RACE", 200, 0, 1, now);
        second.receipt = "{\"other\":true}".to_owned();
        let run = |built: Built| {
            let store = store.clone();
            tokio::spawn(async move {
                // Each judges on its own context, as the gateway would.
                let mut tx = store.begin_ingest().await.unwrap();
                let context = tx.load_context(SAAD_A, &built.lines, now).await.unwrap();
                let mut result = built.result.clone();
                for (i, a) in result.accepted.iter_mut().enumerate() {
                    a.sequence = context.next_sequence + i64::try_from(i).unwrap();
                }
                tx.commit(DeliveryCommit {
                    saad_siret: SAAD_A,
                    transmission_id: "RACE",
                    body_hash: "hash-1",
                    receipt_json: &built.receipt,
                    lines: &built.lines,
                    result: &result,
                    now,
                })
                .await
                .unwrap();
                store
                    .get_receipt(SAAD_A, "RACE")
                    .await
                    .unwrap()
                    .unwrap()
                    .receipt_json
            })
        };
        let (a, b) = tokio::join!(run(first), run(second));
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a, b, "both callers get the same receipt");
        assert_eq!(count(store, "SELECT COUNT(*) FROM receipts").await, 1);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            200
        );
        assert_eq!(count(store, RAW_SIDES).await, 400);
    }

    pub async fn raw_stamps_cannot_be_updated(store: &Store) {
        let built = accepted_delivery("T1", 2, 0, 1, t("2024-01-02T12:00:00Z"));
        ingest(store, "T1", &built).await;
        assert_eq!(count(store, RAW_SIDES).await, 4);
        for sql in [
            "UPDATE intervention_versions SET raw_start = '2024-01-01T00:00:00Z'",
            "UPDATE intervention_versions SET raw_end = NULL",
            "UPDATE intervention_versions SET rounded_minutes = 999",
        ] {
            let refused = raw_sql(store, sql).await;
            assert!(
                matches!(refused, Err(StoreError::Conflict(_))),
                "{sql}: {refused:?}"
            );
        }
        assert_eq!(
            count(
                store,
                "SELECT COUNT(*) FROM intervention_versions WHERE raw_start = '2024-01-01T00:00:00Z'"
            )
            .await,
            0
        );
        // Sides stored before raw stamps became version columns stay
        // append-only in their own table.
        legacy_raw_side(store).await;
        let refused = raw_sql(
            store,
            "UPDATE raw_stamps SET stamp = '2024-01-01T00:00:00Z'",
        )
        .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
    }

    pub async fn raw_stamps_cannot_be_deleted(store: &Store) {
        let built = accepted_delivery("T1", 2, 0, 1, t("2024-01-02T12:00:00Z"));
        ingest(store, "T1", &built).await;
        let refused = raw_sql(store, "DELETE FROM intervention_versions").await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        assert_eq!(count(store, RAW_SIDES).await, 4);
        legacy_raw_side(store).await;
        let refused = raw_sql(store, "DELETE FROM raw_stamps").await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        assert_eq!(count(store, "SELECT COUNT(*) FROM raw_stamps").await, 1);
    }

    pub async fn raw_sides_stored_before_the_schema_change_are_still_priors(store: &Store) {
        legacy_raw_side(store).await;
        let now = t("2024-01-02T12:00:00Z");
        let mut tx = store.begin_ingest().await.unwrap();
        let lines = accepted_delivery("OLD", 1, 0, 1, now).lines;
        let context = tx.load_context(SAAD_A, &lines, now).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(context.priors.len(), 1);
        assert_eq!(context.priors[0].line_id, "OLD-0");
        assert_eq!(context.priors[0].raw.len(), 1);
        assert_eq!(
            context.priors[0].raw[0].stamp,
            Stamp::parse("2024-01-01T07:00:00+01:00").unwrap()
        );
    }

    pub async fn a_new_raw_side_of_a_known_line_is_a_new_version_row(store: &Store) {
        let now = t("2024-01-02T12:00:00Z");
        // First delivery brings only the start side.
        let mut first = accepted_delivery("L", 1, 0, 1, now);
        first
            .result
            .new_raw
            .retain(|(_, raw)| raw.side == Side::Start);
        ingest(store, "T1", &first).await;
        // The second delivery of the same line brings the end side.
        let mut tx = store.begin_ingest().await.unwrap();
        let context = tx.load_context(SAAD_A, &first.lines, now).await.unwrap();
        assert_eq!(context.priors[0].raw.len(), 1);
        let mut second = accepted_delivery("L", 1, 0, context.next_sequence, now);
        second
            .result
            .new_raw
            .retain(|(_, raw)| raw.side == Side::End);
        tx.commit(DeliveryCommit {
            saad_siret: SAAD_A,
            transmission_id: "T2",
            body_hash: "h2",
            receipt_json: &second.receipt,
            lines: &second.lines,
            result: &second.result,
            now,
        })
        .await
        .unwrap();
        let mut tx = store.begin_ingest().await.unwrap();
        let context = tx.load_context(SAAD_A, &first.lines, now).await.unwrap();
        tx.rollback().await.unwrap();
        let sides: Vec<Side> = context.priors[0].raw.iter().map(|r| r.side).collect();
        assert_eq!(sides, vec![Side::Start, Side::End]);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            2
        );
        assert_eq!(count(store, RAW_SIDES).await, 2);
    }

    /// A grouped delivery of `n` accepted lines judged on its own context.
    fn grouped(tid: &str, n: usize, first: i64, body_hash: &str) -> GroupedDelivery {
        let now = t("2024-01-02T12:00:00Z");
        let lines = accepted_delivery(tid, n, first, 1, now).lines;
        let tid_owned = tid.to_owned();
        GroupedDelivery {
            saad_siret: SAAD_A.to_owned(),
            transmission_id: tid.to_owned(),
            body_hash: body_hash.to_owned(),
            lines,
            now,
            judge: Box::new(move |context, _lines| {
                let built = accepted_delivery(&tid_owned, n, first, context.next_sequence, now);
                Ok(Judged {
                    result: built.result,
                    receipt_json: built.receipt,
                })
            }),
            audit: None,
            later: None,
        }
    }

    pub async fn concurrent_grouped_deliveries_are_each_stored_exactly_once(store: &Store) {
        let mut tasks = Vec::new();
        // 40 transmissions, each posted twice at the same time.
        for copy in 0..2 {
            for k in 0..40i64 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let tid = format!("G{k}");
                    let outcome = store
                        .ingest_grouped(grouped(&tid, 3, k * 3, "same-body"))
                        .await
                        .expect("grouped ingest");
                    (k, copy, outcome)
                }));
            }
        }
        let mut stored = BTreeSet::new();
        let mut replayed = 0;
        for task in tasks {
            let (k, _copy, outcome) = task.await.unwrap();
            match outcome {
                CommitOutcome::Stored => assert!(stored.insert(k), "G{k} stored twice"),
                CommitOutcome::AlreadyStored { body_hash, .. } => {
                    assert_eq!(body_hash, "same-body");
                    replayed += 1;
                }
                other => panic!("G{k}: a whole delivery answered {other:?}"),
            }
        }
        assert_eq!(stored.len(), 40);
        assert_eq!(replayed, 40);
        assert_eq!(count(store, "SELECT COUNT(*) FROM receipts").await, 40);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            120
        );
        assert_eq!(
            count(
                store,
                "SELECT COUNT(DISTINCT sequence) FROM intervention_versions"
            )
            .await,
            120
        );
        assert_eq!(count(store, RAW_SIDES).await, 240);
    }

    /// The group committer's queue is bounded (`QueueBound`): with a
    /// group being stored and the queue full, a delivery is refused at
    /// once, nothing of it stored; the queued ones are stored; once the
    /// queue has drained, the refused one is taken. `store` was opened with
    /// a bound of 2 deliveries and 10 lines.
    pub async fn a_full_ingestion_queue_refuses_a_delivery_and_stores_nothing_of_it(store: &Store) {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let started = Arc::new(AtomicBool::new(false));
        let release = Arc::new(AtomicBool::new(false));
        // A: its judge holds the group until released.
        let mut first = grouped("Q-A", 1, 0, "h");
        let inner = std::mem::replace(&mut first.judge, Box::new(|_, _| Err("unused".into())));
        let (seen, gate) = (started.clone(), release.clone());
        first.judge = Box::new(move |context, lines| {
            seen.store(true, Ordering::SeqCst);
            // Off the runtime's worker, so the other tasks go on meanwhile.
            tokio::task::block_in_place(|| {
                while !gate.load(Ordering::SeqCst) {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            });
            inner(context, lines)
        });
        let running = {
            let store = store.clone();
            tokio::spawn(async move { store.ingest_grouped(first).await })
        };
        while !started.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        assert_eq!(
            store.ingest_queue().deliveries,
            0,
            "A is being stored, not queued"
        );
        let queue = |expected: usize| async move {
            while store.ingest_queue().deliveries != expected {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        };
        // B (3 lines) waits behind A.
        let second = {
            let store = store.clone();
            tokio::spawn(async move { store.ingest_grouped(grouped("Q-B", 3, 10, "h")).await })
        };
        queue(1).await;
        // C (8 lines): 3 + 8 > 10 lines, refused at once.
        let refused = store.ingest_grouped(grouped("Q-C", 8, 20, "h")).await;
        assert!(
            matches!(
                refused,
                Err(GroupError::Overloaded {
                    deliveries: 1,
                    lines: 3
                })
            ),
            "{refused:?}"
        );
        // D (1 line) still fits: 2 deliveries, 4 lines.
        let third = {
            let store = store.clone();
            tokio::spawn(async move { store.ingest_grouped(grouped("Q-D", 1, 30, "h")).await })
        };
        queue(2).await;
        // E: 2 deliveries already wait.
        let refused = store.ingest_grouped(grouped("Q-E", 1, 40, "h")).await;
        assert!(
            matches!(
                refused,
                Err(GroupError::Overloaded {
                    deliveries: 2,
                    lines: 4
                })
            ),
            "{refused:?}"
        );
        release.store(true, Ordering::SeqCst);
        for (name, task) in [("A", running), ("B", second), ("D", third)] {
            let outcome = task.await.expect("task");
            assert!(
                matches!(outcome, Ok(CommitOutcome::Stored)),
                "{name}: {outcome:?}"
            );
        }
        for refused in ["Q-C", "Q-E"] {
            assert_eq!(store.get_receipt(SAAD_A, refused).await.unwrap(), None);
        }
        assert_eq!(count(store, "SELECT COUNT(*) FROM receipts").await, 3);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            5
        );
        assert_eq!(store.ingest_queue(), Default::default());
        // Sent again once the queue drained, C is taken (and a delivery
        // that finds the queue empty is taken whatever its size).
        let again = store.ingest_grouped(grouped("Q-C", 8, 20, "h")).await;
        assert!(matches!(again, Ok(CommitOutcome::Stored)), "{again:?}");
        let big = store.ingest_grouped(grouped("Q-F", 12, 50, "h")).await;
        assert!(matches!(big, Ok(CommitOutcome::Stored)), "{big:?}");
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            25
        );
    }

    pub async fn a_failing_delivery_in_a_group_does_not_affect_the_others(store: &Store) {
        let mut tasks = Vec::new();
        for k in 0..20i64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let tid = format!("F{k}");
                let mut delivery = grouped(&tid, 2, k * 2, "h");
                if k % 5 == 2 {
                    // The judge refuses this one.
                    delivery.judge = Box::new(|_, _| Err("judge refused".into()));
                } else if k % 5 == 3 {
                    // The judge panics: only this delivery fails.
                    delivery.judge = Box::new(|_, _| panic!("a bug in the checks"));
                } else if k % 5 == 4 {
                    // This one is refused by storage after its receipt was
                    // written (a stale acceptance sequence): rolled back to
                    // its savepoint.
                    let now = t("2024-01-02T12:00:00Z");
                    delivery.judge = Box::new(move |_, _| {
                        let built = accepted_delivery("STALE", 2, 1_000 + k, 0, now);
                        Ok(Judged {
                            result: built.result,
                            receipt_json: built.receipt,
                        })
                    });
                }
                (k, store.ingest_grouped(delivery).await)
            }));
        }
        for task in tasks {
            let (k, outcome) = task.await.unwrap();
            match k % 5 {
                2 | 3 => assert!(
                    matches!(outcome, Err(GroupError::Judge(_))),
                    "F{k}: {outcome:?}"
                ),
                4 => assert!(
                    matches!(outcome, Err(GroupError::Store(StoreError::Conflict(_)))),
                    "F{k}: {outcome:?}"
                ),
                _ => assert!(
                    matches!(outcome, Ok(CommitOutcome::Stored)),
                    "F{k}: {outcome:?}"
                ),
            }
        }
        assert_eq!(count(store, "SELECT COUNT(*) FROM receipts").await, 8);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            16
        );
        for k in [2, 3, 4, 7, 8, 9] {
            assert_eq!(
                store.get_receipt(SAAD_A, &format!("F{k}")).await.unwrap(),
                None
            );
        }
    }

    pub async fn a_context_loaded_before_another_commit_is_refused(store: &Store) {
        let now = t("2024-01-02T12:00:00Z");
        ingest(store, "T1", &accepted_delivery("T1", 5, 0, 1, now)).await;
        // Sequences 1..=5 are taken: a result judged on a stale context is refused.
        let stale = accepted_delivery("T2", 5, 10, 3, now);
        let refused = store
            .commit_delivery(DeliveryCommit {
                saad_siret: SAAD_A,
                transmission_id: "T2",
                body_hash: "h",
                receipt_json: &stale.receipt,
                lines: &stale.lines,
                result: &stale.result,
                now,
            })
            .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        assert_eq!(store.get_receipt(SAAD_A, "T2").await.unwrap(), None);
        assert_eq!(
            count(store, "SELECT COUNT(*) FROM intervention_versions").await,
            5
        );
    }

    pub async fn withdrawal_and_rejections_are_recorded(store: &Store) {
        let now = t("2024-01-02T12:00:00Z");
        let mut built = accepted_delivery("T1", 5, 0, 1, now);
        reject_line(&mut built, 1, RejectionCode::LateTransmission);
        ingest(store, "T1", &built).await;
        let january = YearMonth::new(2024, 1).unwrap();
        let rejected = store.rejected_in_month(SAAD_A, january).await.unwrap();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].line_id, "T1-1");
        assert_eq!(rejected[0].reasons, vec!["LATE_TRANSMISSION".to_owned()]);
        assert!(
            store
                .rejected_in_month(SAAD_B, january)
                .await
                .unwrap()
                .is_empty()
        );

        // T2 withdraws T1-0 and accepts a corrected T1-1.
        let mut withdraw = accepted_delivery("T1", 2, 0, 6, now);
        withdraw.lines[0].action = LineAction::Withdraw;
        withdraw.result.accepted.retain(|a| a.line_id != "T1-0");
        withdraw.result.outcomes[0].counted = None;
        withdraw.result.outcomes[0].rounded_minutes = 0;
        withdraw.result.withdrawn.push("T1-0".to_owned());
        withdraw.result.new_raw.clear();
        ingest(store, "T2", &withdraw).await;
        assert!(
            store
                .rejected_in_month(SAAD_A, january)
                .await
                .unwrap()
                .is_empty()
        );
        let current: Vec<_> = store
            .accepted_in_month(january)
            .try_collect()
            .await
            .unwrap();
        let ids: Vec<&str> = current.iter().map(|c| c.line_id.as_str()).collect();
        assert_eq!(ids, vec!["T1-1", "T1-2", "T1-3", "T1-4"]);
        assert_eq!(count(store, "SELECT COUNT(*) FROM withdrawals").await, 1);
    }

    pub async fn accepted_interventions_of_a_month_stream_in_start_order(store: &Store) {
        let now = t("2024-03-01T12:00:00Z");
        // 600 lines every 90 minutes from 1 January 06:00Z: into February.
        ingest(store, "T1", &accepted_delivery("T1", 600, 0, 1, now)).await;
        let january = YearMonth::new(2024, 1).unwrap();
        let rows: Vec<_> = store
            .accepted_in_month(january)
            .try_collect()
            .await
            .unwrap();
        // Last January start (Paris): 31 Jan 22:59 UTC at the latest.
        let expected = (0..600)
            .filter(|i| {
                let start = t("2024-01-01T06:00:00Z") + Duration::minutes(90 * i);
                start < t("2024-01-31T23:00:00Z")
            })
            .count();
        assert_eq!(rows.len(), expected);
        assert!(
            rows.windows(2)
                .all(|w| w[0].period.start <= w[1].period.start)
        );
        assert!(
            rows.iter()
                .all(|r| r.rounded_minutes == 60 && r.plan_ref == "P-1")
        );
    }

    pub async fn audit_rows_are_appended_and_immutable(store: &Store) {
        let entry = AuditEntry {
            at: t("2024-01-02T12:00:00Z"),
            token_id: Some("tok-1".to_owned()),
            saad_siret: Some(SAAD_A.to_owned()),
            action: "POST /api/v1/deliveries".to_owned(),
            target: Some("T1".to_owned()),
            outcome: "refused:409".to_owned(),
            detail: None,
        };
        store.append_audit(&entry).await.unwrap();
        assert_eq!(
            store.audit_since(t("2024-01-01T00:00:00Z")).await.unwrap(),
            vec![entry]
        );
        assert!(raw_sql(store, "DELETE FROM audit_log").await.is_err());
    }

    pub async fn final_invoices_and_issued_batches_are_immutable(store: &Store) {
        let now = t("2024-02-01T12:00:00Z");
        ingest(store, "T1", &accepted_delivery("T1", 2, 0, 1, now)).await;
        let month = YearMonth::new(2024, 1).unwrap();
        assert_eq!(
            store.get_month(month).await.unwrap().status,
            MonthStatus::Open
        );
        store.close_month(month, now, "run-1").await.unwrap();
        assert_eq!(
            store.get_month(month).await.unwrap().status,
            MonthStatus::Closed
        );
        let invoice = InvoiceRecord {
            id: "INV-1".to_owned(),
            saad_siret: SAAD_A.to_owned(),
            aid_type: saad_gateway::domain::types::AidType::Apa,
            month,
            kind: InvoiceKind::Proforma,
            status: InvoiceStatus::Proforma,
            line_count: 1,
            billed_minutes: 120,
            rejected_minutes: 0,
            valued_amount: Decimal::new(4900, 2),
            participation_amount: Decimal::new(770, 2),
            amount_due: Decimal::new(4130, 2),
            created_at: now,
            close_run_id: "run-1".to_owned(),
            batch_id: None,
        };
        let lines = vec![InvoiceLineRecord {
            line_no: 1,
            plan_ref: "P-1".to_owned(),
            beneficiary_id: "B-0".to_owned(),
            billed_minutes: 120,
            rejected_minutes: 0,
            // R7 figures kept with the line (read back as stored).
            allotted_minutes: Some(600),
            carried_in_minutes: Some(300),
            hourly_rate: Decimal::new(2450, 2),
            valued_amount: Decimal::new(4900, 2),
            participation_amount: Decimal::new(770, 2),
            amount_due: Decimal::new(4130, 2),
            interventions: vec![
                BilledIntervention {
                    version_id: 1,
                    billed_minutes: 60,
                    rejected_minutes: 0,
                },
                BilledIntervention {
                    version_id: 2,
                    billed_minutes: 60,
                    rejected_minutes: 0,
                },
            ],
        }];
        store.insert_invoice(&invoice, &lines).await.unwrap();
        assert_eq!(
            store.get_invoice("INV-1", Some(SAAD_A)).await.unwrap(),
            Some((invoice.clone(), lines.clone()))
        );
        assert_eq!(
            store.get_invoice("INV-1", Some(SAAD_B)).await.unwrap(),
            None
        );
        assert_eq!(store.list_invoices(month, None).await.unwrap().len(), 1);
        // A pro-forma may still change; a final one may not.
        raw_sql(
            store,
            "UPDATE invoices SET amount_due = '41.31' WHERE id = 'INV-1'",
        )
        .await
        .unwrap();
        raw_sql(
            store,
            "UPDATE invoices SET amount_due = '41.30' WHERE id = 'INV-1'",
        )
        .await
        .unwrap();
        store
            .set_invoice_status("INV-1", InvoiceStatus::SaadValidated, now)
            .await
            .unwrap();
        store
            .set_invoice_status("INV-1", InvoiceStatus::Final, now)
            .await
            .unwrap();
        let refused = raw_sql(
            store,
            "UPDATE invoices SET amount_due = '1.00' WHERE id = 'INV-1'",
        )
        .await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );
        let refused = raw_sql(store, "UPDATE invoice_lines SET amount_due = '1.00'").await;
        assert!(
            matches!(refused, Err(StoreError::Conflict(_))),
            "{refused:?}"
        );

        let batch = PaymentBatchRecord {
            id: "BATCH-1".to_owned(),
            created_at: now,
            total: Decimal::new(4130, 2),
            payments: vec![BatchPaymentRecord {
                saad_siret: SAAD_A.to_owned(),
                iban: "FR7630006000011234567890189".to_owned(),
                bic: "AGRIFRPP".to_owned(),
                amount: Decimal::new(4130, 2),
                invoice_ids: vec!["INV-1".to_owned()],
            }],
        };
        store.insert_payment_batch(&batch).await.unwrap();
        assert_eq!(
            store.get_payment_batch("BATCH-1").await.unwrap(),
            Some(batch.clone())
        );
        assert_eq!(store.list_payment_batches().await.unwrap().len(), 1);
        let paid = store.get_invoice("INV-1", None).await.unwrap().unwrap().0;
        assert_eq!(
            (paid.status, paid.batch_id.as_deref()),
            (InvoiceStatus::Paid, Some("BATCH-1"))
        );
        assert!(matches!(
            store
                .insert_payment_batch(&PaymentBatchRecord {
                    id: "BATCH-2".to_owned(),
                    ..batch
                })
                .await,
            Err(StoreError::Conflict(_))
        ));
        for sql in [
            "UPDATE payment_batches SET total = '0.00'",
            "DELETE FROM batch_payments",
            "DELETE FROM payment_batches",
        ] {
            let refused = raw_sql(store, sql).await;
            assert!(
                matches!(refused, Err(StoreError::Conflict(_))),
                "{sql}: {refused:?}"
            );
        }
    }
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let db = super::TestDb::sqlite().await;
                    super::cases::$case(&db.store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::cases::$case(&db.store).await;
                }
            )*
        }
    };
}

on_both_backends!(
    saads_are_upserted_and_listed,
    tokens_are_found_by_hash_and_revoked,
    plan_versions_are_unique_and_queried_by_saad_and_month,
    events_are_upserted_by_beneficiary_kind_and_start,
    overrun_authorisations_are_summed_by_plan_and_month,
    a_delivery_is_stored_in_full_and_seen_by_the_next_context,
    same_transmission_twice_stores_one_copy,
    two_racing_stores_of_one_transmission_leave_one_copy,
    raw_stamps_cannot_be_updated,
    raw_stamps_cannot_be_deleted,
    raw_sides_stored_before_the_schema_change_are_still_priors,
    a_new_raw_side_of_a_known_line_is_a_new_version_row,
    concurrent_grouped_deliveries_are_each_stored_exactly_once,
    a_failing_delivery_in_a_group_does_not_affect_the_others,
    a_context_loaded_before_another_commit_is_refused,
    withdrawal_and_rejections_are_recorded,
    accepted_interventions_of_a_month_stream_in_start_order,
    audit_rows_are_appended_and_immutable,
    final_invoices_and_issued_batches_are_immutable,
);

/// The migration that packs an invoice line's traceability into the line
/// (`invoice_lines.interventions`, issue #9).
const PACKED_TRACES_MIGRATION: i64 = 20_261_204_000_003;

/// Applies this backend's migrations older than `version` only: a
/// database as an earlier gateway left it.
async fn migrate_before(store: &Store, version: i64) {
    let dir = match store {
        Store::Sqlite(_) => "migrations/sqlite",
        Store::Postgres(_) => "migrations/postgres",
    };
    let mut migrator =
        sqlx::migrate::Migrator::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .await
            .expect("migrations");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    match store {
        Store::Sqlite(s) => migrator.run(s.pool()).await,
        Store::Postgres(s) => migrator.run(s.pool()).await,
    }
    .unwrap_or_else(|e| panic!("migrations before {version}: {e}"));
}

/// Traceability rows written before they were packed into their invoice
/// lines are moved there by the migration, final invoice included, and the
/// final invoice stays immutable.
async fn traceability_rows_stored_before_packing_are_moved_into_their_lines(store: &Store) {
    migrate_before(store, PACKED_TRACES_MIGRATION).await;
    let now = t("2024-01-02T12:00:00Z");
    store.upsert_saad(&saad(SAAD_A), now).await.unwrap();
    let built = accepted_delivery("OLD", 3, 0, 1, now);
    assert_eq!(ingest(store, "T-OLD", &built).await, CommitOutcome::Stored);
    let versions: Vec<i64> = match store {
        Store::Sqlite(s) => {
            sqlx::query_scalar("SELECT id FROM intervention_versions ORDER BY id")
                .fetch_all(s.pool())
                .await
        }
        Store::Postgres(s) => {
            sqlx::query_scalar("SELECT id FROM intervention_versions ORDER BY id")
                .fetch_all(s.pool())
                .await
        }
    }
    .expect("version ids");
    assert_eq!(versions.len(), 3);
    raw_sql(
        store,
        &format!(
            "INSERT INTO invoices (id, financer_id, saad_siret, aid_type, month, kind, status, line_count, \
             billed_minutes, rejected_minutes, valued_amount, participation_amount, amount_due, created_at, \
             close_run_id) VALUES ('F-OLD', 'default', '{SAAD_A}', 'APA', '2024-01', 'proforma', 'final', 2, \
             180, 0, '60.00', '0.00', '60.00', '2024-02-01T08:00:00.000000Z', 'close-2024-01')"
        ),
    )
    .await
    .expect("old invoice");
    for line_no in [1, 2] {
        raw_sql(
            store,
            &format!(
                "INSERT INTO invoice_lines (invoice_id, line_no, plan_ref, beneficiary_id, billed_minutes, \
                 rejected_minutes, hourly_rate, valued_amount, participation_amount, amount_due) \
                 VALUES ('F-OLD', {line_no}, 'P-{line_no}', 'B-{line_no}', 90, 0, '20.00', '30.00', '0.00', \
                 '30.00')"
            ),
        )
        .await
        .expect("old line");
    }
    // Line 1 billed the last version then the first (rows in any order);
    // line 2 billed nothing.
    for (version, billed) in [(versions[2], 60), (versions[0], 30)] {
        raw_sql(
            store,
            &format!(
                "INSERT INTO invoice_line_interventions (invoice_id, line_no, version_id, billed_minutes, \
                 rejected_minutes) VALUES ('F-OLD', 1, {version}, {billed}, 5)"
            ),
        )
        .await
        .expect("old trace");
    }

    store.migrate().await.expect("migrate");

    let (invoice, lines) = store.get_invoice("F-OLD", None).await.unwrap().unwrap();
    assert_eq!(invoice.status, InvoiceStatus::Final);
    assert_eq!(
        lines[0].interventions,
        vec![
            BilledIntervention {
                version_id: versions[0],
                billed_minutes: 30,
                rejected_minutes: 5,
            },
            BilledIntervention {
                version_id: versions[2],
                billed_minutes: 60,
                rejected_minutes: 5,
            },
        ]
    );
    assert!(lines[1].interventions.is_empty());
    assert!(
        raw_sql(store, "SELECT COUNT(*) FROM invoice_line_interventions")
            .await
            .is_err(),
        "the old table is dropped"
    );
    let refused = raw_sql(store, "UPDATE invoice_lines SET interventions = '[]'").await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "a final invoice's lines stay immutable: {refused:?}"
    );
}

mod packed_traces_migration {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let db = super::TestDb::sqlite_migrated(false).await;
        super::traceability_rows_stored_before_packing_are_moved_into_their_lines(&db.store).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(db) = super::TestDb::postgres_migrated(false).await else {
            return;
        };
        super::traceability_rows_stored_before_packing_are_moved_into_their_lines(&db.store).await;
    }
}

/// The bound of [`cases::a_full_ingestion_queue_refuses_a_delivery_and_stores_nothing_of_it`].
fn small_queue(config: &mut saad_gateway::storage::StoreConfig) {
    config.ingest_queue = saad_gateway::storage::QueueBound {
        deliveries: 2,
        lines: 10,
    };
}

mod ingestion_queue_bound {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let db = super::TestDb::sqlite_configured(true, super::small_queue).await;
        super::cases::a_full_ingestion_queue_refuses_a_delivery_and_stores_nothing_of_it(&db.store)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(db) = super::TestDb::postgres_configured(true, super::small_queue).await else {
            return;
        };
        super::cases::a_full_ingestion_queue_refuses_a_delivery_and_stores_nothing_of_it(&db.store)
            .await;
    }
}
