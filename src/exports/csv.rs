//! Liquidation file: one CSV row per invoice, for the département's finance
//! software, which emits the mandates itself (rules-reference.md §8, item 1).
//!
//! Format (docs/payment-files.md): UTF-8 without BOM, `;` separator, CRLF
//! line ends, a header row, fields quoted only when needed; amounts with
//! two decimals and a decimal comma (`-12,50`), as French finance software
//! and a French spreadsheet read them.

use super::ExportError;
use super::model::{BatchExport, PaymentExport};
use super::pain001::end_to_end_id;
use super::text::{amount_2dp, single_line};
use super::validate::check_batch;

/// The header row, in column order (documented in docs/payment-files.md).
pub const CSV_COLUMNS: [&str; 13] = [
    "saad_siret",
    "saad_name",
    "iban",
    "bic",
    "aid_type",
    "month",
    "invoice_id",
    "invoice_kind",
    "amount",
    "imputation_nature",
    "imputation_fonction",
    "payment_id",
    "batch_id",
];

/// Writes the liquidation CSV of a batch.
///
/// # Errors
/// Any [`ExportError`] of [`check_batch`]; [`ExportError::Write`] if the CSV
/// writer fails (not expected in memory).
pub fn liquidation_csv(batch: &BatchExport) -> Result<Vec<u8>, ExportError> {
    let checked = check_batch(batch)?;
    let fail = |e: ::csv::Error| ExportError::Write {
        file: "liquidation CSV",
        message: e.to_string(),
    };
    let mut writer = ::csv::WriterBuilder::new()
        .delimiter(b';')
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    writer.write_record(CSV_COLUMNS).map_err(fail)?;
    for (payment, iban) in batch.payments.iter().zip(&checked.ibans) {
        write_payment(batch, payment, iban, &mut writer).map_err(fail)?;
    }
    writer.into_inner().map_err(|e| ExportError::Write {
        file: "liquidation CSV",
        message: e.to_string(),
    })
}

fn write_payment(
    batch: &BatchExport,
    payment: &PaymentExport,
    iban: &str,
    writer: &mut ::csv::Writer<Vec<u8>>,
) -> Result<(), ::csv::Error> {
    let saad = &payment.saad;
    let name = single_line(&saad.name);
    let payment_id = end_to_end_id(&batch.id, &saad.siret);
    for invoice in &payment.invoices {
        let (nature, fonction) = batch
            .financer
            .imputation(invoice.aid_type)
            .map_or(("", ""), |i| (i.nature.as_str(), i.fonction.as_str()));
        let month = invoice.month.to_string();
        let amount = amount_2dp(invoice.amount).replace('.', ",");
        writer.write_record([
            saad.siret.as_str(),
            name.as_str(),
            iban,
            saad.bic.as_str(),
            invoice.aid_type.code(),
            month.as_str(),
            invoice.id.as_str(),
            invoice.kind.code(),
            amount.as_str(),
            nature,
            fonction,
            payment_id.as_str(),
            batch.id.as_str(),
        ])?;
    }
    Ok(())
}
