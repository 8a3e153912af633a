//! The receipt of a delivery (api.md "Receipt"): what the SAAD gets back,
//! line by line, and what is stored to answer identical re-sends.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::checks::receipt_reasons;
use crate::domain::model::{LineOutcome, LineStatus};
use crate::domain::params::Parameters;
use crate::domain::time::to_paris_rfc3339;

/// One `{code, message}` reason of a receipt line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptReason {
    /// Upper snake case business code (`LATE_TRANSMISSION`).
    pub code: String,
    /// French explanation.
    pub message: String,
}

/// One receipt line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptLine {
    /// The line id (ESPPADOM: the intervention id).
    pub line_id: String,
    /// `accepted` or `rejected`.
    pub status: LineStatus,
    /// Failing checks in rule order; empty when accepted.
    pub reasons: Vec<ReceiptReason>,
    /// Counted minutes.
    pub counted_minutes: i64,
    /// Minutes after the R1 rounding.
    pub rounded_minutes: i64,
    /// Warnings (unknown code values, retained period differing from stamps…).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The receipt of one transmission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Transmission id (or the `Idempotency-Key`).
    pub transmission_id: String,
    /// Gateway clock at reception, RFC 3339 with the Paris offset.
    pub received_at: String,
    /// Number of accepted lines.
    pub accepted: usize,
    /// Number of rejected lines.
    pub rejected: usize,
    /// One line per submitted line, in order.
    pub lines: Vec<ReceiptLine>,
}

impl Receipt {
    /// Builds the receipt from the checks' outcomes.
    pub fn build(
        transmission_id: &str,
        received_at: DateTime<Utc>,
        outcomes: &[LineOutcome],
        params: &Parameters,
    ) -> Self {
        let lines: Vec<ReceiptLine> = outcomes
            .iter()
            .map(|outcome| ReceiptLine {
                line_id: outcome.line_id.clone(),
                status: outcome.status,
                reasons: receipt_reasons(outcome, params)
                    .into_iter()
                    .map(|r| ReceiptReason {
                        code: r.code.code().to_owned(),
                        message: r.message,
                    })
                    .collect(),
                counted_minutes: outcome.counted_minutes,
                rounded_minutes: outcome.rounded_minutes,
                warnings: outcome
                    .warnings
                    .iter()
                    .filter(|w| {
                        !w.starts_with(crate::domain::checks::INVALID_MESSAGE_WARNING_PREFIX)
                    })
                    .cloned()
                    .collect(),
            })
            .collect();
        let accepted = lines
            .iter()
            .filter(|l| l.status == LineStatus::Accepted)
            .count();
        Self {
            transmission_id: transmission_id.to_owned(),
            received_at: to_paris_rfc3339(received_at),
            accepted,
            rejected: lines.len() - accepted,
            lines,
        }
    }
}
