//! `saad-gateway inspect FILE`: an offline reading of an ESPPADOM file, as
//! the JSON of ../shared/spec/api.md.
//!
//! For a DELIVERY, each intervention shows what the reader understood and
//! what would count under R1/R2: the counted period (corrected if present,
//! else raw) resolved in Europe/Paris, its minutes and their R1 rounding with
//! the parameters in force on the intervention's day. HOR and SUP lines count
//! zero. Line problems and document refusals are listed in `errors` with
//! their line and column. ORDER and INVOICE files list no intervention; their
//! content is in the extra keys `plans` and `invoices`.

use serde::Serialize;

use crate::domain::model::{InterventionSubmission, LineAction};
use crate::domain::params::Parameters;
use crate::domain::time::{Stamp, resolve_period, to_paris_rfc3339};

use super::MessageKind;
use super::delivery::DeliveryReader;
use super::error::{Limits, XmlError};
use super::invoice::{InvoiceMessage, read_invoice};
use super::order::{OrderPlan, read_order};
use super::scan::detect_kind;

/// One intervention as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectIntervention {
    /// Intervention id.
    pub id: String,
    /// Plan reference.
    pub plan_ref: Option<String>,
    /// Beneficiary id as sent.
    pub beneficiary_id: String,
    /// Worker id.
    pub worker_id: Option<String>,
    /// Raw start, RFC 3339 with the Paris offset.
    pub raw_start: Option<String>,
    /// Raw end.
    pub raw_end: Option<String>,
    /// Start of the counted period.
    pub counted_start: Option<String>,
    /// End of the counted period.
    pub counted_end: Option<String>,
    /// Correction reason (gateway code), when corrected.
    pub correction_reason: Option<String>,
    /// Whole minutes of the counted period.
    pub counted_minutes: Option<i64>,
    /// Minutes after R1 rounding.
    pub rounded_minutes: Option<i64>,
    /// Reader's and inspection's warnings.
    pub warnings: Vec<String>,
}

/// A refusal or a line problem, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectError {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// What is wrong and where (element path).
    pub message: String,
}

/// The JSON printed by `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InspectReport {
    /// `delivery`, `order` or `invoice`; `null` when the root is not ESPPADOM.
    pub kind: Option<MessageKind>,
    /// DELIVERY interventions (empty for other kinds).
    pub interventions: Vec<InspectIntervention>,
    /// Errors: the document refusal if any, and every line problem.
    pub errors: Vec<InspectError>,
    /// ORDER plan lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plans: Option<Vec<OrderPlan>>,
    /// INVOICE messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoices: Option<Vec<InvoiceMessage>>,
}

