//! ISO 20022 `pain.001.001.09` customer credit transfer initiation, SEPA
//! profile (rules-reference.md §8, item 3): one group header, one payment
//! information block debiting the financer's account, one transaction per
//! SAAD payment. Generated files are validated against the official XSD in
//! `schemas/iso20022/` by `tests/exports_pain001.rs`.

use chrono::SecondsFormat;

use crate::domain::model::Address;
use crate::domain::types::Siret;

use super::ExportError;
use super::config::StructuredAddress;
use super::model::{BatchExport, PaymentExport};
use super::text::{amount_2dp, single_line, truncate_chars};
use super::validate::check_batch;
use super::xml::XmlOut;

/// Namespace of the generated document.
pub const PAIN001_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";

/// Longest name written (EPC SEPA rulebook: 70, though the XSD allows 140).
pub const NAME_MAX: usize = 70;
/// Longest unstructured remittance information.
pub const REMITTANCE_MAX: usize = 140;

/// The `EndToEndId` of a SAAD's payment in a batch: `{batch id}-{SIRET}`
/// (≤ 35 characters since the batch id is ≤ 20). The SAAD's bank returns
/// it with the transfer; the liquidation CSV carries it as `payment_id`.
pub fn end_to_end_id(batch_id: &str, siret: &Siret) -> String {
    format!("{batch_id}-{siret}")
}

/// The unstructured remittance information of a payment: the financer's id,
/// then as many invoice ids as fit in 140 characters, then `+N` for the
/// invoices left out: `CD99 factures F-2024-01-001 F-2024-01-002 +3`.
pub fn remittance(financer_id: &str, invoice_ids: &[&str]) -> String {
    let mut text = format!("{financer_id} factures");
    let total = invoice_ids.len();
    let mut written = 0;
    for (index, id) in invoice_ids.iter().enumerate() {
        let left_after = total - index - 1;
        let suffix = if left_after > 0 {
            format!(" +{left_after}")
        } else {
            String::new()
        };
        let candidate_len = text.chars().count() + 1 + id.chars().count() + suffix.chars().count();
        if candidate_len > REMITTANCE_MAX {
            break;
        }
        text.push(' ');
        text.push_str(id);
        written += 1;
    }
    if written < total {
        text.push_str(&format!(" +{}", total - written));
    }
    truncate_chars(&text, REMITTANCE_MAX).to_owned()
}

/// Writes the pain.001.001.09 file of a batch.
///
/// # Errors
/// Any [`ExportError`] of [`check_batch`] (invalid IBAN, non-positive
/// payment, totals that do not add up…).
pub fn pain001(batch: &BatchExport) -> Result<Vec<u8>, ExportError> {
    let checked = check_batch(batch)?;
    let financer = &batch.financer;
    let count = batch.payments.len().to_string();
    let control_sum = amount_2dp(checked.total);
    let mut x = XmlOut::new("pain.001 file", 1500 + 1200 * batch.payments.len())?;
    x.open_with("Document", &[("xmlns", PAIN001_NAMESPACE)])?;
    x.open("CstmrCdtTrfInitn")?;

    x.open("GrpHdr")?;
    x.text("MsgId", &batch.id)?;
    x.text(
        "CreDtTm",
        &batch.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    )?;
    x.text("NbOfTxs", &count)?;
    x.text("CtrlSum", &control_sum)?;
    x.open("InitgPty")?;
    x.text("Nm", truncate_chars(&single_line(&financer.name), NAME_MAX))?;
    organisation_id(&mut x, &financer.siret)?;
    x.close("InitgPty")?;
    x.close("GrpHdr")?;

    x.open("PmtInf")?;
    x.text("PmtInfId", &batch.id)?;
    x.text("PmtMtd", "TRF")?;
    x.text("NbOfTxs", &count)?;
    x.text("CtrlSum", &control_sum)?;
    x.open("PmtTpInf")?;
    x.open("SvcLvl")?;
    x.text("Cd", "SEPA")?;
    x.close("SvcLvl")?;
    x.close("PmtTpInf")?;
    x.open("ReqdExctnDt")?;
    x.text(
        "Dt",
        &batch
            .requested_execution_date
            .format("%Y-%m-%d")
            .to_string(),
    )?;
    x.close("ReqdExctnDt")?;
    x.open("Dbtr")?;
    x.text(
        "Nm",
        truncate_chars(&single_line(&financer.debtor.name), NAME_MAX),
    )?;
    debtor_address(&mut x, &financer.debtor.address)?;
    organisation_id(&mut x, &financer.siret)?;
    x.close("Dbtr")?;
    account(&mut x, "DbtrAcct", &financer.debtor.iban)?;
    agent(&mut x, "DbtrAgt", &financer.debtor.bic)?;
    x.text("ChrgBr", "SLEV")?;
    for (payment, iban) in batch.payments.iter().zip(&checked.ibans) {
        transaction(&mut x, batch, payment, iban)?;
    }
    x.close("PmtInf")?;

    x.close("CstmrCdtTrfInitn")?;
    x.close("Document")?;
    Ok(x.finish())
}

