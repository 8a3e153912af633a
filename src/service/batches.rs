//! Payment batches (api.md `POST /api/v1/batches`, rules.md R9): every
//! final, unpaid invoice, one payment per SAAD whose net is positive. A SAAD
//! whose net is zero or negative gets no payment: its invoices stay final
//! and unpaid for the next batch. A batch is immutable once issued.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Europe::Paris;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::types::YearMonth;
use crate::storage::{
    BatchPaymentRecord, InvoiceRecord, InvoiceStatus, PaymentBatchRecord, Store, StoreError,
};

use super::invoices::money_string;

/// How many months back a batch looks for final unpaid invoices (storage
/// offers no query by status across months).
pub const BATCH_LOOKBACK_MONTHS: u32 = 36;

/// Why a batch could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// No final unpaid invoice with a positive net (409).
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// api.md PaymentBatch payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    /// SAAD.
    pub saad_siret: String,
    /// IBAN.
    pub iban: String,
    /// BIC.
    pub bic: String,
    /// Net paid.
    #[serde(serialize_with = "money_string")]
    pub amount: Decimal,
    /// Invoices paid.
    pub invoice_ids: Vec<String>,
}

/// api.md PaymentBatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentBatch {
    /// Id.
    pub id: String,
    /// RFC 3339, Europe/Paris offset.
    pub created_at: String,
    /// Always `issued`.
    pub status: &'static str,
    /// Sum of the payments.
    #[serde(serialize_with = "money_string")]
    pub total: Decimal,
    /// Payments.
    pub payments: Vec<Payment>,
}

impl From<&PaymentBatchRecord> for PaymentBatch {
    fn from(r: &PaymentBatchRecord) -> Self {
        Self {
            id: r.id.clone(),
            created_at: r
                .created_at
                .with_timezone(&Paris)
                .to_rfc3339_opts(SecondsFormat::Secs, false),
            status: "issued",
            total: r.total,
            payments: r
                .payments
                .iter()
                .map(|p| Payment {
                    saad_siret: p.saad_siret.clone(),
                    iban: p.iban.clone(),
                    bic: p.bic.clone(),
                    amount: p.amount,
                    invoice_ids: p.invoice_ids.clone(),
                })
                .collect(),
        }
    }
}

/// Every final invoice not in a batch, from `BATCH_LOOKBACK_MONTHS` before
/// `now`'s month to `now`'s month.
pub async fn final_unpaid(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<InvoiceRecord>, StoreError> {
    let last = YearMonth::of(now.with_timezone(&Paris).date_naive());
    let mut month = last;
    for _ in 0..BATCH_LOOKBACK_MONTHS {
        month = month.previous();
    }
    let mut out = Vec::new();
    loop {
        out.extend(
            store
                .list_invoices(month, None)
                .await?
                .into_iter()
                .filter(|i| i.status == InvoiceStatus::Final && i.batch_id.is_none()),
        );
        if month >= last {
            break;
        }
        month = month.next();
    }
    Ok(out)
}

/// Issues a batch of every final, unpaid invoice (409 when there is none to pay).
pub async fn create_batch(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<PaymentBatchRecord, BatchError> {
    let mut per_saad: BTreeMap<String, Vec<InvoiceRecord>> = BTreeMap::new();
    for invoice in final_unpaid(store, now).await? {
        per_saad
            .entry(invoice.saad_siret.clone())
            .or_default()
            .push(invoice);
    }
    let mut payments = Vec::new();
    for (siret, invoices) in per_saad {
        let net: Decimal = invoices.iter().map(|i| i.amount_due).sum();
        if net <= Decimal::ZERO {
            continue;
        }
        let saad = store
            .get_saad(&siret)
            .await?
            .ok_or_else(|| StoreError::corrupt(format!("SAAD {siret} of an invoice is gone")))?;
        payments.push(BatchPaymentRecord {
            saad_siret: siret,
            iban: saad.iban,
            bic: saad.bic,
            amount: net,
            invoice_ids: invoices.into_iter().map(|i| i.id).collect(),
        });
    }
    if payments.is_empty() {
        return Err(BatchError::Conflict(
            "there is no final, unpaid invoice with a positive net to pay".to_owned(),
        ));
    }
    let batch = PaymentBatchRecord {
        id: format!(
            "BATCH-{}-{:08x}",
            now.format("%Y%m%d%H%M%S"),
            rand::random::<u32>()
        ),
        created_at: now,
        total: payments.iter().map(|p| p.amount).sum(),
        payments,
    };
    store.insert_payment_batch(&batch).await?;
    Ok(batch)
}
