//! Invoices (api.md InvoiceSummary, Invoice, `POST …/validate`): the JSON
//! shapes of stored invoices and the validation workflow
//! `proforma → saad_validated → final` (rules.md R9). A final invoice is
//! immutable; `paid` is set only by a payment batch.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use crate::domain::money::round_cents_half_away;
use crate::domain::types::{AidType, YearMonth};
use crate::storage::{
    InvoiceKind, InvoiceLineRecord, InvoiceRecord, InvoiceStatus, Store, StoreError,
};

/// Serialises an amount as a JSON string with two places (`"123.45"`).
pub fn money_string<S: Serializer>(amount: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_money(*amount))
}

/// `"123.45"`: two places, rounded half away from zero.
pub fn format_money(amount: Decimal) -> String {
    format!("{:.2}", round_cents_half_away(amount))
}

/// api.md InvoiceSummary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceSummary {
    /// Id.
    pub id: String,
    /// Billed month.
    pub month: YearMonth,
    /// SAAD.
    pub saad_siret: String,
    /// Aid type.
    pub aid_type: AidType,
    /// `proforma` or `regularisation`.
    pub kind: InvoiceKind,
    /// Workflow status.
    pub status: InvoiceStatus,
    /// Number of lines.
    pub line_count: i64,
    /// Billed minutes.
    pub billed_minutes: i64,
    /// Rejected minutes.
    pub rejected_minutes: i64,
    /// Valued amount.
    #[serde(serialize_with = "money_string")]
    pub valued_amount: Decimal,
    /// Beneficiary's participation.
    #[serde(serialize_with = "money_string")]
    pub participation_amount: Decimal,
    /// Amount due by the financer.
    #[serde(serialize_with = "money_string")]
    pub amount_due: Decimal,
}

impl From<&InvoiceRecord> for InvoiceSummary {
    fn from(r: &InvoiceRecord) -> Self {
        Self {
            id: r.id.clone(),
            month: r.month,
            saad_siret: r.saad_siret.clone(),
            aid_type: r.aid_type,
            kind: r.kind,
            status: r.status,
            line_count: r.line_count,
            billed_minutes: r.billed_minutes,
            rejected_minutes: r.rejected_minutes,
            valued_amount: r.valued_amount,
            participation_amount: r.participation_amount,
            amount_due: r.amount_due,
        }
    }
}

/// One line of api.md Invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceLine {
    /// Plan.
    pub plan_ref: String,
    /// Beneficiary.
    pub beneficiary_id: String,
    /// Billed minutes.
    pub billed_minutes: i64,
    /// Rejected minutes (overrun).
    pub rejected_minutes: i64,
    /// Hourly rate (an average when it changed within the month).
    #[serde(serialize_with = "money_string")]
    pub hourly_rate: Decimal,
    /// Valued amount.
    #[serde(serialize_with = "money_string")]
    pub valued_amount: Decimal,
    /// Participation.
    #[serde(serialize_with = "money_string")]
    pub participation_amount: Decimal,
    /// Amount due.
    #[serde(serialize_with = "money_string")]
    pub amount_due: Decimal,
}

impl From<&InvoiceLineRecord> for InvoiceLine {
    fn from(l: &InvoiceLineRecord) -> Self {
        Self {
            plan_ref: l.plan_ref.clone(),
            beneficiary_id: l.beneficiary_id.clone(),
            billed_minutes: l.billed_minutes,
            rejected_minutes: l.rejected_minutes,
            hourly_rate: l.hourly_rate,
            valued_amount: l.valued_amount,
            participation_amount: l.participation_amount,
            amount_due: l.amount_due,
        }
    }
}

/// api.md Invoice: the summary plus its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invoice {
    /// Summary fields.
    #[serde(flatten)]
    pub summary: InvoiceSummary,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
}