fn transaction(
    x: &mut XmlOut,
    batch: &BatchExport,
    payment: &PaymentExport,
    iban: &str,
) -> Result<(), ExportError> {
    let saad = &payment.saad;
    x.open("CdtTrfTxInf")?;
    x.open("PmtId")?;
    x.text("EndToEndId", &end_to_end_id(&batch.id, &saad.siret))?;
    x.close("PmtId")?;
    x.open("Amt")?;
    x.text_with("InstdAmt", &[("Ccy", "EUR")], &amount_2dp(payment.amount))?;
    x.close("Amt")?;
    agent(x, "CdtrAgt", &saad.bic)?;
    x.open("Cdtr")?;
    x.text("Nm", truncate_chars(&single_line(saad.holder()), NAME_MAX))?;
    if let Some(address) = &saad.address {
        creditor_address(x, address)?;
    }
    x.close("Cdtr")?;
    account(x, "CdtrAcct", iban)?;
    let ids: Vec<&str> = payment.invoices.iter().map(|i| i.id.as_str()).collect();
    x.open("RmtInf")?;
    x.text("Ustrd", &remittance(&batch.financer.id, &ids))?;
    x.close("RmtInf")?;
    x.close("CdtTrfTxInf")
}

fn organisation_id(x: &mut XmlOut, siret: &Siret) -> Result<(), ExportError> {
    x.open("Id")?;
    x.open("OrgId")?;
    x.open("Othr")?;
    x.text("Id", siret.as_str())?;
    x.open("SchmeNm")?;
    x.text("Prtry", "SIRET")?;
    x.close("SchmeNm")?;
    x.close("Othr")?;
    x.close("OrgId")?;
    x.close("Id")
}

fn account(x: &mut XmlOut, element: &str, iban: &str) -> Result<(), ExportError> {
    x.open(element)?;
    x.open("Id")?;
    x.text("IBAN", iban)?;
    x.close("Id")?;
    x.close(element)
}

fn agent(x: &mut XmlOut, element: &str, bic: &str) -> Result<(), ExportError> {
    x.open(element)?;
    x.open("FinInstnId")?;
    x.text("BICFI", bic)?;
    x.close("FinInstnId")?;
    x.close(element)
}

/// Writes an optional text element, skipped when empty (the XSD's texts are
/// at least one character long), truncated to `max` characters.
fn optional(x: &mut XmlOut, element: &str, text: &str, max: usize) -> Result<(), ExportError> {
    let text = single_line(text);
    if text.is_empty() {
        return Ok(());
    }
    x.text(element, truncate_chars(&text, max))
}

fn debtor_address(x: &mut XmlOut, address: &StructuredAddress) -> Result<(), ExportError> {
    x.open("PstlAdr")?;
    optional(x, "StrtNm", &address.street_name, 70)?;
    if let Some(number) = &address.building_number {
        optional(x, "BldgNb", number, 16)?;
    }
    optional(x, "PstCd", &address.postcode, 16)?;
    optional(x, "TwnNm", &address.town, 35)?;
    x.text("Ctry", &address.country)?;
    x.close("PstlAdr")
}

/// A SAAD's address as a structured address: the street line as `StrtNm`
/// (the building number is not split out of it), postcode, town, country.
/// [`check_batch`] has ensured that town and country are present.
fn creditor_address(x: &mut XmlOut, address: &Address) -> Result<(), ExportError> {
    x.open("PstlAdr")?;
    optional(x, "StrtNm", &address.line1, 70)?;
    optional(x, "PstCd", &address.postcode, 16)?;
    optional(x, "TwnNm", &address.city, 35)?;
    x.text("Ctry", &address.country)?;
    x.close("PstlAdr")
}
