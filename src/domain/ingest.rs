//! The data the ingestion checks (R1–R6) work on, and what they produce.
//!
//! Storage loads an [`IngestContext`] for one delivery (everything the
//! checks may need to look at, already filtered to the posting SAAD where
//! the rules say so), the checks (`super::checks::check_delivery`) judge the
//! lines in order, and storage writes the [`IngestResult`] in one
//! transaction together with the receipt. The checks never see the
//! database; storage never decides.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Event, LineOutcome, PlanVersion, Saad};
use super::time::{Period, Stamp};
use super::types::WorkerId;

/// Which side of an intervention a raw stamp is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Arrival.
    Start,
    /// Departure.
    End,
}

/// A raw (certified) stamp as stored: immutable evidence (R2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawStamp {
    /// Which side.
    pub side: Side,
    /// The stamp as received (offset or local wall-clock).
    pub stamp: Stamp,
    /// Gateway clock when this side was first received (R3 "received at").
    pub received_at: DateTime<Utc>,
}

/// An intervention currently accepted (its latest accepted version), as the
/// overlap checks (R6) and re-sends (R2) need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptedIntervention {
    /// SIRET of the SAAD (worker ids are scoped by SAAD).
    pub saad_siret: String,
    /// Intervention id in the SAAD software.
    pub line_id: String,
    /// The financer's beneficiary id.
    pub beneficiary_id: String,
    /// Worker id, when known.
    pub worker_id: Option<WorkerId>,
    /// Counted period.
    pub period: Period,
    /// Counted timestamps corrected with reason `SHARED_TIME` (exempt from
    /// the worker-overlap check, R6).
    pub shared_time: bool,
    /// Plan the intervention was attached to.
    pub plan_ref: String,
    /// Acceptance sequence: the order in which it was accepted (R6 "later").
    pub sequence: i64,
    /// Rounded minutes (R1) of the accepted version.
    pub rounded_minutes: i64,
    /// Whether the counted data are corrected or declarative (correction rate).
    pub corrected: bool,
}

/// What is already stored for one (SAAD, line id) the delivery mentions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PriorIntervention {
    /// Intervention id.
    pub line_id: String,
    /// Raw sides already stored (at most one per side).
    pub raw: Vec<RawStamp>,
    /// The currently accepted version, if any (not withdrawn).
    pub accepted: Option<AcceptedIntervention>,
    /// Fingerprint of the submission that produced the accepted version, so
    /// that re-sending identical content is recognised (R2 idempotency).
    pub accepted_fingerprint: Option<String>,
}

/// A SAAD's own id for a beneficiary, recorded on the first accepted line of
/// a plan (rules.md "ESPPADOM mapping", alias rule).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BeneficiaryAlias {
    /// Plan on which the alias was first seen.
    pub plan_ref: String,
    /// The id the SAAD's software sends.
    pub alias_id: String,
    /// The financer's id it stands for.
    pub beneficiary_id: String,
}

/// Everything the checks of one delivery may look at.
#[derive(Debug, Clone, Default)]
pub struct IngestContext {
    /// The gateway's clock at reception.
    pub now: DateTime<Utc>,
    /// The posting SAAD.
    pub saad: Option<Saad>,
    /// Every version of: each plan a line names, and each plan ever assigned
    /// to this SAAD whose beneficiary a line names (for lines without a plan
    /// reference). Versions of plans never assigned to this SAAD are
    /// included only so the checks can answer `UNKNOWN_PLAN` without leaking.
    pub plans: Vec<PlanVersion>,
    /// This SAAD's recorded aliases for those plans.
    pub aliases: Vec<BeneficiaryAlias>,
    /// Events of the beneficiaries of those plans.
    pub events: Vec<Event>,
    /// What is stored for each line id of the delivery (same SAAD).
    pub priors: Vec<PriorIntervention>,
    /// Accepted interventions that could overlap a line: same beneficiaries
    /// (any SAAD) or same workers of this SAAD, within a window around the
    /// delivery's stamps.
    pub neighbours: Vec<AcceptedIntervention>,
    /// Next acceptance sequence number to hand out.
    pub next_sequence: i64,
}

/// What the checks decided, for storage to write in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResult {
    /// One outcome per submitted line, in order (the receipt lines).
    pub outcomes: Vec<LineOutcome>,
    /// Raw sides received for the first time (stored even when the line is
    /// rejected: R3's "received at" is the first reception in any message).
    pub new_raw: Vec<(String, RawStamp)>,
    /// Newly accepted versions (replace the line's current accepted version).
    pub accepted: Vec<AcceptedIntervention>,
    /// Fingerprints of the submissions accepted, by line id.
    pub fingerprints: Vec<(String, String)>,
    /// Line ids withdrawn by `SUP` (their accepted version stops counting).
    pub withdrawn: Vec<String>,
    /// Aliases to record.
    pub new_aliases: Vec<BeneficiaryAlias>,
}
