//! R2: raw evidence (immutable once stored) and the selection of the
//! timestamps that count.

use chrono::{DateTime, Utc};

use crate::domain::ingest::{PriorIntervention, RawStamp, Side};
use crate::domain::model::InterventionSubmission;
use crate::domain::time::Stamp;
use crate::domain::types::{CorrectionReason, RejectionCode};

/// One raw side as it stands after this line: the stored one, or the one
/// sent now for the first time.
#[derive(Debug, Clone)]
pub(super) struct RawSide {
    pub(super) stamp: Stamp,
    pub(super) received_at: DateTime<Utc>,
    /// Received for the first time with this line (to be stored).
    pub(super) is_new: bool,
}

/// The raw sides of an intervention after this line (R2, R3).
#[derive(Debug, Clone, Default)]
pub(super) struct RawEvidence {
    pub(super) start: Option<RawSide>,
    pub(super) end: Option<RawSide>,
    /// A side sent now differs from the stored one (`RAW_IMMUTABLE`).
    pub(super) immutable_violated: bool,
}

impl RawEvidence {
    /// The sides to store, with their side tag.
    pub(super) fn new_sides(&self) -> impl Iterator<Item = RawStamp> + '_ {
        [(Side::Start, &self.start), (Side::End, &self.end)]
            .into_iter()
            .filter_map(|(side, raw)| {
                raw.as_ref().filter(|r| r.is_new).map(|r| RawStamp {
                    side,
                    stamp: r.stamp,
                    received_at: r.received_at,
                })
            })
    }

    /// First reception of the raw stamps (R3): the end side's, else the
    /// start side's.
    pub(super) fn received_at(&self) -> Option<DateTime<Utc>> {
        self.end
            .as_ref()
            .or(self.start.as_ref())
            .map(|side| side.received_at)
    }
}

/// Whether two stamps designate the same instant (an offset stamp and a
/// local one may); stamps that do not resolve compare as written.
fn same_instant(a: &Stamp, b: &Stamp) -> bool {
    match (a.resolve_alone(), b.resolve_alone()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Merges the raw sides sent with those stored for the same (SAAD, line id).
/// A side not sent is taken from storage; a side sent that differs from the
/// stored one is a violation and the stored one stands.
pub(super) fn raw_evidence(
    sent_start: Option<Stamp>,
    sent_end: Option<Stamp>,
    prior: Option<&PriorIntervention>,
    now: DateTime<Utc>,
) -> RawEvidence {
    let mut evidence = RawEvidence::default();
    for (side, sent) in [(Side::Start, sent_start), (Side::End, sent_end)] {
        let stored = prior.and_then(|p| p.raw.iter().find(|r| r.side == side));
        let merged = match (sent, stored) {
            (Some(sent), Some(stored)) => {
                if !same_instant(&sent, &stored.stamp) {
                    evidence.immutable_violated = true;
                }
                Some(RawSide {
                    stamp: stored.stamp,
                    received_at: stored.received_at,
                    is_new: false,
                })
            }
            (Some(sent), None) => Some(RawSide {
                stamp: sent,
                received_at: now,
                is_new: true,
            }),
            (None, Some(stored)) => Some(RawSide {
                stamp: stored.stamp,
                received_at: stored.received_at,
                is_new: false,
            }),
            (None, None) => None,
        };
        match side {
            Side::Start => evidence.start = merged,
            Side::End => evidence.end = merged,
        }
    }
    evidence
}

/// The timestamps that count (R2), before any validity check.
#[derive(Debug, Clone, Copy)]
pub(super) struct SelectedStamps {
    pub(super) start: Option<Stamp>,
    pub(super) end: Option<Stamp>,
    /// Corrected or declarative data count (exempt from R3).
    pub(super) corrected: bool,
    /// The valid correction reason, when one was given.
    pub(super) reason: Option<CorrectionReason>,
}

/// Selects the counted timestamps of a line and pushes the R2 reasons
/// (`TIMESTAMP_MISSING`, `CORRECTION_REASON_*`, `TIMESHEET_MISSING`).
pub(super) fn select_stamps(
    line: &InterventionSubmission,
    declarative: bool,
    raw: &RawEvidence,
    reasons: &mut Vec<RejectionCode>,
    warnings: &mut Vec<String>,
) -> SelectedStamps {
    let raw_start = raw.start.as_ref().map(|s| s.stamp);
    let raw_end = raw.end.as_ref().map(|s| s.stamp);
    let reason_text = line
        .correction_reason
        .as_deref()
        .map(str::trim)
        .filter(|text| !text.is_empty());
    let has_correction = line.corrected_start.is_some() || line.corrected_end.is_some();

    if declarative {
        // Declarative entry: declared times in the corrected fields, a
        // timesheet reference, no reason needed, counts as corrected.
        if line
            .timesheet_ref
            .as_deref()
            .is_none_or(|text| text.trim().is_empty())
        {
            reasons.push(RejectionCode::TimesheetMissing);
        }
        let reason = match reason_text.map(str::parse::<CorrectionReason>) {
            Some(Ok(reason)) => Some(reason),
            Some(Err(error)) => {
                warnings.push(format!(
                    "declarative entry needs no correction reason; {} (ignored)",
                    error.message
                ));
                None
            }
            None => None,
        };
        return complete(line, raw_start, raw_end, true, reason, reasons);
    }

    if has_correction {
        let reason = match reason_text.map(str::parse::<CorrectionReason>) {
            Some(Ok(reason)) => Some(reason),
            Some(Err(_)) => {
                reasons.push(RejectionCode::CorrectionReasonUnknown);
                None
            }
            None => {
                reasons.push(RejectionCode::CorrectionReasonMissing);
                None
            }
        };
        return complete(line, raw_start, raw_end, true, reason, reasons);
    }

    if reason_text.is_some() {
        warnings.push(
            "a correction reason without corrected time-stamps is ignored: the raw time-stamps count"
                .to_owned(),
        );
    }
    if raw_start.is_none() || raw_end.is_none() {
        reasons.push(RejectionCode::TimestampMissing);
    }
    SelectedStamps {
        start: raw_start,
        end: raw_end,
        corrected: false,
        reason: None,
    }
}

/// Corrected (or declared) sides, a missing one taken from the raw stamps;
/// missing there too → `TIMESTAMP_MISSING`.
fn complete(
    line: &InterventionSubmission,
    raw_start: Option<Stamp>,
    raw_end: Option<Stamp>,
    corrected: bool,
    reason: Option<CorrectionReason>,
    reasons: &mut Vec<RejectionCode>,
) -> SelectedStamps {
    let start = line.corrected_start.or(raw_start);
    let end = line.corrected_end.or(raw_end);
    if start.is_none() || end.is_none() {
        reasons.push(RejectionCode::TimestampMissing);
    }
    SelectedStamps {
        start,
        end,
        corrected,
        reason,
    }
}