impl InspectReport {
    /// Whether the CLI must exit with status 1.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

fn refusal(error: &XmlError) -> InspectError {
    InspectError {
        line: error.line,
        column: error.column,
        message: format!("{} (element {})", error.message, error.path),
    }
}

fn written(stamp: Option<Stamp>) -> Option<String> {
    stamp.map(|s| match s.resolve_alone() {
        Some(instant) => to_paris_rfc3339(instant),
        None => s.to_string(),
    })
}

/// Reads `bytes` (any ESPPADOM message) and reports what the gateway understands.
pub fn inspect(bytes: &[u8], params: &Parameters) -> InspectReport {
    let mut report = InspectReport {
        kind: None,
        interventions: Vec::new(),
        errors: Vec::new(),
        plans: None,
        invoices: None,
    };
    let limits = Limits {
        max_document_bytes: bytes.len() as u64,
        ..Limits::default()
    };
    let kind = match detect_kind(bytes, limits) {
        Ok(kind) => kind,
        Err(error) => {
            report.errors.push(refusal(&error));
            return report;
        }
    };
    report.kind = Some(kind);
    match kind {
        MessageKind::Delivery => {
            for line in DeliveryReader::with_limits(bytes, limits) {
                match line {
                    Ok(line) => {
                        let (intervention, error) = intervention(&line.submission, params);
                        report.interventions.push(intervention);
                        report.errors.extend(error);
                    }
                    Err(error) => report.errors.push(refusal(&error)),
                }
            }
        }
        MessageKind::Order => match read_order(bytes) {
            Ok(plans) => {
                for plan in &plans {
                    if let Some(problem) = &plan.problem {
                        report.errors.push(InspectError {
                            line: problem.line,
                            column: problem.column,
                            message: format!(
                                "plan {}: {} (element {})",
                                plan.plan_ref, problem.message, problem.path
                            ),
                        });
                    }
                }
                report.plans = Some(plans);
            }
            Err(error) => report.errors.push(refusal(&error)),
        },
        MessageKind::Invoice => match read_invoice(bytes) {
            Ok(invoices) => {
                for invoice in &invoices {
                    let problems = invoice
                        .problem
                        .iter()
                        .chain(invoice.lines.iter().filter_map(|l| l.problem.as_ref()));
                    for problem in problems {
                        report.errors.push(InspectError {
                            line: problem.line,
                            column: problem.column,
                            message: format!(
                                "invoice {}: {} (element {})",
                                invoice.id.as_deref().unwrap_or("?"),
                                problem.message,
                                problem.path
                            ),
                        });
                    }
                }
                report.invoices = Some(invoices);
            }
            Err(error) => report.errors.push(refusal(&error)),
        },
    }
    report
}

fn intervention(
    line: &InterventionSubmission,
    params: &Parameters,
) -> (InspectIntervention, Option<InspectError>) {
    let mut warnings = line.warnings.clone();
    let mut shown = InspectIntervention {
        id: line.line_id.clone(),
        plan_ref: line.plan_ref.clone(),
        beneficiary_id: line.beneficiary_id.clone(),
        worker_id: line.worker_id.as_ref().map(|w| w.as_str().to_owned()),
        raw_start: written(line.raw_start),
        raw_end: written(line.raw_end),
        counted_start: None,
        counted_end: None,
        correction_reason: line.correction_reason.clone(),
        counted_minutes: None,
        rounded_minutes: None,
        warnings: Vec::new(),
    };
    let error = line.problem.as_ref().map(|problem| InspectError {
        line: problem.line,
        column: problem.column,
        message: format!(
            "intervention {}: {} (element {})",
            line.line_id, problem.message, problem.path
        ),
    });
    match line.action {
        LineAction::StampsOnly => {
            warnings.push("HOR: stamps only, stored as evidence; nothing is counted until a later message brings a retained period".to_owned());
            shown.counted_minutes = Some(0);
            shown.rounded_minutes = Some(0);
        }
        LineAction::Withdraw => {
            warnings.push("SUP: the SAAD withdraws this intervention".to_owned());
            shown.counted_minutes = Some(0);
            shown.rounded_minutes = Some(0);
        }
        LineAction::Count if error.is_none() => {
            let (start, end) = if line.correction_reason.is_some()
                || line.corrected_start.is_some()
                || line.corrected_end.is_some()
            {
                (
                    line.corrected_start.or(line.raw_start),
                    line.corrected_end.or(line.raw_end),
                )
            } else {
                (line.raw_start, line.raw_end)
            };
            match (start, end) {
                (Some(start), Some(end)) => {
                    match resolve_period(start, end) {
                        Ok(period) => {
                            let minutes = period.minutes();
                            shown.counted_start = Some(to_paris_rfc3339(period.start));
                            shown.counted_end = Some(to_paris_rfc3339(period.end));
                            shown.counted_minutes = Some(minutes);
                            match params.rounding_at(period.day()) {
                                Ok(rule) => {
                                    let rounded = rule.round(minutes);
                                    if rounded == 0 {
                                        warnings.push(format!("{minutes} min is under 8 minutes: accepted, billed zero"));
                                    }
                                    shown.rounded_minutes = Some(rounded);
                                }
                                Err(error) => warnings.push(error.to_string()),
                            }
                        }
                        Err(error) => warnings.push(format!(
                            "the counted period is not usable: {error} (INVALID_PERIOD)"
                        )),
                    }
                }
                _ => {
                    warnings.push("a counted time-stamp is missing (TIMESTAMP_MISSING)".to_owned())
                }
            }
        }
        LineAction::Count => {}
    }
    shown.warnings = warnings;
    (shown, error)
}
