//! The month computation: a ≤ 31-entry day table per month, then one pass
//! over the month's interventions in R7 order.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;

use super::rates::{PaidRate, paid_rate};
use super::{
    BillableIntervention, InterventionBilling, LineAmounts, PlanInput, PlanMonthResult,
    ReconciliationError, Rejection,
};
use crate::domain::model::{Event, PlanVersion, SaadAidType};
use crate::domain::money::{MINUTES_PER_HOUR, floor_minutes, round_cents_half_away};
use crate::domain::params::Parameters;
use crate::domain::types::{EventKind, RejectionCode, YearMonth};

/// Most days a month has.
const MAX_DAYS: usize = 31;

/// What one day of the month is, for the plan and SAAD reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DayState {
    /// No version covers the day (`NO_ACTIVE_PLAN`).
    NotCovered,
    /// The version in force belongs to another SAAD (`SAAD_NOT_ASSIGNED`).
    OtherSaad,
    /// Covered by a version of this SAAD; its index in the versions slice.
    Covered(usize),
}

/// One day of the table. The rate is computed only for days that need it.
#[derive(Debug, Clone, Copy)]
struct Day {
    state: DayState,
    /// R5 code when an event stops payment that day.
    stop: Option<RejectionCode>,
    /// `None` = not computed yet.
    rate: Option<PaidRate>,
    /// Minutes billed on that day.
    billed: i64,
}

const EMPTY_DAY: Day = Day {
    state: DayState::NotCovered,
    stop: None,
    rate: None,
    billed: 0,
};

/// Reconciles one plan for every month from January of `through`'s year up
/// to `through` (carry-over cascades from the 1 January reset), one result
/// per month in order.
///
/// Interventions outside those months are ignored. Fails only when a
/// parameter needed is not in force, or when the plan has no version.
pub fn reconcile_plan_months<'a>(
    input: &PlanInput<'a>,
    through: YearMonth,
    params: &Parameters,
) -> Result<Vec<PlanMonthResult<'a>>, ReconciliationError> {
    let versions = input.versions;
    let latest = versions
        .iter()
        .max_by_key(|v| v.version)
        .ok_or(ReconciliationError::NoVersion)?;
    let first_month = YearMonth::new(through.year(), 1).unwrap_or(through);

    // R7 order: counted start, then acceptance sequence; line id last so that
    // the result never depends on the input order, even on equal keys.
    let mut ordered: Vec<&'a BillableIntervention> = input
        .interventions
        .iter()
        .filter(|i| {
            let m = YearMonth::of(i.day);
            first_month <= m && m <= through
        })
        .collect();
    ordered.sort_unstable_by(|a, b| {
        (
            YearMonth::of(a.day),
            a.start,
            a.received_sequence,
            &a.line_id,
        )
            .cmp(&(
                YearMonth::of(b.day),
                b.start,
                b.received_sequence,
                &b.line_id,
            ))
    });

    let stop_events: Vec<&Event> = input
        .events
        .iter()
        .filter(|e| e.kind.stops_payment())
        .collect();

    let months_count = usize::try_from(through.month()).unwrap_or(12);
    let mut results = Vec::with_capacity(months_count);
    let mut carry_in: i64 = 0;
    let mut month = first_month;
    let mut rest: &[&'a BillableIntervention] = &ordered;
    loop {
        let split = rest.partition_point(|i| YearMonth::of(i.day) <= month);
        let (of_month, later) = rest.split_at(split);
        rest = later;
        let result = reconcile_one_month(
            input,
            latest,
            &stop_events,
            month,
            carry_in,
            of_month,
            params,
        )?;
        carry_in = result.carry_out_minutes;
        results.push(result);
        if month >= through {
            break;
        }
        month = month.next();
    }
    Ok(results)
}

/// R5 code of a day from the beneficiary's stop-payment events: strictly
/// after a death or entry into an establishment; strictly between the start
/// and end of a hospitalisation or absence (strictly after its start when it
/// has no end). Checked in that order of gravity.
fn stop_code(events: &[&Event], day: NaiveDate) -> Option<RejectionCode> {
    let mut found: Option<RejectionCode> = None;
    for event in events {
        let code = match event.kind {
            EventKind::Death if day > event.start => RejectionCode::BeneficiaryDeceased,
            EventKind::EstablishmentEntry if day > event.start => {
                RejectionCode::BeneficiaryInEstablishment
            }
            EventKind::Hospitalisation | EventKind::Absence
                if day > event.start && event.end.is_none_or(|end| day < end) =>
            {
                RejectionCode::BeneficiaryAbsent
            }
            _ => continue,
        };
        found = Some(match found {
            Some(previous) if gravity(previous) <= gravity(code) => previous,
            _ => code,
        });
    }
    found
}

