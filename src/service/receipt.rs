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
        let lines = receipt_lines(outcomes, params);
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

/// The receipt lines of the checks' outcomes, in order.
pub fn receipt_lines(outcomes: &[LineOutcome], params: &Parameters) -> Vec<ReceiptLine> {
    outcomes
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
                .filter(|w| !w.starts_with(crate::domain::checks::INVALID_MESSAGE_WARNING_PREFIX))
                .cloned()
                .collect(),
        })
        .collect()
}

/// A receipt written in parts (a large delivery ingested as it is read):
/// the same bytes as the whole [`Receipt`] serialised, cut so that no part
/// holds more than a chunk of lines. The whole receipt is
/// [`receipt_prefix`], then each part's [`lines_part`] joined by commas,
/// then `]}` (`storage::RECEIPT_PARTS_END`).
///
/// The receipt's fields up to and including `"lines":[`.
pub fn receipt_prefix(
    transmission_id: &str,
    received_at: DateTime<Utc>,
    accepted: usize,
    rejected: usize,
) -> Result<String, serde_json::Error> {
    let head = serde_json::to_string(&Receipt {
        transmission_id: transmission_id.to_owned(),
        received_at: to_paris_rfc3339(received_at),
        accepted,
        rejected,
        lines: Vec::new(),
    })?;
    // `…,"lines":[]}` → `…,"lines":[`
    let cut = head.len().saturating_sub("]}".len());
    Ok(head[..cut].to_owned())
}

/// Receipt lines as they appear inside the receipt's `lines` array, comma
/// separated.
pub fn lines_part(lines: &[ReceiptLine]) -> Result<String, serde_json::Error> {
    let mut part = String::new();
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            part.push(',');
        }
        part.push_str(&serde_json::to_string(line)?);
    }
    Ok(part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(k: usize, accepted: bool, warnings: usize) -> ReceiptLine {
        ReceiptLine {
            line_id: format!("L\"{k}é"),
            status: if accepted {
                LineStatus::Accepted
            } else {
                LineStatus::Rejected
            },
            reasons: if accepted {
                Vec::new()
            } else {
                vec![ReceiptReason {
                    code: "OVERLAP_WORKER".to_owned(),
                    message: "L'intervenant est déjà « ailleurs »".to_owned(),
                }]
            },
            counted_minutes: i64::try_from(k).unwrap_or(0),
            rounded_minutes: 15,
            warnings: (0..warnings).map(|w| format!("warning {w}")).collect(),
        }
    }

    proptest! {
        /// api.md "Receipt": a receipt written in parts is byte for byte the
        /// receipt written whole, however its lines are cut into parts.
        #[test]
        fn a_receipt_in_parts_is_the_whole_receipt(
            specs in proptest::collection::vec((any::<bool>(), 0usize..3), 1..40),
            cuts in proptest::collection::vec(1usize..7, 1..20),
        ) {
            let lines: Vec<ReceiptLine> = specs
                .iter()
                .enumerate()
                .map(|(k, (accepted, warnings))| line(k, *accepted, *warnings))
                .collect();
            let at = chrono::DateTime::parse_from_rfc3339("2024-01-10T18:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let accepted = lines.iter().filter(|l| l.status == LineStatus::Accepted).count();
            let whole = serde_json::to_string(&Receipt {
                transmission_id: "T\"1".to_owned(),
                received_at: to_paris_rfc3339(at),
                accepted,
                rejected: lines.len() - accepted,
                lines: lines.clone(),
            }).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut parts = Vec::new();
            let mut rest = lines.as_slice();
            for cut in cuts.iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (part, after) = rest.split_at((*cut).min(rest.len()));
                parts.push(lines_part(part).map_err(|e| TestCaseError::fail(e.to_string()))?);
                rest = after;
            }
            let prefix = receipt_prefix("T\"1", at, accepted, lines.len() - accepted)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let assembled = format!("{prefix}{}{}", parts.join(","), crate::storage::RECEIPT_PARTS_END);
            prop_assert_eq!(assembled, whole);
        }
    }
}
