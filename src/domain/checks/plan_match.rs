//! R4: which plan a line belongs to, and whether it may be paid under it.

use std::collections::BTreeSet;

use chrono::NaiveDate;

use super::index::{Aliases, PlanIndex};
use crate::domain::ingest::BeneficiaryAlias;
use crate::domain::model::{InterventionSubmission, PlanVersion};
use crate::domain::types::{AidType, RejectionCode, Siret};

/// What R4 found.
#[derive(Debug, Clone, Default)]
pub(super) struct PlanMatch {
    /// The plan, once it is known to belong (in some version) to this SAAD.
    pub(super) plan_ref: Option<String>,
    /// The financer's beneficiary id of that plan.
    pub(super) beneficiary_id: Option<String>,
    /// R4 reasons, in rule order.
    pub(super) reasons: Vec<RejectionCode>,
    /// The alias to record if the line is accepted (first id on a plan).
    pub(super) new_alias: Option<BeneficiaryAlias>,
}

/// The version in force on `day`: the highest version number covering it
/// (R7, as `model::version_in_force`), ties broken on the content so that
/// the answer never depends on the order of the input.
fn in_force<'p>(versions: &[&'p PlanVersion], day: NaiveDate) -> Option<&'p PlanVersion> {
    versions
        .iter()
        .copied()
        .filter(|v| v.covers(day))
        .max_by(|a, b| {
            (a.version, a.valid_from, a.valid_to, &a.saad_siret).cmp(&(
                b.version,
                b.valid_from,
                b.valid_to,
                &b.saad_siret,
            ))
        })
}

/// R4 for one line. `day` is the local day of the counted start; without it
/// only the plan reference itself can be checked.
pub(super) fn match_plan(
    plans: &PlanIndex<'_>,
    saad: &Siret,
    aliases: &Aliases,
    line: &InterventionSubmission,
    day: Option<NaiveDate>,
) -> PlanMatch {
    let announced_aid_type = line.aid_type.as_deref().map(str::parse::<AidType>);

    let plan_ref = match line.plan_ref.as_deref().map(str::trim) {
        Some(plan_ref) if !plan_ref.is_empty() => plan_ref.to_owned(),
        _ => {
            // Without a plan reference: exactly one plan of this SAAD must
            // match the beneficiary, aid type and day.
            let Some(day) = day else {
                return PlanMatch::default();
            };
            let candidates: BTreeSet<&str> = aliases
                .candidates(&line.beneficiary_id)
                .into_iter()
                .filter_map(|beneficiary| plans.refs_by_beneficiary.get(beneficiary))
                .flatten()
                .copied()
                .filter(|plan_ref| {
                    in_force(plans.versions(plan_ref), day).is_some_and(|v| {
                        v.saad_siret == *saad
                            && aliases.designates(&v.beneficiary_id, &line.beneficiary_id)
                            && match &announced_aid_type {
                                Some(Ok(aid_type)) => v.aid_type == *aid_type,
                                _ => true,
                            }
                    })
                })
                .collect();
            let mut candidates = candidates.into_iter();
            match (candidates.next(), candidates.next()) {
                (Some(only), None) => only.to_owned(),
                _ => {
                    return PlanMatch {
                        reasons: vec![RejectionCode::UnknownPlan],
                        ..PlanMatch::default()
                    };
                }
            }
        }
    };

    let versions = plans.versions(&plan_ref);
    // The highest version ever assigned to this SAAD: the plan is known to
    // it. Another SAAD's plan is answered exactly like a non-existent one.
    let Some(ours) = versions
        .iter()
        .copied()
        .filter(|v| v.saad_siret == *saad)
        .max_by_key(|v| (v.version, v.valid_from))
    else {
        return PlanMatch {
            reasons: vec![RejectionCode::UnknownPlan],
            ..PlanMatch::default()
        };
    };
    let mut found = PlanMatch {
        plan_ref: Some(plan_ref.clone()),
        beneficiary_id: Some(ours.beneficiary_id.clone()),
        ..PlanMatch::default()
    };
    let Some(day) = day else {
        return found;
    };
    let Some(version) = in_force(versions, day) else {
        found.reasons.push(RejectionCode::NoActivePlan);
        return found;
    };
    found.beneficiary_id = Some(version.beneficiary_id.clone());
    if version.saad_siret != *saad {
        found.reasons.push(RejectionCode::SaadNotAssigned);
    }
    match &announced_aid_type {
        Some(Ok(aid_type)) if *aid_type == version.aid_type => {}
        Some(_) => found.reasons.push(RejectionCode::AidTypeMismatch),
        None => {}
    }
    let announced = line.beneficiary_id.as_str();
    if announced != version.beneficiary_id && names_another_beneficiary(plans, saad, announced) {
        // The financer's id of another beneficiary of this SAAD is never an
        // alias of this one.
        found.reasons.push(RejectionCode::UnknownBeneficiary);
    } else if !aliases.has_any(&version.beneficiary_id) {
        // First id on a line of this beneficiary from this SAAD: recorded
        // as its alias if the line is accepted (even the financer's own id).
        found.new_alias = Some(BeneficiaryAlias {
            plan_ref,
            alias_id: announced.to_owned(),
            beneficiary_id: version.beneficiary_id.clone(),
        });
    } else if !aliases.designates(&version.beneficiary_id, announced) {
        found.reasons.push(RejectionCode::UnknownBeneficiary);
    }
    found
}

/// Whether `id` is the financer's id of a beneficiary with a plan assigned,
/// in some version, to this SAAD (only those: another SAAD's beneficiaries
/// must not be revealed by a different answer).
fn names_another_beneficiary(plans: &PlanIndex<'_>, saad: &Siret, id: &str) -> bool {
    plans.refs_by_beneficiary.get(id).is_some_and(|refs| {
        refs.iter().any(|plan_ref| {
            plans
                .versions(plan_ref)
                .iter()
                .any(|v| v.beneficiary_id == id && v.saad_siret == *saad)
        })
    })
}
