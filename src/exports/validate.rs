//! The checks every writer runs before writing a byte (module docs of
//! [`super`]): a refused batch yields an [`ExportError`], never a partial file.

use std::collections::BTreeSet;

use rust_decimal::Decimal;

use super::ExportError;
use super::model::BatchExport;
use super::text::{check_bic, is_in_cents, parse_iban, single_line};

/// Maximum length of a batch id (so that `{id}-{SIRET}` fits in 35 characters).
pub const BATCH_ID_MAX: usize = 20;

/// A batch that passed [`check_batch`], with what the checks computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedBatch {
    /// Sum of the payments (= sum of the invoices).
    pub total: Decimal,
    /// Each payment's IBAN in electronic format, in payment order.
    pub ibans: Vec<String>,
}

/// Checks a batch: the rules in the module docs of [`super`].
///
/// # Errors
/// The first [`ExportError`] found, in payment and invoice order.
pub fn check_batch(batch: &BatchExport) -> Result<CheckedBatch, ExportError> {
    let id_ok = (1..=BATCH_ID_MAX).contains(&batch.id.len())
        && batch
            .id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !id_ok {
        return Err(ExportError::UnfitBatchId {
            batch_id: batch.id.clone(),
        });
    }
    if batch.payments.is_empty() {
        return Err(ExportError::EmptyBatch {
            batch_id: batch.id.clone(),
        });
    }
    let mut payees = BTreeSet::new();
    let mut invoice_ids = BTreeSet::new();
    let mut ibans = Vec::with_capacity(batch.payments.len());
    let mut total = Decimal::ZERO;
    for payment in &batch.payments {
        let saad = &payment.saad;
        let siret = &saad.siret;
        if !payees.insert(siret) {
            return Err(ExportError::DuplicatePayee {
                siret: siret.clone(),
            });
        }
        if single_line(&saad.name).is_empty() {
            return Err(ExportError::InvalidText {
                what: format!("name of SAAD {siret}"),
                value: saad.name.clone(),
                reason: "must not be empty".to_owned(),
            });
        }
        let iban = parse_iban(&saad.iban).map_err(|reason| ExportError::InvalidIban {
            siret: siret.clone(),
            reason,
        })?;
        check_bic(&saad.bic).map_err(|reason| ExportError::InvalidBic {
            siret: siret.clone(),
            reason,
        })?;
        ibans.push(iban);
        if let Some(address) = &saad.address {
            let country_ok = address.country.len() == 2
                && address.country.bytes().all(|b| b.is_ascii_uppercase());
            if single_line(&address.city).is_empty() || !country_ok {
                return Err(ExportError::InvalidText {
                    what: format!("address of SAAD {siret}"),
                    value: format!(
                        "{}, {} {}, {}",
                        address.line1, address.postcode, address.city, address.country
                    ),
                    reason:
                        "needs a town and an ISO 3166 alpha-2 country (SEPA structured address)"
                            .to_owned(),
                });
            }
        }
        if !is_in_cents(payment.amount) {
            return Err(ExportError::NotInCents {
                what: format!("payment to SAAD {siret}"),
                amount: payment.amount,
            });
        }
        let mut invoices_total = Decimal::ZERO;
        for invoice in &payment.invoices {
            check_invoice(batch, invoice, &mut invoice_ids)?;
            invoices_total += invoice.amount;
        }
        if payment.amount <= Decimal::ZERO {
            return Err(ExportError::NonPositivePayment {
                siret: siret.clone(),
                amount: payment.amount,
            });
        }
        if invoices_total != payment.amount {
            return Err(ExportError::PaymentMismatch {
                siret: siret.clone(),
                amount: payment.amount,
                invoices_total,
            });
        }
        total += payment.amount;
    }
    Ok(CheckedBatch { total, ibans })
}

fn check_invoice<'a>(
    batch: &BatchExport,
    invoice: &'a super::model::InvoiceExport,
    seen: &mut BTreeSet<&'a str>,
) -> Result<(), ExportError> {
    let id_ok = (1..=35).contains(&invoice.id.chars().count())
        && single_line(&invoice.id) == invoice.id
        && !invoice.id.contains(' ');
    if !id_ok {
        return Err(ExportError::InvalidText {
            what: "invoice id".to_owned(),
            value: invoice.id.clone(),
            reason: "must be 1 to 35 characters without spaces or control characters".to_owned(),
        });
    }
    if !seen.insert(invoice.id.as_str()) {
        return Err(ExportError::DuplicateInvoice {
            invoice_id: invoice.id.clone(),
        });
    }
    if batch.financer.imputation(invoice.aid_type).is_none() {
        return Err(ExportError::MissingImputation {
            aid_type: invoice.aid_type,
        });
    }
    if !is_in_cents(invoice.amount) {
        return Err(ExportError::NotInCents {
            what: format!("invoice {}", invoice.id),
            amount: invoice.amount,
        });
    }
    if invoice.lines.is_empty() {
        return Err(ExportError::EmptyInvoice {
            invoice_id: invoice.id.clone(),
        });
    }
    let mut lines_total = Decimal::ZERO;
    for line in &invoice.lines {
        if !is_in_cents(line.amount) {
            return Err(ExportError::NotInCents {
                what: format!("line {} of invoice {}", line.plan_ref, invoice.id),
                amount: line.amount,
            });
        }
        lines_total += line.amount;
    }
    if lines_total != invoice.amount {
        return Err(ExportError::InvoiceMismatch {
            invoice_id: invoice.id.clone(),
            amount: invoice.amount,
            lines_total,
        });
    }
    Ok(())
}