/// Why a validation was refused.
#[derive(Debug, thiserror::Error)]
pub enum InvoiceError {
    /// No such invoice visible to the caller (404).
    #[error("no such invoice")]
    NotFound,
    /// Out of order (409).
    #[error("{0}")]
    Conflict(String),
    /// A SAAD invoice the gateway cannot act on (422).
    #[error("{0}")]
    Unprocessable(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The invoice `id`; with `saad_siret`, only if it is that SAAD's.
pub async fn get_invoice(
    store: &Store,
    id: &str,
    saad_siret: Option<&str>,
) -> Result<(InvoiceRecord, Vec<InvoiceLineRecord>), InvoiceError> {
    store
        .get_invoice(id, saad_siret)
        .await?
        .ok_or(InvoiceError::NotFound)
}

/// The invoice as api.md Invoice.
pub fn invoice_json(record: &InvoiceRecord, lines: &[InvoiceLineRecord]) -> Invoice {
    Invoice {
        summary: InvoiceSummary::from(record),
        lines: lines.iter().map(InvoiceLine::from).collect(),
    }
}

/// Validates an invoice: a SAAD (`saad_siret` set) moves its own pro-forma
/// to `saad_validated`; the financer moves a `saad_validated` invoice to
/// `final`. Anything else is out of order (409).
pub async fn validate(
    store: &Store,
    id: &str,
    saad_siret: Option<&str>,
    now: DateTime<Utc>,
) -> Result<InvoiceSummary, InvoiceError> {
    let (mut record, _) = get_invoice(store, id, saad_siret).await?;
    let (from, to, who) = match saad_siret {
        Some(_) => (
            InvoiceStatus::Proforma,
            InvoiceStatus::SaadValidated,
            "the SAAD's validation needs a pro-forma invoice",
        ),
        None => (
            InvoiceStatus::SaadValidated,
            InvoiceStatus::Final,
            "the financer's validation needs the SAAD's validation first",
        ),
    };
    if record.status != from {
        return Err(InvoiceError::Conflict(format!(
            "{who}; invoice {id} is {}",
            status_code(record.status)
        )));
    }
    // Compare-and-set: of two concurrent validations only one moves the
    // invoice; the other finds it no longer in `from` and answers 409.
    if !store.set_invoice_status_if(id, from, to, now).await? {
        return Err(InvoiceError::Conflict(format!(
            "{who}; invoice {id} changed status meanwhile (a concurrent validation)"
        )));
    }
    record.status = to;
    Ok(InvoiceSummary::from(&record))
}

/// The contract's spelling of a status.
pub fn status_code(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Proforma => "proforma",
        InvoiceStatus::SaadValidated => "saad_validated",
        InvoiceStatus::Final => "final",
        InvoiceStatus::Paid => "paid",
    }
}

/// The ESPPADOM INVOICE of a stored invoice (`GET …/{id}.xml`); each line's
/// amount is its amount due, the total the invoice's amount due.
pub async fn invoice_xml(
    store: &Store,
    record: &InvoiceRecord,
    lines: &[InvoiceLineRecord],
) -> Result<Vec<u8>, InvoiceXmlError> {
    use crate::xml::invoice::{
        InvoiceDocument, InvoiceDocumentLine, InvoiceKind as XmlKind, InvoiceSaad, PartyRef,
        write_invoice,
    };
    let saad = store
        .get_saad(&record.saad_siret)
        .await?
        .ok_or(InvoiceXmlError::Store(StoreError::NotFound))?;
    let document = InvoiceDocument {
        id: record.id.clone(),
        kind: match record.kind {
            InvoiceKind::Proforma => XmlKind::Proforma,
            InvoiceKind::Regularisation => XmlKind::Regularisation,
        },
        month: record.month,
        issued_at: record
            .created_at
            .with_timezone(&chrono_tz::Europe::Paris)
            .naive_local(),
        aid_type: record.aid_type,
        saad: InvoiceSaad {
            siret: saad.siret.clone(),
            name: saad.name.clone(),
        },
        financer: PartyRef {
            id: store.financer_id().to_owned(),
            name: store.financer_id().to_owned(),
        },
        lines: lines
            .iter()
            .map(|l| InvoiceDocumentLine {
                plan_ref: l.plan_ref.clone(),
                beneficiary_id: l.beneficiary_id.clone(),
                billed_minutes: l.billed_minutes,
                hourly_rate: l.hourly_rate,
                amount: l.amount_due,
            })
            .collect(),
        total: record.amount_due,
    };
    Ok(write_invoice(&document)?)
}

/// Why an invoice could not be written as XML.
#[derive(Debug, thiserror::Error)]
pub enum InvoiceXmlError {
    /// Storage failed (or the SAAD is gone).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// api.md answer of `POST /api/v1/invoices`: one line per plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaadInvoiceAnswer {
    /// The gateway's invoice the SAAD's was matched to.
    pub invoice_id: String,
    /// Per plan, in plan order.
    pub lines: Vec<SaadInvoiceAnswerLine>,
}

/// One plan of [`SaadInvoiceAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaadInvoiceAnswerLine {
    /// Plan.
    pub plan_ref: String,
    /// What the SAAD asked (`null` when its invoice omits the plan).
    #[serde(serialize_with = "money_string_opt")]
    pub asked: Option<Decimal>,
    /// What the gateway computed.
    #[serde(serialize_with = "money_string")]
    pub computed: Decimal,
    /// What is paid.
    #[serde(serialize_with = "money_string")]
    pub paid: Decimal,
    /// `INVOICE_MISMATCH`, `INVOICE_BELOW_COMPUTED`, or `null`.
    pub code: Option<String>,
}

/// [`money_string`] or `null`.
pub fn money_string_opt<S: Serializer>(
    amount: &Option<Decimal>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match amount {
        Some(amount) => serializer.serialize_str(&format_money(*amount)),
        None => serializer.serialize_none(),
    }
}

