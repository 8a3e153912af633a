//! Monthly reconciliation of a plan (rules.md R7–R9): allotment with
//! prorata and carry-over, overruns, rates and ceilings, line amounts, and
//! the regularisation difference.
//!
//! Values in, values out: the caller passes every version of the plan, the
//! SAAD, the accepted interventions, the beneficiary's events, the overrun
//! authorisations and the parameters. No clock, no database, no I/O; no
//! actix, sqlx, tokio or quick_xml here. Conventions are documented in
//! `docs/rules-monthly.md`.
//!
//! Performance: per plan the interventions are sorted once (by reference,
//! no copy); per month a table of at most 31 days holds the version, the
//! event code and the rate of each day, so that nothing is looked up per
//! intervention. Amounts are accumulated per day as integers of minutes and
//! valued once per day.

mod engine;
pub mod rates;

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use super::model::{Event, OverrunAuthorisation, PlanVersion, Saad};
use super::params::{ParameterError, Parameters};
use super::types::{AidType, RejectionCode, Siret, YearMonth};

pub use engine::reconcile_plan_months;

/// An accepted intervention as the month close needs it (the latest
/// accepted version of a line, not withdrawn).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BillableIntervention {
    /// Intervention id in the SAAD software.
    pub line_id: String,
    /// Local (Europe/Paris) day of the counted start: the intervention's day
    /// and month (R4).
    pub day: NaiveDate,
    /// Counted start, for the R7 order.
    pub start: DateTime<Utc>,
    /// Acceptance sequence (R6 "later"); breaks ties of equal starts.
    pub received_sequence: i64,
    /// Minutes after R1 rounding.
    pub rounded_minutes: i64,
    /// Counted data are corrected or declarative (correction rate, R2).
    pub corrected: bool,
}

/// Everything the reconciliation of one plan needs, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// Every version of the plan (one plan reference).
    pub versions: &'a [PlanVersion],
    /// The SAAD whose interventions are reconciled (status and tariffs per aid type).
    pub saad: &'a Saad,
    /// The SAAD's accepted interventions on this plan, in any order.
    pub interventions: &'a [BillableIntervention],
    /// The beneficiary's events (only the kinds that stop payment matter).
    pub events: &'a [Event],
    /// The financer's overrun authorisations of the plan (any month).
    pub authorisations: &'a [OverrunAuthorisation],
}

/// Rounded figures of a plan line (R9), also the unit of a regularisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct LineAmounts {
    /// Minutes billed.
    pub billed_minutes: i64,
    /// Minutes of accepted interventions left unbilled at close.
    pub rejected_minutes: i64,
    /// `round(exact valued)`, half away from zero.
    pub valued_amount: Decimal,
    /// `valued_amount − amount_due`: the beneficiary's part.
    pub participation_amount: Decimal,
    /// `round(exact due)`, half away from zero: the financer pays this.
    pub amount_due: Decimal,
}

impl LineAmounts {
    /// Field-by-field sum (invoice and group totals are sums of rounded lines).
    pub fn plus(&self, other: &LineAmounts) -> LineAmounts {
        LineAmounts {
            billed_minutes: self.billed_minutes + other.billed_minutes,
            rejected_minutes: self.rejected_minutes + other.rejected_minutes,
            valued_amount: self.valued_amount + other.valued_amount,
            participation_amount: self.participation_amount + other.participation_amount,
            amount_due: self.amount_due + other.amount_due,
        }
    }

    /// Field-by-field difference.
    pub fn minus(&self, other: &LineAmounts) -> LineAmounts {
        LineAmounts {
            billed_minutes: self.billed_minutes - other.billed_minutes,
            rejected_minutes: self.rejected_minutes - other.rejected_minutes,
            valued_amount: self.valued_amount - other.valued_amount,
            participation_amount: self.participation_amount - other.participation_amount,
            amount_due: self.amount_due - other.amount_due,
        }
    }
}

/// How one intervention was billed at close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InterventionBilling<'a> {
    /// Intervention id.
    pub line_id: &'a str,
    /// Its day.
    pub day: NaiveDate,
    /// Minutes billed.
    pub billed_minutes: i64,
    /// Minutes not billed (`billed + rejected = rounded`).
    pub rejected_minutes: i64,
    /// Hourly rate used that day, when the day has one.
    pub hourly_rate: Option<Decimal>,
    /// Why minutes were not billed (`OVERRUN`, or a re-check code), if any.
    pub code: Option<RejectionCode>,
    /// Counted data corrected or declarative.
    pub corrected: bool,
}

/// One entry of the SAAD's rejection notice for the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection<'a> {
    /// Reason code.
    pub code: RejectionCode,
    /// The intervention, or `None` for a line-level rejection (`RATE_ABOVE_CEILING`).
    pub line_id: Option<&'a str>,
    /// The intervention's day.
    pub day: Option<NaiveDate>,
    /// Minutes not billed (0 for `RATE_ABOVE_CEILING`: the hours are paid).
    pub minutes: i64,
    /// Billed-minutes figure of a partial overrun (the part that was paid).
    pub billed_minutes: i64,
    /// Amount not paid, rounded half away from zero: the value of the
    /// rejected minutes at the day's rate, or the cut of `RATE_ABOVE_CEILING`.
    pub amount: Option<Decimal>,
}

