//! PES V2 spending file (`PES_Aller` / `PES_DepenseAller`) for the DGFiP's
//! Hélios (rules-reference.md §8, item 2): one `Bordereau` per aid type, one
//! `Piece` (mandate) per invoice, one `LigneDePiece` per invoice line, each
//! line carrying its `Tiers` (the SAAD). Every value is a `V="…"` attribute.
//!
//! The official PES V2 XSD, field lengths and code lists were not available:
//! the skeleton follows what rules-reference.md §8 records, every code is
//! configuration (`charter/financer.toml`, [`PesConfig`](super::config::PesConfig)),
//! and docs/payment-files.md lists what could not be checked. A real file is
//! also signed (XAdES) and sent by a transmission operator, outside the gateway.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Europe::Paris;
use rust_decimal::Decimal;

use crate::domain::types::AidType;

use super::ExportError;
use super::config::{PieceCase, PieceCodes};
use super::model::{BatchExport, InvoiceExport, PaymentExport};
use super::text::{amount_2dp, single_line, truncate_chars};
use super::validate::check_batch;
use super::xml::XmlOut;

/// Namespace of `PES_Aller` (rules-reference.md §8).
pub const PES_NAMESPACE: &str = "http://www.minefi.gouv.fr/cp/helios/pes_v2/Rev0/aller";

/// Length of each transfer label, `LibVir1` and `LibVir2`, in characters.
pub const TRANSFER_LABEL_MAX: usize = 32;
/// Longest piece object (`Obj`) written: an assumption, the official length is not known.
pub const OBJECT_MAX: usize = 160;

/// The two transfer labels of an invoice's lines, each at most 32
/// characters (cut on a character boundary): `CD99 APA 2024-01` (plus
/// ` REGUL` for a regularisation) and `FACT <invoice id>`. They never name
/// a beneficiary: they are printed on the SAAD's bank statement.
pub fn transfer_labels(financer_id: &str, invoice: &InvoiceExport) -> (String, String) {
    let regul = match invoice.kind {
        super::model::InvoiceKind::Proforma => "",
        super::model::InvoiceKind::Regularisation => " REGUL",
    };
    let first = format!(
        "{financer_id} {} {}{regul}",
        invoice.aid_type, invoice.month
    );
    let second = format!("FACT {}", invoice.id);
    (
        truncate_chars(&first, TRANSFER_LABEL_MAX).to_owned(),
        truncate_chars(&second, TRANSFER_LABEL_MAX).to_owned(),
    )
}

