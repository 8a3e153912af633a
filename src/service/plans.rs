//! Plan import (api.md `POST /api/v1/orders`, rules R7 and R8): each plan
//! version is checked against the stored versions, the household's AM plans
//! and the SAAD's registration, then stored — or refused with its reasons.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::checks::reason_message;
use crate::domain::model::PlanVersion;
use crate::domain::params::{ParameterError, Parameters};
use crate::domain::plans::{
    OrderPlanFields, PlanDecision, check_plan_version, complete_from_previous,
};
use crate::domain::types::{AidType, RejectionCode, Siret};
use crate::storage::{PlanInsert, Store, StoreError};
use crate::xml::order::OrderPlan;

/// Accepted or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Stored (or already stored with the same content).
    Accepted,
    /// Not stored; see the reasons.
    Refused,
}

/// One `{code, message}` reason of a refused plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanReason {
    /// Upper snake case code.
    pub code: String,
    /// French explanation followed by what was found.
    pub message: String,
}

/// The answer for one plan (api.md `{"plans": [...]}` items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanOutcome {
    /// Plan reference.
    pub plan_ref: String,
    /// Version number.
    pub version: u32,
    /// Accepted or refused.
    pub status: PlanStatus,
    /// Why it was refused (empty when accepted).
    pub reasons: Vec<PlanReason>,
}

impl PlanOutcome {
    /// A refusal with one code and what was found.
    pub fn refused(
        plan_ref: &str,
        version: u32,
        code: RejectionCode,
        detail: &str,
        params: &Parameters,
    ) -> Self {
        Self {
            plan_ref: plan_ref.to_owned(),
            version,
            status: PlanStatus::Refused,
            reasons: vec![reason(code, detail, params)],
        }
    }
}

fn reason(code: RejectionCode, detail: &str, params: &Parameters) -> PlanReason {
    let message = reason_message(code, params);
    PlanReason {
        code: code.code().to_owned(),
        message: if detail.is_empty() {
            message
        } else {
            format!("{message} ({detail})")
        },
    }
}

