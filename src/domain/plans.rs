//! Plan import checks (rules.md R7 "plan versions", R8 ceilings and
//! tariffs), completion of ESPPADOM ORDER plans from their previous
//! version, and the APA participation formula (R.232-11 CASF,
//! rules-reference.md §3).
//!
//! Pure: the caller passes the stored versions, the SAAD and the
//! parameters; the result is a decision value, never an HTTP status. No
//! I/O, no actix/sqlx/tokio/quick_xml.

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;

use super::model::{PlanVersion, Saad, Tariff};
use super::money::{round_cents_half_away, round_ratio_half_away};
use super::params::{ParameterError, Parameters, keys};
use super::reconciliation::rates::{PaidRate, paid_rate};
use super::types::{AidType, Household, RejectionCode, SaadStatus, Siret};

/// One reason a plan version is refused, with the figures behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanRefusal {
    /// Rejection code.
    pub code: RejectionCode,
    /// What was found, with figures (the French sentence comes from
    /// `charter/rejection-codes.toml`).
    pub detail: String,
}

impl PlanRefusal {
    fn new(code: RejectionCode, detail: String) -> Self {
        Self { code, detail }
    }
}

/// What the import does with a plan version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum PlanDecision {
    /// Store the new version.
    Accepted,
    /// The same plan reference and version with the same content is already
    /// stored: nothing to do, same answer.
    Idempotent,
    /// Refused; every failing check, in the order of the checks.
    Refused(Vec<PlanRefusal>),
}

/// Checks a plan version before it is stored (R7, R8).
///
/// - `existing_versions`: the stored versions of the same plan reference;
/// - `household_plans`: stored aide-ménagère versions sharing the new
///   version's `household_ref` (other plan references; versions of the same
///   plan reference are ignored);
/// - `saad`: the SAAD the version names, if it is known.
///
/// Order of the checks: `VERSION_CONFLICT` (alone: a conflicting version is
/// not examined further), field sanity (`PLAN_INCOMPLETE` for a missing
/// field, `PLAN_INCONSISTENT` for a value out of range), SAAD
/// (`SAAD_NOT_ASSIGNED`), `NO_TARIFF`, `PLAN_ABOVE_CEILING`,
/// `PLAN_INCONSISTENT` (SAAD part above the plan's value), `AM_CAP_EXCEEDED`.
///
/// Fails only when a parameter is not in force (a configuration error,
/// never the financer's input).
pub fn check_plan_version(
    new: &PlanVersion,
    existing_versions: &[PlanVersion],
    household_plans: &[PlanVersion],
    saad: Option<&Saad>,
    params: &Parameters,
) -> Result<PlanDecision, ParameterError> {
    if let Some(stored) = existing_versions
        .iter()
        .find(|v| v.plan_ref == new.plan_ref && v.version == new.version)
    {
        return Ok(if stored == new {
            PlanDecision::Idempotent
        } else {
            PlanDecision::Refused(vec![PlanRefusal::new(
                RejectionCode::VersionConflict,
                format!(
                    "version {} of plan {} is already stored with a different content; send a new version number",
                    new.version, new.plan_ref
                ),
            )])
        });
    }

    let mut refusals = Vec::new();
    check_fields(new, params, &mut refusals)?;

    let registration = match saad {
        None => {
            refusals.push(PlanRefusal::new(
                RejectionCode::SaadNotAssigned,
                format!("SAAD {} is not known to the gateway", new.saad_siret),
            ));
            None
        }
        Some(saad) => match saad.aid_type(new.aid_type) {
            None => {
                refusals.push(PlanRefusal::new(
                    RejectionCode::SaadNotAssigned,
                    format!(
                        "SAAD {} is not registered for aid type {}",
                        new.saad_siret, new.aid_type
                    ),
                ));
                None
            }
            Some(registration) => Some(registration),
        },
    };

    if let Some(registration) = registration {
        let needs_tariff =
            new.aid_type == AidType::Am || registration.status == SaadStatus::Habilite;
        if needs_tariff && new.valid_from <= new.valid_to {
            if let Some(gap) =
                first_uncovered_day(&registration.tariffs, new.valid_from, new.valid_to)
            {
                refusals.push(PlanRefusal::new(
                    RejectionCode::NoTariff,
                    format!(
                        "SAAD {} has no {} tariff in force on {gap}, within the plan's validity {} – {}",
                        new.saad_siret, new.aid_type, new.valid_from, new.valid_to
                    ),
                ));
            }
        }
    }

    if new.aid_type == AidType::Apa && !new.respite_exemption {
        if let Some(gir) = new.gir.filter(|g| (1..=4).contains(g)) {
            let year = new.valid_from.year();
            let ceiling = params.apa_gir_ceiling(gir, year)?;
            if new.monthly_amount > ceiling {
                refusals.push(PlanRefusal::new(
                    RejectionCode::PlanAboveCeiling,
                    format!(
                        "monthly amount {} € exceeds the GIR {gir} ceiling of {year}, {ceiling} €",
                        new.monthly_amount
                    ),
                ));
            }
        }
    }

    if let Some(registration) = registration {
        if let PaidRate::Paid { rate, .. } = paid_rate(
            new.aid_type,
            Some(registration),
            new.hourly_rate,
            new.valid_from,
            params,
        )? {
            let saad_part = Decimal::from(new.monthly_minutes) * rate / Decimal::from(60);
            if saad_part - new.monthly_amount > Decimal::new(1, 2) {
                refusals.push(PlanRefusal::new(
                    RejectionCode::PlanInconsistent,
                    format!(
                        "the SAAD part, {} min × {rate} €/h = {} €, exceeds the plan's monthly amount {} €",
                        new.monthly_minutes,
                        round_cents_half_away(saad_part),
                        new.monthly_amount
                    ),
                ));
            }
        }
    }

    if new.aid_type == AidType::Am {
        if let Some(household) = new.household {
            check_am_cap(new, household, household_plans, params, &mut refusals)?;
        }
    }

    Ok(if refusals.is_empty() {
        PlanDecision::Accepted
    } else {
        PlanDecision::Refused(refusals)
    })
}