/// Writes the PES V2 spending file of a batch.
///
/// # Errors
/// Any [`ExportError`] of [`check_batch`]; [`ExportError::MissingAddress`]
/// for a SAAD without postal address; [`ExportError::MissingPieceCodes`];
/// [`ExportError::NumberingOverflow`].
pub fn pes_v2(batch: &BatchExport) -> Result<Vec<u8>, ExportError> {
    let checked = check_batch(batch)?;
    for payment in &batch.payments {
        if payment.saad.address.is_none() {
            return Err(ExportError::MissingAddress {
                siret: payment.saad.siret.clone(),
            });
        }
    }
    let financer = &batch.financer;
    let pes = &financer.pes;
    let day: NaiveDate = batch.created_at.with_timezone(&Paris).date_naive();
    let day_text = day.format("%Y-%m-%d").to_string();
    let year = day.format("%Y").to_string();

    // Invoices grouped per aid type, in payment then invoice order.
    let mut by_aid: BTreeMap<AidType, Vec<(usize, &PaymentExport, &InvoiceExport)>> =
        BTreeMap::new();
    let mut line_count = 0usize;
    for (index, payment) in batch.payments.iter().enumerate() {
        for invoice in &payment.invoices {
            line_count += invoice.lines.len();
            by_aid
                .entry(invoice.aid_type)
                .or_default()
                .push((index, payment, invoice));
        }
    }

    let mut x = XmlOut::new("PES V2 file", 2000 + 1400 * line_count)?;
    x.open_with("PES_Aller", &[("xmlns", PES_NAMESPACE)])?;
    x.open("Enveloppe")?;
    x.open("Parametres")?;
    x.v("Version", &pes.version)?;
    x.v("TypFic", &pes.typ_fic)?;
    x.v("NomFic", &format!("PES_{}_{}.xml", financer.id, batch.id))?;
    x.close("Parametres")?;
    x.open("Emetteur")?;
    x.v("Sigle", &pes.emetteur)?;
    x.close("Emetteur")?;
    x.open("Recepteur")?;
    x.v("Sigle", &pes.recepteur)?;
    x.close("Recepteur")?;
    x.close("Enveloppe")?;

    x.open("EnTetePES")?;
    x.v("DteStr", &day_text)?;
    x.v("IdPost", &pes.id_post)?;
    x.v("IdColl", financer.siret.as_str())?;
    x.v("CodCol", &pes.cod_col)?;
    x.v("CodBud", &pes.cod_bud)?;
    x.v("LibelleColBud", &pes.libelle_col_bud)?;
    x.close("EnTetePES")?;

    x.open("PES_DepenseAller")?;
    x.open("EnTeteDepense")?;
    x.v("IdVer", &pes.id_ver)?;
    x.v("InfoDematerialisee", &pes.info_dematerialisee)?;
    x.close("EnTeteDepense")?;

    // Each SAAD's Tiers block is written once by quick-xml and repeated in
    // every line of its pieces.
    let mut tiers_blocks = Vec::with_capacity(batch.payments.len());
    for (payment, iban) in batch.payments.iter().zip(&checked.ibans) {
        let mut fragment = XmlOut::fragment("PES V2 file");
        write_tiers(&mut fragment, batch, payment, iban)?;
        tiers_blocks.push(fragment.into_fragment());
    }

    let mut bordereau_number = batch.pes_numbering.first_bordereau.max(1);
    let mut piece_number = batch.pes_numbering.first_piece.max(1);
    for (position, (aid_type, invoices)) in by_aid.iter().enumerate() {
        if position > 0 {
            bordereau_number = bordereau_number
                .checked_add(1)
                .ok_or(ExportError::NumberingOverflow)?;
        }
        let imputation = financer
            .imputation(*aid_type)
            .ok_or(ExportError::MissingImputation {
                aid_type: *aid_type,
            })?;
        let amount: Decimal = invoices.iter().map(|(_, _, i)| i.amount).sum();
        let before = batch
            .pes_numbering
            .mandated_before
            .get(aid_type)
            .copied()
            .unwrap_or(Decimal::ZERO);
        x.open("Bordereau")?;
        x.open("BlocBordereau")?;
        x.v("Exer", &year)?;
        x.v("IdBord", &bordereau_number.to_string())?;
        x.v("DteBordEm", &day_text)?;
        x.v("TypBord", &pes.typ_bord)?;
        x.v("NbrPce", &invoices.len().to_string())?;
        x.v("MtCumulAnnuel", &amount_2dp(before + amount))?;
        x.v("MtBordHT", &amount_2dp(amount))?;
        x.close("BlocBordereau")?;
        for (payment_index, payment, invoice) in invoices {
            let codes = piece_codes(batch, invoice)?;
            let tiers = tiers_blocks.get(*payment_index).ok_or(ExportError::Write {
                file: "PES V2 file",
                message: "internal: payment without Tiers block".to_owned(),
            })?;
            let piece = Piece {
                number: piece_number,
                codes,
                nature: &imputation.nature,
                fonction: &imputation.fonction,
                tiers,
            };
            write_piece(&mut x, batch, payment, invoice, &piece)?;
            piece_number = piece_number
                .checked_add(1)
                .ok_or(ExportError::NumberingOverflow)?;
        }
        x.close("Bordereau")?;
    }
    x.close("PES_DepenseAller")?;
    x.close("PES_Aller")?;
    Ok(x.finish())
}

struct Piece<'a> {
    number: u32,
    codes: &'a PieceCodes,
    nature: &'a str,
    fonction: &'a str,
    tiers: &'a [u8],
}