/// The complete, explainable result of one plan in one month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanMonthResult<'a> {
    /// Plan reference.
    pub plan_ref: &'a str,
    /// Beneficiary (financer's id), from the latest version.
    pub beneficiary_id: &'a str,
    /// The SAAD reconciled.
    pub saad_siret: &'a Siret,
    /// Aid type of the plan.
    pub aid_type: AidType,
    /// Month.
    pub month: YearMonth,
    /// R7 prorated allotment.
    pub allotted_minutes: i64,
    /// R7 carry-over from the earlier months of the year.
    pub carry_in_minutes: i64,
    /// R7 overrun authorisations of the month.
    pub authorised_minutes: i64,
    /// `allotted + carry_in + authorised`.
    pub available_minutes: i64,
    /// Authorised minutes actually used (they are used last).
    pub authorised_used_minutes: i64,
    /// Minutes rejected `OVERRUN`.
    pub overrun_minutes: i64,
    /// Carry-over into the next month (0 when the next month is January's reset).
    pub carry_out_minutes: i64,
    /// Line hourly rate (R9): the rate when the same all month, else an average.
    pub hourly_rate: Decimal,
    /// Whether `hourly_rate` is an average (valued ÷ billed hours).
    pub hourly_rate_is_average: bool,
    /// Rounded line figures.
    pub amounts: LineAmounts,
    /// `RATE_ABOVE_CEILING` cut, rounded (0 when none).
    pub rate_cut_amount: Decimal,
    /// Interventions of the month with billed minutes (invoiced, R2 correction rate).
    pub invoiced_interventions: u32,
    /// Of those, the ones whose counted data are corrected or declarative.
    pub corrected_interventions: u32,
    /// Every intervention of the month, in billing order.
    pub interventions: Vec<InterventionBilling<'a>>,
    /// The rejection notice entries of the line.
    pub rejections: Vec<Rejection<'a>>,
}

/// Why a reconciliation could not be computed (never a SAAD's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconciliationError {
    /// A parameter needed is not in force.
    #[error(transparent)]
    Parameter(#[from] ParameterError),
    /// The plan input carries no version.
    #[error("a plan to reconcile has no version")]
    NoVersion,
}

/// The lines of one month for one SAAD and aid type (the future pro-forma
/// invoice's lines) with their totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineGroup<'a> {
    /// SAAD.
    pub saad_siret: &'a Siret,
    /// Aid type.
    pub aid_type: AidType,
    /// Lines, one per plan with at least one accepted intervention in the month.
    pub lines: Vec<PlanMonthResult<'a>>,
    /// Sum of the lines' rounded figures.
    pub totals: LineAmounts,
}

/// Reconciles many plans for `month` (carry-over computed from January of
/// its year) and groups the lines per (SAAD, aid type), ordered by SIRET,
/// aid type, then plan reference. A plan without any accepted intervention
/// in the month gives no line (api.md: one line per plan with at least one
/// accepted intervention).
pub fn reconcile_month<'a>(
    plans: impl IntoIterator<Item = PlanInput<'a>>,
    month: YearMonth,
    params: &Parameters,
) -> Result<Vec<LineGroup<'a>>, ReconciliationError> {
    let mut groups: BTreeMap<(&'a Siret, AidType), Vec<PlanMonthResult<'a>>> = BTreeMap::new();
    for plan in plans {
        let months = reconcile_plan_months(&plan, month, params)?;
        let Some(line) = months.into_iter().last() else {
            continue;
        };
        if !line.interventions.is_empty() {
            groups
                .entry((line.saad_siret, line.aid_type))
                .or_default()
                .push(line);
        }
    }
    Ok(groups
        .into_iter()
        .map(|((saad_siret, aid_type), mut lines)| {
            lines.sort_by(|a, b| a.plan_ref.cmp(b.plan_ref));
            let totals = lines
                .iter()
                .fold(LineAmounts::default(), |sum, line| sum.plus(&line.amounts));
            LineGroup {
                saad_siret,
                aid_type,
                lines,
                totals,
            }
        })
        .collect())
}

/// R9 regularisation of one plan line: the month recomputed now minus
/// everything already invoiced for it (pro-forma and earlier
/// regularisations, whatever their status), on the rounded figures. Any
/// field may be negative (a negative amount is deducted from the SAAD's
/// next payments).
pub fn regularisation_delta(
    recomputed: &LineAmounts,
    already_invoiced: &[LineAmounts],
) -> LineAmounts {
    let invoiced = already_invoiced
        .iter()
        .fold(LineAmounts::default(), |sum, line| sum.plus(line));
    recomputed.minus(&invoiced)
}