/// Field sanity: dates in order, GIR for APA, participation rate for APA in
/// `[0, max_rate]`, coverage rate for PCH among the legal values, household
/// for aide-ménagère.
fn check_fields(
    new: &PlanVersion,
    params: &Parameters,
    refusals: &mut Vec<PlanRefusal>,
) -> Result<(), ParameterError> {
    let incomplete = |what: &str| {
        PlanRefusal::new(
            RejectionCode::PlanIncomplete,
            format!("{what} is required for a {} plan", new.aid_type),
        )
    };
    if new.valid_to < new.valid_from {
        refusals.push(PlanRefusal::new(
            RejectionCode::PlanInconsistent,
            format!(
                "valid_to {} is before valid_from {}",
                new.valid_to, new.valid_from
            ),
        ));
    }
    match new.aid_type {
        AidType::Apa => {
            match new.gir {
                None => refusals.push(incomplete("the GIR")),
                Some(gir) if !(1..=4).contains(&gir) => refusals.push(PlanRefusal::new(
                    RejectionCode::PlanInconsistent,
                    format!("GIR {gir} is not 1 to 4 (APA)"),
                )),
                Some(_) => {}
            }
            let max_rate = params.value_at(keys::APA_PARTICIPATION_MAX_RATE, new.valid_from)?;
            match new.participation_rate {
                None => refusals.push(incomplete("the participation rate")),
                Some(rate) if rate < Decimal::ZERO || rate > max_rate => {
                    refusals.push(PlanRefusal::new(
                        RejectionCode::PlanInconsistent,
                        format!("participation rate {rate} is not between 0 and {max_rate}"),
                    ))
                }
                Some(_) => {}
            }
        }
        AidType::Pch => {
            let full = params.value_at(keys::PCH_COVERAGE_FULL, new.valid_from)?;
            let reduced = params.value_at(keys::PCH_COVERAGE_REDUCED, new.valid_from)?;
            match new.coverage_rate {
                None => refusals.push(incomplete("the coverage rate")),
                Some(rate) if rate != full && rate != reduced => refusals.push(PlanRefusal::new(
                    RejectionCode::PlanInconsistent,
                    format!("coverage rate {rate} is neither {full} nor {reduced} (PCH)"),
                )),
                Some(_) => {}
            }
        }
        AidType::Am => {
            if new.household.is_none() {
                refusals.push(incomplete("the household (single or couple)"));
            }
        }
    }
    Ok(())
}