fn piece_codes<'a>(
    batch: &'a BatchExport,
    invoice: &InvoiceExport,
) -> Result<&'a PieceCodes, ExportError> {
    let case = PieceCase::of(invoice.kind, invoice.amount);
    batch
        .financer
        .pes
        .pieces
        .get(&case)
        .ok_or(ExportError::MissingPieceCodes { case: case.key() })
}

fn write_piece(
    x: &mut XmlOut,
    batch: &BatchExport,
    payment: &PaymentExport,
    invoice: &InvoiceExport,
    piece: &Piece<'_>,
) -> Result<(), ExportError> {
    let saad = &payment.saad;
    let name = single_line(&saad.name);
    let object = format!(
        "{} {} {} facture {} {}",
        invoice.aid_type,
        invoice.month,
        invoice.kind.code(),
        invoice.id,
        name
    );
    x.open("Piece")?;
    x.open("BlocPiece")?;
    x.open("InfoPce")?;
    x.v("IdPce", &piece.number.to_string())?;
    x.v("TypPce", &piece.codes.typ_pce)?;
    x.v("NatPce", &piece.codes.nat_pce)?;
    x.v("Obj", truncate_chars(&object, OBJECT_MAX))?;
    x.open("PJRef")?;
    x.v("Support", &batch.financer.pes.pj_support)?;
    x.v("IdUnique", &invoice.id)?;
    x.v("NomPJ", &format!("{}.xml", invoice.id))?;
    x.close("PJRef")?;
    x.close("InfoPce")?;
    x.close("BlocPiece")?;
    let (label1, label2) = transfer_labels(&batch.financer.id, invoice);
    for (index, line) in invoice.lines.iter().enumerate() {
        x.open("LigneDePiece")?;
        x.open("BlocLignePiece")?;
        x.open("InfoLignePce")?;
        x.v("IdLigne", &(index + 1).to_string())?;
        x.v("Nature", piece.nature)?;
        x.v("Fonction", piece.fonction)?;
        x.v("LibVir1", &label1)?;
        x.v("LibVir2", &label2)?;
        x.v("ModRegl", &batch.financer.pes.mod_regl)?;
        x.v("MtHT", &amount_2dp(line.amount))?;
        x.close("InfoLignePce")?;
        x.close("BlocLignePiece")?;
        x.splice(piece.tiers, TIERS_DEPTH);
        x.close("LigneDePiece")?;
    }
    x.close("Piece")
}

/// Nesting of `Tiers`: PES_Aller > PES_DepenseAller > Bordereau > Piece > LigneDePiece > Tiers.
const TIERS_DEPTH: usize = 5;

fn write_tiers(
    x: &mut XmlOut,
    batch: &BatchExport,
    payment: &PaymentExport,
    iban: &str,
) -> Result<(), ExportError> {
    let saad = &payment.saad;
    let name = single_line(&saad.name);
    let pes = &batch.financer.pes;
    x.open("Tiers")?;
    x.open("InfoTiers")?;
    x.v("IdTiers", saad.siret.as_str())?;
    x.v("TypIdTiers", &pes.tiers.typ_id_tiers_siret)?;
    x.v("TypTiers", &pes.tiers.typ_tiers)?;
    x.v("CatTiers", &pes.tiers.cat_tiers)?;
    x.v("NatJur", pes.nat_jur(saad.legal_category.as_deref()))?;
    x.v("Nom", &name)?;
    x.close("InfoTiers")?;
    if let Some(address) = &saad.address {
        x.open("Adresse")?;
        x.v("TypAdr", &pes.tiers.typ_adr)?;
        x.v("Adr1", &single_line(&address.line1))?;
        x.v("CP", &single_line(&address.postcode))?;
        x.v("Ville", &single_line(&address.city))?;
        x.v("CodPays", &address.country)?;
        x.close("Adresse")?;
    }
    x.open("CpteBancaire")?;
    x.v("BIC", &saad.bic)?;
    x.v("IBAN", iban)?;
    x.v("TitCpte", &single_line(saad.holder()))?;
    x.close("CpteBancaire")?;
    x.close("Tiers")
}
