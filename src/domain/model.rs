//! The domain's records: SAADs and their tariffs, plan versions, events,
//! overrun authorisations, and interventions as submitted and as judged.
//!
//! These are plain data shared by the rules (`checks`, `reconciliation`),
//! the ESPPADOM adapter (`crate::xml`) and storage (`crate::storage`). The
//! JSON field names are those of ../shared/spec/api.md where the record is
//! part of the contract.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::time::{Period, Stamp};
use super::types::{
    AidType, CorrectionReason, EventKind, Household, RejectionCode, SaadStatus, Siret, WorkerId,
    YearMonth,
};

/// An hourly tariff fixed by the financer for a SAAD and aid type (R8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force, inclusive; `None` = open.
    pub valid_to: Option<NaiveDate>,
    /// EUR per hour, two decimals on the wire.
    #[serde(with = "rust_decimal::serde::str")]
    pub hourly_rate: Decimal,
}

impl Tariff {
    /// Whether the tariff is in force on `day` (valid_to inclusive).
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && self.valid_to.is_none_or(|to| day <= to)
    }
}

/// A SAAD's status and tariffs for one aid type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaadAidType {
    /// Aid type.
    pub aid_type: AidType,
    /// `habilite` or `autorise`.
    pub status: SaadStatus,
    /// Dated tariffs (required for `habilite`, and for AM whatever the status).
    #[serde(default)]
    pub tariffs: Vec<Tariff>,
}

/// Postal address (needed by PES V2 and ISO 20022 structured addresses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street line.
    pub line1: String,
    /// Postcode.
    pub postcode: String,
    /// City.
    pub city: String,
    /// ISO 3166 country code.
    pub country: String,
}

/// A home-care provider (rules.md "SAAD"; api.md "SAAD").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saad {
    /// SIRET, Luhn-checked.
    pub siret: Siret,
    /// Trading name.
    pub name: String,
    /// IBAN for direct payment (checked by the HTTP adapter with `iban_validate`).
    pub iban: String,
    /// BIC.
    pub bic: String,
    /// Declarative entry by default for its JSON lines (R2).
    #[serde(default)]
    pub declarative: bool,
    /// FINESS, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finess: Option<String>,
    /// Legal category (INSEE code), for PES V2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_category: Option<String>,
    /// Account holder when not the SAAD's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_holder: Option<String>,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Status and tariffs per aid type.
    pub aid_types: Vec<SaadAidType>,
}

impl Saad {
    /// The SAAD's status and tariffs for an aid type, if it is registered for it.
    pub fn aid_type(&self, aid_type: AidType) -> Option<&SaadAidType> {
        self.aid_types.iter().find(|a| a.aid_type == aid_type)
    }
}

/// One version of an aid plan (rules.md "Plan"; api.md "Plan").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanVersion {
    /// Plan reference (ORDER line id, DELIVERY `OrderLineID`).
    pub plan_ref: String,
    /// Version number; on a day covered by several versions the highest wins (R7).
    pub version: u32,
    /// The financer's pseudonymous beneficiary file number.
    pub beneficiary_id: String,
    /// SAAD assigned by this version.
    pub saad_siret: Siret,
    /// Aid type.
    pub aid_type: AidType,
    /// GIR 1–4, APA only.
    pub gir: Option<u8>,
    /// Household, aide-ménagère only.
    pub household: Option<Household>,
    /// First day, inclusive.
    pub valid_from: NaiveDate,
    /// Last day, inclusive.
    pub valid_to: NaiveDate,
    /// Minutes allotted per calendar month.
    pub monthly_minutes: u32,
    /// The SAAD's hourly rate in the plan, EUR/h.
    #[serde(with = "rust_decimal::serde::str")]
    pub hourly_rate: Decimal,
    /// APA: the beneficiary's participation rate (0–0.9, up to five places).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub participation_rate: Option<Decimal>,
    /// PCH: the financer's coverage rate (1.00 or 0.80).
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub coverage_rate: Option<Decimal>,
    /// Notified monthly value of the whole plan, EUR.
    #[serde(with = "rust_decimal::serde::str")]
    pub monthly_amount: Decimal,
    /// Respite/relay exemption: lifts the GIR ceiling check (R8 convention).
    #[serde(default)]
    pub respite_exemption: bool,
    /// Links the AM plans of a couple (R7 AM cap).
    #[serde(default)]
    pub household_ref: Option<String>,
}

impl PlanVersion {
    /// Whether the version covers `day` (both ends inclusive).
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && day <= self.valid_to
    }

    /// The financer's share of the valued amount (R9): APA → 1 − participation
    /// rate; PCH → coverage rate; AM → 1. A missing rate counts as 0
    /// participation / full coverage; plan import refuses such plans anyway.
    pub fn financer_share(&self) -> Decimal {
        match self.aid_type {
            AidType::Apa => Decimal::ONE - self.participation_rate.unwrap_or(Decimal::ZERO),
            AidType::Pch => self.coverage_rate.unwrap_or(Decimal::ONE),
            AidType::Am => Decimal::ONE,
        }
    }
}

/// The version of a plan in force on `day`: among the versions covering
/// it, the highest version number (R7).
pub fn version_in_force(versions: &[PlanVersion], day: NaiveDate) -> Option<&PlanVersion> {
    versions
        .iter()
        .filter(|v| v.covers(day))
        .max_by_key(|v| v.version)
}