/// The first day of `[from, to]` that no tariff covers, if any (tariffs'
/// `valid_to` inclusive; overlapping tariffs are fine).
fn first_uncovered_day(tariffs: &[Tariff], from: NaiveDate, to: NaiveDate) -> Option<NaiveDate> {
    let mut sorted: Vec<&Tariff> = tariffs.iter().collect();
    sorted.sort_by_key(|t| t.valid_from);
    let mut cursor = from;
    for tariff in sorted {
        if tariff.valid_from > cursor {
            break;
        }
        match tariff.valid_to {
            None => return None,
            Some(end) if end >= cursor => match end.succ_opt() {
                Some(next) => cursor = next,
                None => return None,
            },
            Some(_) => {}
        }
        if cursor > to {
            return None;
        }
    }
    (cursor <= to).then_some(cursor)
}

/// R7 aide-ménagère cap: 30 h a month for a single person, 48 h for a
/// couple whose AM plans in force sharing `household_ref` are counted
/// together. The couple's total is checked on each day a version starts
/// within the new version's validity (the totals are constant in between).
fn check_am_cap(
    new: &PlanVersion,
    household: Household,
    household_plans: &[PlanVersion],
    params: &Parameters,
    refusals: &mut Vec<PlanRefusal>,
) -> Result<(), ParameterError> {
    let cap = params.am_max_minutes(household, new.valid_from)?;
    let own = i64::from(new.monthly_minutes);
    let partners: Vec<&PlanVersion> = match (&new.household_ref, household) {
        (Some(reference), Household::Couple) => household_plans
            .iter()
            .filter(|v| {
                v.aid_type == AidType::Am
                    && v.plan_ref != new.plan_ref
                    && v.household_ref.as_deref() == Some(reference.as_str())
                    && v.valid_from <= new.valid_to
                    && new.valid_from <= v.valid_to
            })
            .collect(),
        _ => Vec::new(),
    };
    let mut check_days: Vec<NaiveDate> = partners
        .iter()
        .map(|v| v.valid_from.max(new.valid_from))
        .collect();
    check_days.push(new.valid_from);
    let mut plan_refs: Vec<&str> = partners.iter().map(|v| v.plan_ref.as_str()).collect();
    plan_refs.sort_unstable();
    plan_refs.dedup();
    let mut worst = (own, new.valid_from);
    for day in check_days {
        let mut total = own;
        for plan_ref in &plan_refs {
            let in_force = partners
                .iter()
                .filter(|v| v.plan_ref == *plan_ref && v.covers(day))
                .max_by_key(|v| v.version);
            if let Some(version) = in_force {
                total += i64::from(version.monthly_minutes);
            }
        }
        if total > worst.0 {
            worst = (total, day);
        }
    }
    if worst.0 > cap {
        let whose = if partners.is_empty() {
            "the plan allots".to_owned()
        } else {
            format!(
                "the couple's aide-ménagère plans (household {}) allot together",
                new.household_ref.as_deref().unwrap_or("")
            )
        };
        refusals.push(PlanRefusal::new(
            RejectionCode::AmCapExceeded,
            format!(
                "{whose} {} min a month on {}, above the {} cap of {cap} min ({} h)",
                worst.0,
                worst.1,
                household,
                cap / 60
            ),
        ));
    }
    Ok(())
}

