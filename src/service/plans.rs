//! Plan import (api.md `POST /api/v1/orders`, rules R7 and R8): each plan
//! version is checked against the stored versions, the household's AM plans
//! and the SAAD's registration, then stored — or refused with its reasons.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::checks::reason_message;
use crate::domain::model::PlanVersion;
use crate::domain::params::{ParameterError, Parameters};
use crate::domain::plans::{PlanDecision, check_plan_version};
use crate::domain::types::{AidType, RejectionCode};
use crate::storage::{PlanInsert, Store, StoreError};

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

/// Checks and stores one plan version.
pub async fn import_plan(
    store: &Store,
    params: &Parameters,
    plan: &PlanVersion,
    now: DateTime<Utc>,
) -> Result<PlanOutcome, PlanImportError> {
    let existing = store.plan_versions(&plan.plan_ref).await?;
    let household = match (&plan.household_ref, plan.aid_type) {
        (Some(household_ref), AidType::Am) => store.household_am_plans(household_ref).await?,
        _ => Vec::new(),
    };
    let saad = store.get_saad(plan.saad_siret.as_str()).await?;
    let decision = check_plan_version(plan, &existing, &household, saad.as_ref(), params)?;
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