/// Matches a SAAD's own INVOICE (already read, without problems) to the
/// gateway's invoice of the same SAAD, month, aid type and kind (rules.md
/// R9) and applies it: each plan line asking more than computed is cut back
/// (`INVOICE_MISMATCH`), asking less is paid as asked
/// (`INVOICE_BELOW_COMPUTED`), omitted stays as computed; the invoice moves
/// to `saad_validated` with the paid amounts as its amounts due, in one
/// transaction (compare-and-set from `proforma`). The matched lines are
/// kept for the rejection notice.
///
/// 404 when no invoice of the gateway matches; 409 when the matching
/// invoice is no longer a pro-forma (already validated, final, paid);
/// 422 when the aid type cannot be told.
pub async fn submit_saad_invoice(
    store: &Store,
    saad_siret: &str,
    message: &crate::xml::invoice::InvoiceMessage,
    asked: &[(String, Decimal)],
    now: DateTime<Utc>,
) -> Result<SaadInvoiceAnswer, InvoiceError> {
    use crate::domain::invoice_match::match_invoice;
    use crate::storage::SaadInvoiceLineRecord;

    let month = message.month.ok_or_else(|| {
        InvoiceError::Unprocessable(
            "the invoice names no billed month (delivery period start)".into(),
        )
    })?;
    let kind = match message.kind {
        Some(crate::xml::invoice::InvoiceKind::Regularisation) => InvoiceKind::Regularisation,
        _ => InvoiceKind::Proforma,
    };
    let mut aid_types: Vec<AidType> = message
        .lines
        .iter()
        .filter_map(|l| l.aid_type.as_deref())
        .filter_map(|code| code.trim().parse::<AidType>().ok())
        .collect();
    aid_types.sort();
    aid_types.dedup();
    if aid_types.len() > 1 {
        return Err(InvoiceError::Unprocessable(
            "the invoice mixes aid types: send one invoice per aid type".into(),
        ));
    }
    let candidates: Vec<InvoiceRecord> = store
        .list_invoices(month, Some(saad_siret))
        .await?
        .into_iter()
        .filter(|i| i.kind == kind && aid_types.first().is_none_or(|a| *a == i.aid_type))
        .collect();
    if candidates.is_empty() {
        return Err(InvoiceError::NotFound);
    }
    let distinct_aid: std::collections::BTreeSet<AidType> =
        candidates.iter().map(|i| i.aid_type).collect();
    if distinct_aid.len() > 1 {
        return Err(InvoiceError::Unprocessable(
            "the invoice's lines name no aid type and the SAAD has invoices of several aid types for this month".into(),
        ));
    }
    // The newest pro-forma (several regularisations of one month may exist).
    let Some(target) = candidates
        .iter()
        .filter(|i| i.status == InvoiceStatus::Proforma)
        .max_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)))
    else {
        let newest = candidates
            .iter()
            .max_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)))
            .ok_or(InvoiceError::NotFound)?;
        return Err(InvoiceError::Conflict(format!(
            "invoice {} is {}: a SAAD invoice is matched only to a pro-forma not yet validated",
            newest.id,
            status_code(newest.status)
        )));
    };
    let (record, lines) = get_invoice(store, &target.id, Some(saad_siret)).await?;
    let computed: Vec<(String, Decimal)> = lines
        .iter()
        .map(|l| (l.plan_ref.clone(), l.amount_due))
        .collect();
    let matched = match_invoice(&computed, asked);
    let mut paid_lines = Vec::new();
    let mut total = Decimal::ZERO;
    for line in &lines {
        if let Some(m) = matched.iter().find(|m| m.plan_ref == line.plan_ref) {
            total += m.paid;
            if m.paid != line.amount_due {
                paid_lines.push((line.line_no, m.paid));
            }
        }
    }
    let beneficiary_of = |plan: &str| {
        lines
            .iter()
            .find(|l| l.plan_ref == plan)
            .map(|l| l.beneficiary_id.clone())
            .or_else(|| {
                message
                    .lines
                    .iter()
                    .find(|l| l.plan_ref.as_deref() == Some(plan))
                    .and_then(|l| l.beneficiary_id.clone())
            })
    };
    let records: Vec<SaadInvoiceLineRecord> = matched
        .iter()
        .map(|m| SaadInvoiceLineRecord {
            invoice_id: record.id.clone(),
            saad_siret: saad_siret.to_owned(),
            month,
            saad_invoice_id: message.id.clone(),
            plan_ref: m.plan_ref.clone(),
            beneficiary_id: beneficiary_of(&m.plan_ref),
            asked: m.asked,
            computed: m.computed,
            paid: m.paid,
            code: m.code.map(|c| c.code().to_owned()),
            received_at: now,
        })
        .collect();
    if !store
        .apply_saad_invoice(&record.id, &paid_lines, total, &records, now)
        .await?
    {
        return Err(InvoiceError::Conflict(format!(
            "invoice {} changed status meanwhile (a concurrent validation)",
            record.id
        )));
    }
    Ok(SaadInvoiceAnswer {
        invoice_id: record.id,
        lines: matched
            .into_iter()
            .map(|m| SaadInvoiceAnswerLine {
                plan_ref: m.plan_ref,
                asked: m.asked,
                computed: m.computed,
                paid: m.paid,
                code: m.code.map(|c| c.code().to_owned()),
            })
            .collect(),
    })
}