/// A beneficiary event (charter 5, rules.md R5), identified by
/// (beneficiary, kind, start).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Beneficiary (financer's id).
    pub beneficiary_id: String,
    /// Kind.
    pub kind: EventKind,
    /// First day.
    pub start: NaiveDate,
    /// Last day, when known.
    #[serde(default)]
    pub end: Option<NaiveDate>,
    /// Short free text, no personal data.
    #[serde(default)]
    pub note: Option<String>,
}

/// The financer's authorisation of extra minutes for a plan and month (R7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrunAuthorisation {
    /// Plan reference.
    pub plan_ref: String,
    /// Month.
    pub month: YearMonth,
    /// Extra minutes authorised (used last, never carried over).
    pub minutes: u32,
}

/// What an ESPPADOM line asks the gateway to do (rules.md "ESPPADOM mapping").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineAction {
    /// Count the intervention (raw stamps, or corrected data with a reason).
    #[default]
    Count,
    /// `HOR`: stamps only, stored as evidence; nothing counted yet.
    StampsOnly,
    /// `SUP`: the SAAD withdraws the intervention.
    Withdraw,
}

/// A problem of an ESPPADOM line that makes it unusable (`INVALID_MESSAGE`),
/// located in the document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageProblem {
    /// What was wrong, in words a SAAD's office can act on.
    pub message: String,
    /// Element path, e.g. `/delivery/CrossIndustryDespatchAdvice[2]/…/StartDateTime`.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

/// One intervention line as submitted (JSON delivery line, or one ESPPADOM
/// `CrossIndustryDespatchAdvice` after the mapping of rules.md). Codes the
/// rules must judge (aid type, correction reason) are kept as received.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct InterventionSubmission {
    /// Intervention id in the SAAD software (stable across re-sends).
    pub line_id: String,
    /// Plan reference, when given.
    pub plan_ref: Option<String>,
    /// Beneficiary id as sent (financer's id or the SAAD's own alias).
    pub beneficiary_id: String,
    /// Worker id; `None` → warning and no worker-overlap check.
    pub worker_id: Option<WorkerId>,
    /// Aid type as sent (`APA`, `PCH`, `AM`, or anything → `AID_TYPE_MISMATCH`).
    pub aid_type: Option<String>,
    /// Raw (certified) start.
    pub raw_start: Option<Stamp>,
    /// Raw (certified) end.
    pub raw_end: Option<Stamp>,
    /// Corrected (retained) start.
    pub corrected_start: Option<Stamp>,
    /// Corrected (retained) end.
    pub corrected_end: Option<Stamp>,
    /// Correction reason as sent.
    pub correction_reason: Option<String>,
    /// Declarative flag; `None` = the SAAD's default.
    pub declarative: Option<bool>,
    /// Reference of the signed paper timesheet (declarative entry).
    pub timesheet_ref: Option<String>,
    /// Count, stamps only (`HOR`) or withdraw (`SUP`).
    pub action: LineAction,
    /// Warnings raised by the reader (unknown code values, retained period
    /// differing from stamps without a code, missing worker id…).
    pub warnings: Vec<String>,
    /// Set when the line is unusable (`INVALID_MESSAGE`).
    pub problem: Option<MessageProblem>,
}

/// Accepted or rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// Accepted (possibly with 0 minutes and a warning).
    Accepted,
    /// Rejected: `reasons` lists every failing check in rule order.
    Rejected,
}

/// The timestamps that count for an intervention, and why (R2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// The counted period, whole minutes.
    pub period: Period,
    /// Whether corrected (or declarative) data count rather than raw stamps.
    pub corrected: bool,
    /// Declarative entry (charter 4.4).
    pub declarative: bool,
    /// Reason of the correction, when corrected and not declarative.
    pub reason: Option<CorrectionReason>,
}

/// The judgement of one submitted line (the receipt line plus what storage
/// keeps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineOutcome {
    /// The submitted line id.
    pub line_id: String,
    /// Accepted or rejected.
    pub status: LineStatus,
    /// Failing checks in rule order (R6); the first is the main one.
    pub reasons: Vec<RejectionCode>,
    /// Warnings (reader's and rules').
    pub warnings: Vec<String>,
    /// What counts, when it could be determined.
    pub counted: Option<Counted>,
    /// Counted minutes (0 when none).
    pub counted_minutes: i64,
    /// Minutes after R1 rounding (0 for HOR, SUP, under 8 minutes, rejected).
    pub rounded_minutes: i64,
    /// Plan the line was resolved to.
    pub plan_ref: Option<String>,
    /// The financer's beneficiary id the line was resolved to.
    pub beneficiary_id: Option<String>,
    /// When the raw stamps were first received (R3), if any.
    pub raw_received_at: Option<DateTime<Utc>>,
    /// The acceptance sequence (R6) given to the line when it was accepted
    /// as a new version; `None` when rejected, for `HOR` and `SUP` lines, and
    /// for an identical re-send (the stored version stays as it is).
    #[serde(default)]
    pub sequence: Option<i64>,
    /// The fingerprint of the submission accepted as that new version.
    #[serde(default)]
    pub fingerprint: Option<String>,
}
