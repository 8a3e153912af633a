//! The rejection notice of a SAAD for a month (api.md `GET
//! /api/v1/rejections`, rules.md "Rejection notices"), as far as ingestion
//! knows it.
//!
//! One [`RejectionLine`] per intervention rejected at ingestion and not
//! accepted later in a corrected form, carrying its FIRST reason (the one
//! the rules checked first, what the SAAD must fix first; the receipt lists
//! them all). `minutes` are the rounded minutes of the counted period (R1
//! rounding in force on its day), `null` when no period could be
//! determined; `amount` is `null`: an intervention refused at ingestion is
//! never valued. The lines of the SAAD's own invoices that were cut back
//! (`INVOICE_MISMATCH`) or paid below the computation
//! (`INVOICE_BELOW_COMPUTED`) follow, `amount` = asked − paid. Once the
//! month is closed, what the close did not pay comes last, as stored by the
//! close: `OVERRUN` minutes of an accepted intervention beyond the plan's
//! available minutes (its rounded minutes not paid and their value at the
//! day's rate; a partial overrun names the part paid in its message), and
//! the `RATE_ABOVE_CEILING` cut of a line (`minutes` 0: the hours are paid,
//! `amount` the cut).

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::checks::reason_message;
use crate::domain::params::{ParameterError, Parameters};
use crate::domain::types::{RejectionCode, YearMonth};
use crate::storage::{RejectedIntervention, Store, StoreError};

/// One line of a rejection notice (api.md "RejectionLine").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectionLine {
    /// Upper snake case business code (`LATE_TRANSMISSION`).
    pub code: String,
    /// A plain French sentence explaining it.
    pub message: String,
    /// The intervention id.
    pub line_id: Option<String>,
    /// The plan, when resolved.
    pub plan_ref: Option<String>,
    /// The beneficiary, when resolved.
    pub beneficiary_id: Option<String>,
    /// The intervention's day (Paris), when its period is known.
    pub day: Option<NaiveDate>,
    /// Rounded minutes not paid, when the period is known.
    pub minutes: Option<i64>,
    /// Amount not paid (month-close lines only; `null` here).
    pub amount: Option<String>,
    /// What the SAAD can do about it, in French.
    pub remedy: String,
}

/// The notice (api.md: `{"month", "saad_siret", "lines"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectionNotice {
    /// `YYYY-MM`.
    pub month: YearMonth,
    /// The SAAD.
    pub saad_siret: String,
    /// The lines, in the order storage returns them.
    pub lines: Vec<RejectionLine>,
}

/// Why a notice could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RejectionsError {
    /// The charter lacks a rounding rule for a line's day.
    #[error(transparent)]
    Parameters(#[from] ParameterError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Builds the notice of `saad_siret` for `month`.
pub async fn rejection_notice(
    store: &Store,
    params: &Parameters,
    saad_siret: &str,
    month: YearMonth,
) -> Result<RejectionNotice, RejectionsError> {
    let rejected = store.rejected_in_month(saad_siret, month).await?;
    let mut lines = rejected
        .iter()
        .map(|r| rejection_line(r, params))
        .collect::<Result<Vec<_>, _>>()?;
    // Lines of the SAAD's own INVOICE cut back (INVOICE_MISMATCH) or paid
    // below the computation (INVOICE_BELOW_COMPUTED, information).
    for matched in store.saad_invoice_lines(saad_siret, month).await? {
        let Some(code) = matched
            .code
            .as_deref()
            .and_then(|c| c.parse::<RejectionCode>().ok())
        else {
            continue;
        };
        let not_paid = matched.asked.map(|asked| asked - matched.paid);
        lines.push(RejectionLine {
            code: code.code().to_owned(),
            message: reason_message(code, params),
            line_id: None,
            plan_ref: Some(matched.plan_ref.clone()),
            beneficiary_id: matched.beneficiary_id.clone(),
            day: None,
            minutes: None,
            amount: not_paid.map(crate::service::invoices::format_money),
            remedy: params
                .rejection_text(code)
                .map(|t| t.remedy.clone())
                .unwrap_or_default(),
        });
    }
    // What the month close did not pay (OVERRUN, RATE_ABOVE_CEILING).
    for unpaid in store.close_rejections(saad_siret, month).await? {
        let code: Option<RejectionCode> = unpaid.code.parse().ok();
        let mut message = code
            .map(|c| reason_message(c, params))
            .unwrap_or_else(|| unpaid.code.clone());
        if unpaid.line_id.is_some() && unpaid.billed_minutes > 0 {
            message.push_str(&format!(
                " Partie payée : {} min, partie rejetée : {} min.",
                unpaid.billed_minutes, unpaid.minutes
            ));
        }
        lines.push(RejectionLine {
            code: unpaid.code.clone(),
            message,
            line_id: unpaid.line_id.clone(),
            plan_ref: Some(unpaid.plan_ref.clone()),
            beneficiary_id: Some(unpaid.beneficiary_id.clone()),
            day: unpaid.day,
            minutes: Some(unpaid.minutes),
            amount: unpaid.amount.map(crate::service::invoices::format_money),
            remedy: code
                .and_then(|c| params.rejection_text(c))
                .map(|t| t.remedy.clone())
                .unwrap_or_default(),
        });
    }
    Ok(RejectionNotice {
        month,
        saad_siret: saad_siret.to_owned(),
        lines,
    })
}

/// The line of one rejected intervention, with its first (main) reason.
fn rejection_line(
    rejected: &RejectedIntervention,
    params: &Parameters,
) -> Result<RejectionLine, ParameterError> {
    let code_text = rejected
        .reasons
        .first()
        .cloned()
        .unwrap_or_else(|| RejectionCode::InvalidMessage.code().to_owned());
    let code: Option<RejectionCode> = code_text.parse().ok();
    let message = code
        .map(|c| reason_message(c, params))
        .unwrap_or_else(|| code_text.clone());
    let remedy = code
        .and_then(|c| params.rejection_text(c))
        .map(|t| t.remedy.clone())
        .unwrap_or_default();
    let (day, minutes) = match rejected.period {
        Some(period) => {
            let day = period.day();
            (
                Some(day),
                Some(params.rounding_at(day)?.round(period.minutes())),
            )
        }
        None => (None, None),
    };
    Ok(RejectionLine {
        code: code_text,
        message,
        line_id: Some(rejected.line_id.clone()),
        plan_ref: rejected.plan_ref.clone(),
        beneficiary_id: rejected.beneficiary_id.clone(),
        day,
        minutes,
        amount: None,
        remedy,
    })
}
