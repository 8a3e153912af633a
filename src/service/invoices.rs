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
    store.set_invoice_status(id, to, now).await?;
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