/// The fields an ESPPADOM ORDER line carries (the rest comes from the
/// previous version, R7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPlanFields {
    /// Plan reference.
    pub plan_ref: String,
    /// Version number.
    pub version: u32,
    /// Beneficiary (financer's id).
    pub beneficiary_id: String,
    /// SAAD assigned.
    pub saad_siret: Siret,
    /// Aid type.
    pub aid_type: AidType,
    /// First day, inclusive.
    pub valid_from: NaiveDate,
    /// Last day, inclusive.
    pub valid_to: NaiveDate,
    /// Minutes per month.
    pub monthly_minutes: u32,
    /// Plan hourly rate, EUR/h.
    pub hourly_rate: Decimal,
}

/// `PLAN_INCOMPLETE`: an ORDER plan without a previous version to take
/// its missing fields from, or whose previous version lacks one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "plan {plan_ref} version {version} is incomplete: {missing} cannot be taken from a previous version"
)]
pub struct PlanIncomplete {
    /// Plan reference.
    pub plan_ref: String,
    /// Version number.
    pub version: u32,
    /// What is missing, in words.
    pub missing: String,
}

impl PlanIncomplete {
    /// The rejection code (`PLAN_INCOMPLETE`).
    pub const fn code(&self) -> RejectionCode {
        RejectionCode::PlanIncomplete
    }
}

/// Completes an ORDER-sourced plan from its previous version (R7): GIR,
/// participation and coverage rates, household and its reference, monthly
/// amount and respite flag are taken from `previous`. Refused
/// (`PLAN_INCOMPLETE`) without a previous version, or when the previous one
/// lacks a field the aid type needs (e.g. it was of another aid type).
pub fn complete_from_previous(
    order: OrderPlanFields,
    previous: Option<&PlanVersion>,
) -> Result<PlanVersion, PlanIncomplete> {
    let fail = |missing: &str| PlanIncomplete {
        plan_ref: order.plan_ref.clone(),
        version: order.version,
        missing: missing.to_owned(),
    };
    let Some(previous) = previous else {
        return Err(fail(
            "GIR, shares, household and monthly amount (no previous version)",
        ));
    };
    let missing = match order.aid_type {
        AidType::Apa if previous.gir.is_none() => Some("the GIR"),
        AidType::Apa if previous.participation_rate.is_none() => Some("the participation rate"),
        AidType::Pch if previous.coverage_rate.is_none() => Some("the coverage rate"),
        AidType::Am if previous.household.is_none() => Some("the household"),
        _ => None,
    };
    if let Some(missing) = missing {
        return Err(fail(missing));
    }
    Ok(PlanVersion {
        plan_ref: order.plan_ref,
        version: order.version,
        beneficiary_id: order.beneficiary_id,
        saad_siret: order.saad_siret,
        aid_type: order.aid_type,
        gir: previous.gir.filter(|_| order.aid_type == AidType::Apa),
        household: previous.household.filter(|_| order.aid_type == AidType::Am),
        valid_from: order.valid_from,
        valid_to: order.valid_to,
        monthly_minutes: order.monthly_minutes,
        hourly_rate: order.hourly_rate,
        participation_rate: previous
            .participation_rate
            .filter(|_| order.aid_type == AidType::Apa),
        coverage_rate: previous
            .coverage_rate
            .filter(|_| order.aid_type == AidType::Pch),
        monthly_amount: previous.monthly_amount,
        respite_exemption: previous.respite_exemption,
        household_ref: previous.household_ref.clone(),
    })
}

/// The APA participation computed by the R.232-11 formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Participation {
    /// Monthly participation P, rounded to the cent half away from zero.
    pub amount: Decimal,
    /// Rate P ÷ A (exact P), rounded to 5 places half away from zero, as
    /// plans carry it.
    pub rate: Decimal,
}

