//! Ingestion of one delivery (rules R1–R6, api.md `POST /api/v1/deliveries`):
//! load what the checks need, judge, and store the lines with their receipt
//! in one transaction — or return the first receipt of a transmission
//! already stored.
//!
//! Nothing is acknowledged before it is committed: the receipt is returned
//! only after the (possibly shared, see `storage::group`) transaction
//! committed.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::domain::checks::check_delivery;
use crate::domain::model::InterventionSubmission;
use crate::domain::params::{ParameterError, Parameters};
use crate::domain::types::Siret;
use crate::storage::{
    AuditEntry, CommitOutcome, GroupError, GroupedDelivery, Judge, Judged, LaterParts, Part, Store,
    StoreError,
};

use super::receipt::{Receipt, ReceiptLine, lines_part, receipt_lines, receipt_prefix};

/// What happened to a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Judged and stored now.
    Stored(Receipt),
    /// The same transmission with the same body was stored before: its
    /// first receipt, nothing stored again (R6 idempotency).
    Replayed(Receipt),
    /// Stored now, or before (a replay), with its receipt kept in parts: a
    /// large delivery ingested as it was read. The receipt is read back
    /// from storage part by part (`Store::receipt_parts`).
    InParts(ReceiptInParts),
}

/// A receipt kept in parts (see `storage::CommitOutcome::AlreadyStoredInParts`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptInParts {
    /// Transmission id.
    pub transmission_id: String,
    /// The receipt up to `"lines":[`.
    pub prefix: String,
    /// How many parts hold its lines.
    pub parts: i64,
    /// Stored by this request (`false`: the first receipt, replayed).
    pub stored: bool,
    /// Lines, and rejected lines by their main reason, of what this request
    /// stored (empty for a replay).
    pub tally: LineTally,
}

/// How many lines a delivery stored, accepted and rejected by main reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineTally {
    /// Accepted lines.
    pub accepted: u64,
    /// Rejected lines by the code of their first reason.
    pub rejected: std::collections::BTreeMap<String, u64>,
}

impl LineTally {
    /// Counts these receipt lines.
    pub fn add(&mut self, lines: &[ReceiptLine]) {
        for line in lines {
            match line.status {
                crate::domain::model::LineStatus::Accepted => self.accepted += 1,
                crate::domain::model::LineStatus::Rejected => {
                    let code = line
                        .reasons
                        .first()
                        .map(|r| r.code.clone())
                        .unwrap_or_default();
                    *self.rejected.entry(code).or_default() += 1;
                }
            }
        }
    }

    /// Rejected lines, whatever the reason.
    pub fn rejected_lines(&self) -> u64 {
        self.rejected.values().sum()
    }
}

/// Why a delivery could not be ingested.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The transmission id was used before with a different body (api.md: 409).
    #[error(
        "transmission '{0}' was already received with a different content; send new data under a new transmission id"
    )]
    TransmissionConflict(String),
    /// The charter lacks a value the rules need (configuration fault).
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    /// Storage failed (unavailable → 503).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored receipt could not be read back.
    #[error("stored receipt is unreadable: {0}")]
    CorruptReceipt(#[from] serde_json::Error),
    /// A delivery ingested as it was read could not be read to its end
    /// (the reader says why); nothing of it was stored.
    #[error("the delivery could not be read to its end; nothing of it was stored")]
    Unfinished,
    /// The ingestion queue was full (503 with `Retry-After`); nothing of
    /// the delivery was stored.
    #[error(transparent)]
    Overloaded(GroupError),
}

/// Ingests one delivery for `saad` (the SAAD of the posting token).
///
/// `body_hash` identifies the request body, so that a re-send of the same
/// transmission id with other content answers a conflict instead of the
/// first receipt.
///
/// The delivery goes through the store's group committer
/// ([`Store::ingest_grouped`]): it is judged and written inside a
/// transaction it may share with deliveries posted at the same time (a
/// savepoint each, so another delivery's failure does not touch it), and
/// this returns only after that transaction committed.
// One delivery's facts, each needed as such; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn ingest_delivery(
    store: &Store,
    params: Arc<Parameters>,
    saad: &Siret,
    transmission_id: &str,
    body_hash: &str,
    lines: Vec<InterventionSubmission>,
    now: DateTime<Utc>,
    audit: Option<AuditEntry>,
) -> Result<Ingested, IngestError> {
    // A transmission already stored is answered by the group committer
    // with its first receipt, before judging (no look-up of its own here:
    // it would cost every post a statement for the rare re-send).
    let built: Arc<Mutex<Option<Receipt>>> = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&built);
    let judge_saad = saad.clone();
    let judge_tid = transmission_id.to_owned();
    let judge: Judge = Box::new(move |context, lines| {
        let result = check_delivery(context, &params, &judge_saad, lines)?;
        let receipt = Receipt::build(&judge_tid, now, &result.outcomes, &params);
        let receipt_json = serde_json::to_string(&receipt)?;
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(receipt);
        }
        Ok(Judged {
            result,
            receipt_json,
        })
    });
    let outcome = store
        .ingest_grouped(GroupedDelivery {
            saad_siret: saad.as_str().to_owned(),
            transmission_id: transmission_id.to_owned(),
            body_hash: body_hash.to_owned(),
            lines,
            now,
            judge,
            audit,
            later: None,
        })
        .await
        .map_err(ingest_error)?;
    match outcome {
        CommitOutcome::Stored => {
            let receipt = built
                .lock()
                .ok()
                .and_then(|mut slot| slot.take())
                .ok_or_else(|| StoreError::other("stored delivery without its receipt"))?;
            Ok(Ingested::Stored(receipt))
        }
        CommitOutcome::AlreadyStored {
            receipt_json,
            body_hash: first_hash,
        } => replay(transmission_id, &receipt_json, &first_hash, body_hash),
        CommitOutcome::AlreadyStoredInParts {
            receipt_prefix,
            parts,
            body_hash: first_hash,
        } => replay_in_parts(
            transmission_id,
            receipt_prefix,
            parts,
            &first_hash,
            body_hash,
        ),
    }
}

