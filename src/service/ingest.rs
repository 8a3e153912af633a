//! Ingestion of one delivery (rules R1–R6, api.md `POST /api/v1/deliveries`):
//! load what the checks need, judge, and store the lines with their receipt
//! in one transaction — or return the first receipt of a transmission
//! already stored.
//!
//! Nothing is acknowledged before it is committed: the receipt is returned
//! only after `commit` succeeded.

use chrono::{DateTime, Utc};

use crate::domain::checks::check_delivery;
use crate::domain::model::InterventionSubmission;
use crate::domain::params::{ParameterError, Parameters};
use crate::domain::types::Siret;
use crate::storage::{CommitOutcome, DeliveryCommit, Store, StoreError};

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
pub async fn ingest_delivery(
    store: &Store,
    params: &Parameters,
    saad: &Siret,
    transmission_id: &str,
    body_hash: &str,
    lines: &[InterventionSubmission],
    now: DateTime<Utc>,
) -> Result<Ingested, IngestError> {
    if let Some(stored) = store.get_receipt(saad.as_str(), transmission_id).await? {
        return replay(
            transmission_id,
            &stored.receipt_json,
            &stored.body_hash,
            body_hash,
        );
    }
    let mut tx = store.begin_ingest().await?;
    let context = tx.load_context(saad.as_str(), lines, now).await?;
    let result = match check_delivery(&context, params, saad, lines) {
        Ok(result) => result,
        Err(error) => {
            tx.rollback().await?;
            return Err(error.into());
        }
    };
    let receipt = Receipt::build(transmission_id, now, &result.outcomes, params);
    let receipt_json = serde_json::to_string(&receipt)?;
    let outcome = tx
        .commit(DeliveryCommit {
            saad_siret: saad.as_str(),
            transmission_id,
            body_hash,
            receipt_json: &receipt_json,
            lines,
            result: &result,
            now,
        })
        .await?;
    match outcome {
        CommitOutcome::Stored => Ok(Ingested::Stored(receipt)),
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
