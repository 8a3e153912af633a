//! Payment batches (api.md `POST /api/v1/batches`, rules.md R9): every
//! final, unpaid invoice, one payment per SAAD whose net is positive. A SAAD
//! whose net is zero or negative gets no payment: its invoices stay final
//! and unpaid for the next batch. A batch is immutable once issued.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Europe::Paris;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::storage::{BatchPaymentRecord, InvoiceRecord, PaymentBatchRecord, Store, StoreError};

use super::invoices::money_string;

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

/// Every final invoice not in a batch, whatever its month (one query).
pub async fn final_unpaid(store: &Store) -> Result<Vec<InvoiceRecord>, StoreError> {
    store.final_unpaid_invoices().await
}

/// Issues a batch of every final, unpaid invoice (409 when there is none to pay).
pub async fn create_batch(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<PaymentBatchRecord, BatchError> {
    let mut per_saad: BTreeMap<String, Vec<InvoiceRecord>> = BTreeMap::new();
    for invoice in final_unpaid(store).await? {
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
        // 20 characters at most (pain.001 MsgId): `B20240201080000-1a2b`.
        id: format!(
            "B{}-{:04x}",
            now.format("%Y%m%d%H%M%S"),
            rand::random::<u16>()
        ),
        created_at: now,
        total: payments.iter().map(|p| p.amount).sum(),
        payments,
    };
    store.insert_payment_batch(&batch).await?;
    Ok(batch)
}

/// Why a batch file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BatchFileError {
    /// No such batch (404).
    #[error("no such payment batch")]
    NotFound,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `charter/financer.toml` could not be read.
    #[error(transparent)]
    Config(#[from] crate::charter::CharterError),
    /// The export refused the batch.
    #[error(transparent)]
    Export(#[from] crate::exports::ExportError),
}

/// Which file of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchFile {
    /// Liquidation CSV.
    Csv,
    /// PES V2.
    Pes,
    /// ISO 20022 pain.001.001.09.
    Pain001,
}

/// Writes a file of an issued batch. Deterministic: the PES numbering is
/// recomputed from the earlier batches of the same fiscal year (Paris year
/// of `created_at`): one bordereau per aid type, one piece per invoice.
pub async fn batch_file(
    store: &Store,
    financer: crate::exports::FinancerConfig,
    id: &str,
    file: BatchFile,
) -> Result<Vec<u8>, BatchFileError> {
    use crate::exports::{
        BatchExport, InvoiceExport, InvoiceKind as ExportKind, InvoiceLineExport, PaymentExport,
        PesNumbering, SaadPayee, liquidation_csv, pain001, pes_v2,
    };
    use chrono::Datelike;
    use std::collections::BTreeSet;

    let batches = store.list_payment_batches().await?;
    let Some(position) = batches.iter().position(|b| b.id == id) else {
        return Err(BatchFileError::NotFound);
    };
    let batch = &batches[position];
    let year = batch.created_at.with_timezone(&Paris).year();
    let mut numbering = PesNumbering {
        first_bordereau: 1,
        first_piece: 1,
        mandated_before: BTreeMap::new(),
    };
    for earlier in &batches[..position] {
        if earlier.created_at.with_timezone(&Paris).year() != year {
            continue;
        }
        let mut aid_types = BTreeSet::new();
        for invoice_id in earlier.payments.iter().flat_map(|p| &p.invoice_ids) {
            if let Some((invoice, _)) = store.get_invoice(invoice_id, None).await? {
                aid_types.insert(invoice.aid_type);
                *numbering
                    .mandated_before
                    .entry(invoice.aid_type)
                    .or_insert(Decimal::ZERO) += invoice.amount_due;
                numbering.first_piece += 1;
            }
        }
        numbering.first_bordereau += u32::try_from(aid_types.len()).unwrap_or(0);
    }
    let mut payments = Vec::new();
    for payment in &batch.payments {
        let saad = store
            .get_saad(&payment.saad_siret)
            .await?
            .ok_or(BatchFileError::Store(StoreError::NotFound))?;
        let mut invoices = Vec::new();
        for invoice_id in &payment.invoice_ids {
            let (invoice, lines) = store
                .get_invoice(invoice_id, None)
                .await?
                .ok_or(BatchFileError::Store(StoreError::NotFound))?;
            invoices.push(InvoiceExport {
                id: invoice.id.clone(),
                month: invoice.month,
                aid_type: invoice.aid_type,
                kind: match invoice.kind {
                    crate::storage::InvoiceKind::Proforma => ExportKind::Proforma,
                    crate::storage::InvoiceKind::Regularisation => ExportKind::Regularisation,
                },
                amount: invoice.amount_due,
                lines: lines
                    .iter()
                    .map(|l| InvoiceLineExport {
                        plan_ref: l.plan_ref.clone(),
                        beneficiary_id: l.beneficiary_id.clone(),
                        billed_minutes: l.billed_minutes,
                        amount: l.amount_due,
                    })
                    .collect(),
            });
        }
        payments.push(PaymentExport {
            saad: SaadPayee {
                siret: saad.siret.clone(),
                name: saad.name.clone(),
                iban: payment.iban.clone(),
                bic: payment.bic.clone(),
                legal_category: saad.legal_category.clone(),
                account_holder: saad.account_holder.clone(),
                address: saad.address.clone(),
            },
            amount: payment.amount,
            invoices,
        });
    }
    let export = BatchExport {
        id: batch.id.clone(),
        created_at: batch.created_at,
        requested_execution_date: batch.created_at.with_timezone(&Paris).date_naive(),
        financer,
        pes_numbering: numbering,
        payments,
    };
    Ok(match file {
        BatchFile::Csv => liquidation_csv(&export)?,
        BatchFile::Pes => pes_v2(&export)?,
        BatchFile::Pain001 => pain001(&export)?,
    })
}