/// Ingests one delivery too large to hold at once, as it is read: `first`
/// is its first part, `later` sends the others then [`Part::End`] (closed
/// before `End`: the delivery could not be read to its end, nothing is
/// stored, [`IngestError::Unfinished`]). Judged part by part in one
/// transaction (see `storage::LaterParts`); the receipt is stored in parts
/// and read back from storage by whoever answers.
// One delivery's facts, each needed as such; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn ingest_in_parts(
    store: &Store,
    params: Arc<Parameters>,
    saad: &Siret,
    transmission_id: &str,
    body_hash: &str,
    first: Vec<InterventionSubmission>,
    later: tokio::sync::mpsc::Receiver<Part>,
    now: DateTime<Utc>,
    audit: Option<AuditEntry>,
) -> Result<Ingested, IngestError> {
    let tally: Arc<Mutex<LineTally>> = Arc::new(Mutex::new(LineTally::default()));
    // The receipt's prefix and number of parts, once the whole delivery is read.
    let prefix_slot: Arc<Mutex<Option<(String, i64)>>> = Arc::new(Mutex::new(None));
    let judge_tally = Arc::clone(&tally);
    let judge_saad = saad.clone();
    let judge: Judge = Box::new(move |context, lines| {
        let result = check_delivery(context, &params, &judge_saad, lines)?;
        let lines = receipt_lines(&result.outcomes, &params);
        if let Ok(mut tally) = judge_tally.lock() {
            tally.add(&lines);
        }
        Ok(Judged {
            receipt_json: lines_part(&lines)?,
            result,
        })
    });
    let prefix_tid = transmission_id.to_owned();
    let slot = Arc::clone(&prefix_slot);
    let prefix = Box::new(move |totals: &crate::storage::PartsTotals| {
        let prefix = receipt_prefix(&prefix_tid, now, totals.accepted, totals.rejected)?;
        if let Ok(mut slot) = slot.lock() {
            *slot = Some((prefix.clone(), totals.parts));
        }
        Ok(prefix)
    });
    let outcome = store
        .ingest_grouped(GroupedDelivery {
            saad_siret: saad.as_str().to_owned(),
            transmission_id: transmission_id.to_owned(),
            body_hash: body_hash.to_owned(),
            lines: first,
            now,
            judge,
            audit,
            later: Some(LaterParts {
                parts: later,
                prefix,
            }),
        })
        .await
        .map_err(ingest_error)?;
    match outcome {
        CommitOutcome::Stored => {
            let (prefix, parts) = prefix_slot
                .lock()
                .ok()
                .and_then(|mut slot| slot.take())
                .ok_or_else(|| StoreError::other("stored delivery without its receipt"))?;
            let tally = tally.lock().map(|t| t.clone()).unwrap_or_default();
            Ok(Ingested::InParts(ReceiptInParts {
                transmission_id: transmission_id.to_owned(),
                prefix,
                parts,
                stored: true,
                tally,
            }))
        }
        CommitOutcome::AlreadyStored {
            receipt_json,
            body_hash: first_hash,
        } => replay(transmission_id, &receipt_json, &first_hash, body_hash),
        CommitOutcome::AlreadyStoredInParts {
            receipt_prefix,
            parts,
            body_hash: first_hash,
        } => replay_in_parts(
            transmission_id,
            receipt_prefix,
            parts,
            &first_hash,
            body_hash,
        ),
    }
}

fn ingest_error(error: GroupError) -> IngestError {
    match error {
        GroupError::Store(store) => IngestError::Store(store),
        GroupError::Unfinished => IngestError::Unfinished,
        overloaded @ GroupError::Overloaded { .. } => IngestError::Overloaded(overloaded),
        GroupError::Judge(judge) => match judge.downcast::<ParameterError>() {
            Ok(parameters) => IngestError::Parameters(*parameters),
            Err(other) => match other.downcast::<serde_json::Error>() {
                Ok(json) => IngestError::CorruptReceipt(*json),
                Err(other) => IngestError::Store(StoreError::other(other.to_string())),
            },
        },
    }
}

fn replay_in_parts(
    transmission_id: &str,
    prefix: String,
    parts: i64,
    first_hash: &str,
    body_hash: &str,
) -> Result<Ingested, IngestError> {
    if first_hash == body_hash {
        Ok(Ingested::InParts(ReceiptInParts {
            transmission_id: transmission_id.to_owned(),
            prefix,
            parts,
            stored: false,
            tally: LineTally::default(),
        }))
    } else {
        Err(IngestError::TransmissionConflict(
            transmission_id.to_owned(),
        ))
    }
}

fn replay(
    transmission_id: &str,
    receipt_json: &str,
    first_hash: &str,
    body_hash: &str,
) -> Result<Ingested, IngestError> {
    if first_hash == body_hash {
        Ok(Ingested::Replayed(serde_json::from_str(receipt_json)?))
    } else {
        Err(IngestError::TransmissionConflict(
            transmission_id.to_owned(),
        ))
    }
}