fn gravity(code: RejectionCode) -> u8 {
    match code {
        RejectionCode::BeneficiaryDeceased => 0,
        RejectionCode::BeneficiaryInEstablishment => 1,
        _ => 2,
    }
}

/// The version in force on `day` (highest version number among those
/// covering it), as an index.
fn version_index(versions: &[PlanVersion], day: NaiveDate) -> Option<usize> {
    let mut best: Option<(usize, u32)> = None;
    for (index, version) in versions.iter().enumerate() {
        if version.covers(day) && best.is_none_or(|(_, number)| version.version > number) {
            best = Some((index, version.version));
        }
    }
    best.map(|(index, _)| index)
}

/// Computes (once) and returns the rate of a covered day.
fn day_rate(
    day: &mut Day,
    date: NaiveDate,
    versions: &[PlanVersion],
    registration: Option<&SaadAidType>,
    params: &Parameters,
) -> Result<Option<PaidRate>, ReconciliationError> {
    let DayState::Covered(index) = day.state else {
        return Ok(None);
    };
    if let Some(rate) = day.rate {
        return Ok(Some(rate));
    }
    let Some(version) = versions.get(index) else {
        return Ok(None);
    };
    let rate = paid_rate(
        version.aid_type,
        registration,
        version.hourly_rate,
        date,
        params,
    )?;
    day.rate = Some(rate);
    Ok(Some(rate))
}

