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
    AuditEntry, CommitOutcome, GroupError, GroupedDelivery, Judge, Judged, Store, StoreError,
};

use super::receipt::Receipt;

/// What happened to a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    /// Judged and stored now.
    Stored(Receipt),
    /// The same transmission with the same body was stored before: its
    /// first receipt, nothing stored again (R6 idempotency).
    Replayed(Receipt),
}

impl Ingested {
    /// The receipt, whichever way it came.
    pub fn receipt(&self) -> &Receipt {
        match self {
            Ingested::Stored(receipt) | Ingested::Replayed(receipt) => receipt,
        }
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
    if let Some(stored) = store.get_receipt(saad.as_str(), transmission_id).await? {
        return replay(
            transmission_id,
            &stored.receipt_json,
            &stored.body_hash,
            body_hash,
        );
    }
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
        })
        .await
        .map_err(|error| match error {
            GroupError::Store(store) => IngestError::Store(store),
            GroupError::Judge(judge) => match judge.downcast::<ParameterError>() {
                Ok(parameters) => IngestError::Parameters(*parameters),
                Err(other) => match other.downcast::<serde_json::Error>() {
                    Ok(json) => IngestError::CorruptReceipt(*json),
                    Err(other) => IngestError::Store(StoreError::other(other.to_string())),
                },
            },
        })?;
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