/// APA participation (R.232-11 CASF, rules-reference.md §3) for monthly
/// `resources` R and plan amount A, with M = the monthly MTP in force on 1
/// January of `year`. A couple's resources are divided by the couple
/// divisor (1.7). Coefficients are parameters (`apa.participation.*`).
///
/// R ≤ S1 → 0; R > S2 → the maximum rate; otherwise
/// P = max_rate·x·[A1 + A2·(k2 + (1 − k2)·x) + A3·(k3 + (1 − k3)·x)] with
/// x = (R − S1)/(S2 − S1). The gateway stores the notified rate; this only
/// checks or recomputes it.
pub fn participation_rate(
    resources: Decimal,
    plan_amount: Decimal,
    couple: bool,
    year: i32,
    params: &Parameters,
) -> Result<Participation, ParameterError> {
    let january_first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(NaiveDate::MIN);
    let value = |key: &str| params.value_at(key, january_first);
    let mtp = value(keys::MTP_MONTHLY)?;
    let resources = if couple {
        let divisor = value(keys::APA_COUPLE_RESOURCE_DIVISOR)?;
        if divisor.is_zero() {
            resources
        } else {
            resources / divisor
        }
    } else {
        resources
    };
    let s1 = value(keys::APA_PARTICIPATION_S1_COEF)? * mtp;
    let s2 = value(keys::APA_PARTICIPATION_S2_COEF)? * mtp;
    let l1 = value(keys::APA_PARTICIPATION_SLICE1_COEF)? * mtp;
    let l2 = value(keys::APA_PARTICIPATION_SLICE2_COEF)? * mtp;
    let max_rate = value(keys::APA_PARTICIPATION_MAX_RATE)?;
    let k2 = value(keys::APA_PARTICIPATION_SLICE2_KEEP)?;
    let k3 = value(keys::APA_PARTICIPATION_SLICE3_KEEP)?;

    if plan_amount <= Decimal::ZERO || resources <= s1 {
        return Ok(Participation {
            amount: Decimal::ZERO,
            rate: Decimal::ZERO,
        });
    }
    if resources > s2 || s2 <= s1 {
        return Ok(Participation {
            amount: round_cents_half_away(plan_amount * max_rate),
            rate: max_rate,
        });
    }
    let a1 = plan_amount.min(l1);
    let a2 = (plan_amount - l1).max(Decimal::ZERO).min(l2 - l1);
    let a3 = (plan_amount - l2).max(Decimal::ZERO);
    let x = (resources - s1) / (s2 - s1);
    let weighted = a1 + a2 * (k2 + (Decimal::ONE - k2) * x) + a3 * (k3 + (Decimal::ONE - k3) * x);
    let exact = max_rate * x * weighted;
    Ok(Participation {
        amount: round_cents_half_away(exact),
        rate: round_ratio_half_away(exact / plan_amount, 5),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reconciliation::fixtures::*;
    use crate::domain::types::{Household, SaadStatus};
    use rust_decimal_macros::dec;

    fn codes(decision: &PlanDecision) -> Vec<RejectionCode> {
        match decision {
            PlanDecision::Refused(refusals) => refusals.iter().map(|r| r.code).collect(),
            _ => Vec::new(),
        }
    }

    fn check(new: &PlanVersion, saad: Option<&Saad>) -> PlanDecision {
        check_plan_version(new, &[], &[], saad, params()).unwrap()
    }

    fn plan_2025() -> PlanVersion {
        apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600)
    }

    fn am_saad() -> Saad {
        saad(
            SAAD_A,
            vec![registration(
                AidType::Am,
                SaadStatus::Autorise,
                vec![tariff(dec!(20.00), day(2024, 1, 1), None)],
            )],
        )
    }

    #[test]
    fn a_sound_plan_is_accepted() {
        assert_eq!(
            check(&plan_2025(), Some(&habilite_apa())),
            PlanDecision::Accepted
        );
    }

    #[test]
    fn r8_gir_ceilings_of_2024_and_2025_equal_the_published_values() {
        let expected = [
            (
                2024,
                [dec!(1955.60), dec!(1581.44), dec!(1143.09), dec!(762.87)],
            ),
            (
                2025,
                [dec!(2045.56), dec!(1654.18), dec!(1195.67), dec!(797.96)],
            ),
        ];
        for (year, ceilings) in expected {
            for (gir, ceiling) in (1u8..=4).zip(ceilings) {
                assert_eq!(
                    params().apa_gir_ceiling(gir, year).unwrap(),
                    ceiling,
                    "{year} GIR {gir}"
                );
            }
        }
    }

    #[test]
    fn r8_apa_plan_above_its_gir_ceiling_is_refused() {
        let mut plan = plan_2025();
        plan.gir = Some(4);
        plan.monthly_amount = dec!(797.97);
        assert_eq!(
            codes(&check(&plan, Some(&habilite_apa()))),
            [RejectionCode::PlanAboveCeiling]
        );
        plan.monthly_amount = dec!(797.96);
        assert_eq!(check(&plan, Some(&habilite_apa())), PlanDecision::Accepted);
    }

    #[test]
    fn r8_the_respite_exemption_lifts_the_gir_ceiling() {
        let mut plan = plan_2025();
        plan.gir = Some(4);
        plan.monthly_amount = dec!(1200.00);
        plan.respite_exemption = true;
        assert_eq!(check(&plan, Some(&habilite_apa())), PlanDecision::Accepted);
    }

    #[test]
    fn r8_ceiling_of_the_year_of_valid_from_is_used() {
        // 2024 GIR 4 ceiling 762.87; 780.00 fits 2025's 797.96 but not 2024's.
        let mut plan = apa_plan(1, day(2024, 12, 1), day(2025, 6, 30), 600);
        plan.gir = Some(4);
        plan.monthly_amount = dec!(780.00);
        assert_eq!(
            codes(&check(&plan, Some(&habilite_apa()))),
            [RejectionCode::PlanAboveCeiling]
        );
    }

    #[test]
    fn r7_am_cap_for_a_single_person_is_30_hours() {
        let saad = am_saad();
        let plan = am_plan("AM-1", Household::Single, None, 1800);
        assert_eq!(check(&plan, Some(&saad)), PlanDecision::Accepted);
        let plan = am_plan("AM-1", Household::Single, None, 1815);
        assert_eq!(
            codes(&check(&plan, Some(&saad))),
            [RejectionCode::AmCapExceeded]
        );
    }

    #[test]
    fn r7_am_cap_for_a_couple_counts_both_plans_of_the_household() {
        let saad = am_saad();
        let partner = am_plan("AM-2", Household::Couple, Some("H-1"), 1500);
        let stranger = am_plan("AM-3", Household::Couple, Some("H-9"), 1500);
        let new = am_plan("AM-1", Household::Couple, Some("H-1"), 1500);
        let decision = check_plan_version(
            &new,
            &[],
            &[partner.clone(), stranger.clone()],
            Some(&saad),
            params(),
        )
        .unwrap();
        // 1500 + 1500 = 3000 min > 48 h = 2880 min.
        assert_eq!(codes(&decision), [RejectionCode::AmCapExceeded]);

        let new = am_plan("AM-1", Household::Couple, Some("H-1"), 1380);
        let decision = check_plan_version(
            &new,
            &[],
            &[partner.clone(), stranger],
            Some(&saad),
            params(),
        )
        .unwrap();
        assert_eq!(decision, PlanDecision::Accepted);

        // A partner plan that ended before the new one starts does not count.
        let mut ended = partner;
        ended.valid_from = day(2024, 1, 1);
        ended.valid_to = day(2024, 12, 31);
        let new = am_plan("AM-1", Household::Couple, Some("H-1"), 2880);
        let decision = check_plan_version(&new, &[], &[ended], Some(&saad), params()).unwrap();
        assert_eq!(decision, PlanDecision::Accepted);
    }

    #[test]
    fn r8_no_tariff_when_a_habilite_saad_tariffs_do_not_cover_the_validity() {
        let saad = saad(
            SAAD_A,
            vec![registration(
                AidType::Apa,
                SaadStatus::Habilite,
                vec![
                    tariff(dec!(24.00), day(2024, 1, 1), Some(day(2025, 3, 31))),
                    tariff(dec!(24.50), day(2025, 4, 1), Some(day(2025, 10, 31))),
                ],
            )],
        );
        let decision = check(&plan_2025(), Some(&saad));
        assert_eq!(codes(&decision), [RejectionCode::NoTariff]);
        let PlanDecision::Refused(refusals) = decision else {
            unreachable!()
        };
        assert!(
            refusals[0].detail.contains("2025-11-01"),
            "{}",
            refusals[0].detail
        );
        let mut shorter = plan_2025();
        shorter.valid_to = day(2025, 10, 31);
        assert_eq!(check(&shorter, Some(&saad)), PlanDecision::Accepted);
    }

    #[test]
    fn r8_no_tariff_for_an_am_plan_of_a_saad_without_am_tariff() {
        let saad = saad(
            SAAD_A,
            vec![registration(AidType::Am, SaadStatus::Autorise, vec![])],
        );
        let plan = am_plan("AM-1", Household::Single, None, 600);
        assert_eq!(codes(&check(&plan, Some(&saad))), [RejectionCode::NoTariff]);
    }

    #[test]
    fn r8_autorise_apa_plan_needs_no_tariff() {
        let saad = saad(
            SAAD_A,
            vec![registration(AidType::Apa, SaadStatus::Autorise, vec![])],
        );
        assert_eq!(check(&plan_2025(), Some(&saad)), PlanDecision::Accepted);
    }

    #[test]
    fn unknown_saad_or_aid_type_is_saad_not_assigned() {
        assert_eq!(
            codes(&check(&plan_2025(), None)),
            [RejectionCode::SaadNotAssigned]
        );
        assert_eq!(
            codes(&check(&plan_2025(), Some(&am_saad()))),
            [RejectionCode::SaadNotAssigned]
        );
    }

    #[test]
    fn r8_plan_inconsistent_when_the_saad_part_exceeds_the_plan_value_by_more_than_a_cent() {
        // 2501 min × 24.00 €/h / 60 = 1000.40 €.
        let mut plan = plan_2025();
        plan.monthly_minutes = 2501;
        plan.monthly_amount = dec!(1000.39);
        assert_eq!(check(&plan, Some(&habilite_apa())), PlanDecision::Accepted);
        plan.monthly_amount = dec!(1000.38);
        assert_eq!(
            codes(&check(&plan, Some(&habilite_apa()))),
            [RejectionCode::PlanInconsistent]
        );
    }

    #[test]
    fn r8_plan_consistency_uses_the_capped_rate_for_an_autorise_saad() {
        // Plan rate 30.00 but an autorisé SAAD is paid 24.58 in 2025: 600 min → 245.80 €.
        let saad = saad(
            SAAD_A,
            vec![registration(AidType::Apa, SaadStatus::Autorise, vec![])],
        );
        let mut plan = plan_2025();
        plan.hourly_rate = dec!(30.00);
        plan.monthly_amount = dec!(245.80);
        assert_eq!(check(&plan, Some(&saad)), PlanDecision::Accepted);
        plan.monthly_amount = dec!(245.78);
        assert_eq!(
            codes(&check(&plan, Some(&saad))),
            [RejectionCode::PlanInconsistent]
        );
    }

    #[test]
    fn r7_same_version_resent_is_idempotent_and_different_content_conflicts() {
        let stored = plan_2025();
        let decision = check_plan_version(
            &stored,
            std::slice::from_ref(&stored),
            &[],
            Some(&habilite_apa()),
            params(),
        )
        .unwrap();
        assert_eq!(decision, PlanDecision::Idempotent);
        let mut changed = stored.clone();
        changed.monthly_minutes = 900;
        let decision = check_plan_version(
            &changed,
            std::slice::from_ref(&stored),
            &[],
            Some(&habilite_apa()),
            params(),
        )
        .unwrap();
        assert_eq!(codes(&decision), [RejectionCode::VersionConflict]);
        changed.version = 2;
        let decision =
            check_plan_version(&changed, &[stored], &[], Some(&habilite_apa()), params()).unwrap();
        assert_eq!(decision, PlanDecision::Accepted);
    }

    #[test]
    fn field_sanity_of_rates_gir_and_dates() {
        let apa_saad = habilite_apa();
        let mut plan = plan_2025();
        plan.participation_rate = Some(dec!(0.95));
        plan.valid_to = day(2024, 12, 31);
        plan.gir = None;
        assert_eq!(
            codes(&check(&plan, Some(&apa_saad))),
            [
                RejectionCode::PlanInconsistent,
                RejectionCode::PlanIncomplete,
                RejectionCode::PlanInconsistent
            ]
        );
        let mut pch = plan_2025();
        pch.aid_type = AidType::Pch;
        pch.gir = None;
        pch.participation_rate = None;
        pch.coverage_rate = Some(dec!(0.50));
        let pch_saad = saad(
            SAAD_A,
            vec![registration(AidType::Pch, SaadStatus::Autorise, vec![])],
        );
        assert_eq!(
            codes(&check(&pch, Some(&pch_saad))),
            [RejectionCode::PlanInconsistent]
        );
        pch.coverage_rate = Some(dec!(0.8));
        assert_eq!(check(&pch, Some(&pch_saad)), PlanDecision::Accepted);
    }

    fn order_fields(aid_type: AidType) -> OrderPlanFields {
        OrderPlanFields {
            plan_ref: "P-1".to_owned(),
            version: 2,
            beneficiary_id: "B-1".to_owned(),
            saad_siret: Siret::parse(SAAD_A).unwrap(),
            aid_type,
            valid_from: day(2025, 3, 1),
            valid_to: day(2025, 12, 31),
            monthly_minutes: 900,
            hourly_rate: dec!(24.00),
        }
    }

    #[test]
    fn r7_order_plan_without_previous_version_is_plan_incomplete() {
        let err = complete_from_previous(order_fields(AidType::Apa), None).unwrap_err();
        assert_eq!(err.code(), RejectionCode::PlanIncomplete);
        // A previous version of another aid type lacks the household of an AM plan.
        let previous = plan_2025();
        let err = complete_from_previous(order_fields(AidType::Am), Some(&previous)).unwrap_err();
        assert!(err.missing.contains("household"), "{err}");
    }

    #[test]
    fn r7_order_plan_takes_missing_fields_from_its_previous_version() {
        let mut previous = plan_2025();
        previous.gir = Some(2);
        previous.participation_rate = Some(dec!(0.12345));
        previous.monthly_amount = dec!(1500.00);
        let plan = complete_from_previous(order_fields(AidType::Apa), Some(&previous)).unwrap();
        assert_eq!(plan.version, 2);
        assert_eq!(plan.monthly_minutes, 900);
        assert_eq!(plan.gir, Some(2));
        assert_eq!(plan.participation_rate, Some(dec!(0.12345)));
        assert_eq!(plan.monthly_amount, dec!(1500.00));
        assert_eq!(plan.valid_from, day(2025, 3, 1));
    }

    #[test]
    fn participation_formula_test_vector() {
        // rules-reference.md §3: M = 1266.60 (MTP on 1 January 2025), R = 1500, A = 800.
        let p = participation_rate(dec!(1500), dec!(800), false, 2025, params()).unwrap();
        assert_eq!(p.amount, dec!(125.71));
        assert!(
            (p.rate - dec!(0.15713)).abs() <= dec!(0.00001),
            "{}",
            p.rate
        );
    }

    #[test]
    fn participation_is_zero_below_s1_and_maximal_above_s2() {
        // S1 = 0.725 × 1266.60 = 918.285; S2 = 2.67 × 1266.60 = 3381.822.
        let p = participation_rate(dec!(918.28), dec!(800), false, 2025, params()).unwrap();
        assert_eq!(p.rate, Decimal::ZERO);
        let p = participation_rate(dec!(3381.83), dec!(800), false, 2025, params()).unwrap();
        assert_eq!((p.rate, p.amount), (dec!(0.90), dec!(720.00)));
        // A couple's resources are divided by 1.7: 2550 / 1.7 = 1500 → the test vector.
        let p = participation_rate(dec!(2550), dec!(800), true, 2025, params()).unwrap();
        assert_eq!(p.amount, dec!(125.71));
    }
}