fn reconcile_one_month<'a>(
    input: &PlanInput<'a>,
    latest: &'a PlanVersion,
    stop_events: &[&Event],
    month: YearMonth,
    carry_in: i64,
    interventions: &[&'a BillableIntervention],
    params: &Parameters,
) -> Result<PlanMonthResult<'a>, ReconciliationError> {
    let versions = input.versions;
    let saad = input.saad;
    let registration = saad.aid_type(latest.aid_type);
    let first = month.first_day();
    let days_in_month = month.days();
    let day_count = usize::try_from(days_in_month).unwrap_or(MAX_DAYS);

    // Day table and R7 allotment: daily monthly minutes added as integers,
    // divided once by the days of the month, rounded down.
    let mut days = [EMPTY_DAY; MAX_DAYS];
    let mut allotment_sum: i64 = 0;
    for (slot, date) in days.iter_mut().zip(first.iter_days()).take(day_count) {
        slot.state = match version_index(versions, date) {
            None => DayState::NotCovered,
            Some(index) => match versions.get(index) {
                Some(v) if v.saad_siret == saad.siret => {
                    allotment_sum += i64::from(v.monthly_minutes);
                    DayState::Covered(index)
                }
                _ => DayState::OtherSaad,
            },
        };
        if !stop_events.is_empty() {
            slot.stop = stop_code(stop_events, date);
        }
    }
    let allotted = floor_minutes(allotment_sum, i64::from(days_in_month));
    let authorised: i64 = input
        .authorisations
        .iter()
        .filter(|a| a.month == month && a.plan_ref == latest.plan_ref)
        .map(|a| i64::from(a.minutes))
        .sum();
    let available = allotted + carry_in + authorised;

    // R7: interventions in order, billed while the running total stays within available.
    let mut billings = Vec::with_capacity(interventions.len());
    let mut rejections = Vec::new();
    let mut running: i64 = 0;
    let mut overrun_minutes: i64 = 0;
    let mut rejected_minutes: i64 = 0;
    let mut invoiced: u32 = 0;
    let mut corrected: u32 = 0;
    for intervention in interventions {
        let offset = usize::try_from(intervention.day.day0()).unwrap_or(MAX_DAYS);
        let rounded = intervention.rounded_minutes.max(0);
        let Some(slot) = days.get_mut(offset) else {
            continue;
        };
        let rate = day_rate(slot, intervention.day, versions, registration, params)?;
        let recheck = match slot.state {
            DayState::NotCovered => Some(RejectionCode::NoActivePlan),
            DayState::OtherSaad => Some(RejectionCode::SaadNotAssigned),
            DayState::Covered(_) => slot.stop.or(match rate {
                Some(PaidRate::Paid { .. }) => None,
                _ => Some(RejectionCode::NoTariff),
            }),
        };
        let rate_used = match rate {
            Some(PaidRate::Paid { rate, .. }) => Some(rate),
            _ => None,
        };
        let (billed, code) = match recheck {
            Some(code) => (0, Some(code)),
            None => {
                let room = (available - running).max(0);
                let billed = rounded.min(room);
                (billed, (billed < rounded).then_some(RejectionCode::Overrun))
            }
        };
        let rejected = rounded - billed;
        running += billed;
        slot.billed += billed;
        rejected_minutes += rejected;
        if code == Some(RejectionCode::Overrun) {
            overrun_minutes += rejected;
        }
        if billed > 0 {
            invoiced += 1;
            if intervention.corrected {
                corrected += 1;
            }
        }
        if let (Some(code), true) = (code, rejected > 0) {
            rejections.push(Rejection {
                code,
                line_id: Some(intervention.line_id.as_str()),
                day: Some(intervention.day),
                minutes: rejected,
                billed_minutes: billed,
                amount: rate_used
                    .map(|r| round_cents_half_away(Decimal::from(rejected) * r / MINUTES_PER_HOUR)),
            });
        }
        billings.push(InterventionBilling {
            line_id: intervention.line_id.as_str(),
            day: intervention.day,
            billed_minutes: billed,
            rejected_minutes: rejected,
            hourly_rate: rate_used,
            code,
            corrected: intervention.corrected,
        });
    }

    // R9: exact sums per day (minutes × rate, × share), divided by 60 once.
    let mut valued_numerator = Decimal::ZERO;
    let mut due_numerator = Decimal::ZERO;
    let mut cut_numerator = Decimal::ZERO;
    let mut single_rate: Option<Decimal> = None;
    let mut rate_varies = false;
    let mut first_covered_rate: Option<Decimal> = None;
    for (offset, slot) in days.iter_mut().take(day_count).enumerate() {
        let DayState::Covered(index) = slot.state else {
            continue;
        };
        if slot.billed == 0 && first_covered_rate.is_some() {
            continue;
        }
        let date = first
            .with_day0(u32::try_from(offset).unwrap_or(0))
            .unwrap_or(first);
        let Some(PaidRate::Paid { rate, capped_from }) =
            day_rate(slot, date, versions, registration, params)?
        else {
            continue;
        };
        if first_covered_rate.is_none() {
            first_covered_rate = Some(rate);
        }
        if slot.billed == 0 {
            continue;
        }
        let share = versions
            .get(index)
            .map(PlanVersion::financer_share)
            .unwrap_or(Decimal::ONE);
        let minutes = Decimal::from(slot.billed);
        let value = minutes * rate;
        valued_numerator += value;
        due_numerator += value * share;
        if let Some(plan_rate) = capped_from {
            cut_numerator += minutes * (plan_rate - rate);
        }
        match single_rate {
            None => single_rate = Some(rate),
            Some(previous) if previous != rate => rate_varies = true,
            Some(_) => {}
        }
    }
    let valued_amount = round_cents_half_away(valued_numerator / MINUTES_PER_HOUR);
    let amount_due = round_cents_half_away(due_numerator / MINUTES_PER_HOUR);
    let rate_cut_amount = round_cents_half_away(cut_numerator / MINUTES_PER_HOUR);
    let hourly_rate = if rate_varies && running > 0 {
        round_cents_half_away(valued_numerator / Decimal::from(running))
    } else {
        single_rate.or(first_covered_rate).unwrap_or(Decimal::ZERO)
    };
    if !cut_numerator.is_zero() {
        rejections.push(Rejection {
            code: RejectionCode::RateAboveCeiling,
            line_id: None,
            day: None,
            minutes: 0,
            billed_minutes: running,
            amount: Some(rate_cut_amount),
        });
    }

    // R7 carry-over: authorised minutes are used last and never carried;
    // the counter resets every 1 January.
    let carry_out = if month.month() == 12 {
        0
    } else {
        (allotted + carry_in - running).max(0)
    };
    let authorised_used = (running - allotted - carry_in).max(0);

    Ok(PlanMonthResult {
        plan_ref: latest.plan_ref.as_str(),
        beneficiary_id: latest.beneficiary_id.as_str(),
        saad_siret: &saad.siret,
        aid_type: latest.aid_type,
        month,
        allotted_minutes: allotted,
        carry_in_minutes: carry_in,
        authorised_minutes: authorised,
        available_minutes: available,
        authorised_used_minutes: authorised_used,
        overrun_minutes,
        carry_out_minutes: carry_out,
        hourly_rate,
        hourly_rate_is_average: rate_varies,
        amounts: LineAmounts {
            billed_minutes: running,
            rejected_minutes,
            valued_amount,
            participation_amount: valued_amount - amount_due,
            amount_due,
        },
        rate_cut_amount,
        invoiced_interventions: invoiced,
        corrected_interventions: corrected,
        interventions: billings,
        rejections,
    })
}