/// Why a plan could not be judged at all.
#[derive(Debug, thiserror::Error)]
pub enum PlanImportError {
    /// The charter lacks a value the rules need.
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Judges one plan version against what is stored, without storing it.
async fn judge(
    store: &Store,
    params: &Parameters,
    plan: &PlanVersion,
) -> Result<PlanDecision, PlanImportError> {
    let existing = store.plan_versions(&plan.plan_ref).await?;
    let household = match (&plan.household_ref, plan.aid_type) {
        (Some(household_ref), AidType::Am) => store.household_am_plans(household_ref).await?,
        _ => Vec::new(),
    };
    let saad = store.get_saad(plan.saad_siret.as_str()).await?;
    Ok(check_plan_version(
        plan,
        &existing,
        &household,
        saad.as_ref(),
        params,
    )?)
}

/// Judges a plan without storing anything, to find before the first write
/// whether the charter lacks a value the request needs (a plan in a year
/// `charter/` does not cover): the route then refuses the whole request
/// (422) instead of storing the plans before it. The real import judges
/// again, in order, against what the earlier plans of the request stored.
pub async fn preflight_plan(
    store: &Store,
    params: &Parameters,
    plan: &PlanVersion,
) -> Result<(), PlanImportError> {
    judge(store, params, plan).await.map(drop)
}

/// [`preflight_plan`] for a plan read from an ESPPADOM ORDER.
pub async fn preflight_order_plan(
    store: &Store,
    params: &Parameters,
    order: &OrderPlan,
) -> Result<(), PlanImportError> {
    match complete_order_plan(store, params, order).await? {
        Ok(plan) => preflight_plan(store, params, &plan).await,
        Err(_refused) => Ok(()),
    }
}

/// Checks and stores one plan version.
pub async fn import_plan(
    store: &Store,
    params: &Parameters,
    plan: &PlanVersion,
    now: DateTime<Utc>,
) -> Result<PlanOutcome, PlanImportError> {
    let decision = judge(store, params, plan).await?;
    let accepted = PlanOutcome {
        plan_ref: plan.plan_ref.clone(),
        version: plan.version,
        status: PlanStatus::Accepted,
        reasons: Vec::new(),
    };
    match decision {
        PlanDecision::Idempotent => Ok(accepted),
        PlanDecision::Refused(refusals) => Ok(PlanOutcome {
            status: PlanStatus::Refused,
            reasons: refusals
                .iter()
                .map(|r| reason(r.code, &r.detail, params))
                .collect(),
            ..accepted
        }),
        PlanDecision::Accepted => match store.insert_plan_version(plan, now).await? {
            PlanInsert::Inserted | PlanInsert::Identical => Ok(accepted),
            PlanInsert::Conflicting(_) => Ok(PlanOutcome::refused(
                &plan.plan_ref,
                plan.version,
                RejectionCode::VersionConflict,
                "stored meanwhile with another content",
                params,
            )),
        },
    }
}

/// Checks and stores a plan read from an ESPPADOM ORDER (R7): the fields
/// ORDER cannot carry are taken from the plan's latest stored version. The
/// version number is that latest version's when the completed content is
/// the same (an idempotent resend), otherwise the next one. Without a
/// stored version the plan is refused `PLAN_INCOMPLETE`; a line the reader
/// could not use is refused `INVALID_MESSAGE`.
pub async fn import_order_plan(
    store: &Store,
    params: &Parameters,
    order: &OrderPlan,
    now: DateTime<Utc>,
) -> Result<PlanOutcome, PlanImportError> {
    match complete_order_plan(store, params, order).await? {
        Ok(plan) => import_plan(store, params, &plan, now).await,
        Err(refused) => Ok(refused),
    }
}

/// The plan version an ORDER line stands for, completed from the latest
/// stored version, or the refusal when it cannot be.
async fn complete_order_plan(
    store: &Store,
    params: &Parameters,
    order: &OrderPlan,
) -> Result<Result<PlanVersion, PlanOutcome>, PlanImportError> {
    let existing = store.plan_versions(&order.plan_ref).await?;
    let latest = existing.iter().max_by_key(|v| v.version);
    let next_version = latest.map_or(1, |v| v.version.saturating_add(1));
    let fields = match order_fields(order, latest.map_or(1, |v| v.version)) {
        Ok(fields) => fields,
        Err(detail) => {
            return Ok(Err(PlanOutcome::refused(
                &order.plan_ref,
                next_version,
                RejectionCode::InvalidMessage,
                &detail,
                params,
            )));
        }
    };
    let mut plan = match complete_from_previous(fields, latest) {
        Ok(plan) => plan,
        Err(incomplete) => {
            return Ok(Err(PlanOutcome::refused(
                &order.plan_ref,
                next_version,
                incomplete.code(),
                &format!(
                    "{} cannot be taken from a previous version",
                    incomplete.missing
                ),
                params,
            )));
        }
    };
    if latest != Some(&plan) {
        plan.version = next_version;
    }
    Ok(Ok(plan))
}

/// The ORDER line's fields, or what is missing or unreadable.
fn order_fields(order: &OrderPlan, version: u32) -> Result<OrderPlanFields, String> {
    if let Some(problem) = &order.problem {
        return Err(format!(
            "{} (element {}, line {}, column {})",
            problem.message, problem.path, problem.line, problem.column
        ));
    }
    let missing = |what: &str| format!("the ORDER line has no {what}");
    let aid_type = order
        .aid_type
        .as_deref()
        .ok_or_else(|| missing("aid type"))?;
    let aid_type: AidType = aid_type.parse().map_err(|e| format!("{e}"))?;
    let siret = order
        .saad_siret
        .as_deref()
        .ok_or_else(|| missing("SAAD SIRET"))?;
    let saad_siret = Siret::parse(siret).map_err(|e| format!("{e}"))?;
    Ok(OrderPlanFields {
        plan_ref: order.plan_ref.clone(),
        version,
        beneficiary_id: order.beneficiary_id.clone(),
        saad_siret,
        aid_type,
        valid_from: order.valid_from.ok_or_else(|| missing("start date"))?,
        valid_to: order.valid_to.ok_or_else(|| missing("end date"))?,
        monthly_minutes: order
            .monthly_minutes
            .ok_or_else(|| missing("monthly quantity"))?,
        hourly_rate: order.hourly_rate.ok_or_else(|| missing("hourly rate"))?,
    })
}
