//! The financer's identity and accounting configuration, read from
//! `charter/financer.toml`: everything the payment files need that is the
//! département's own (SIRET, PES identifiers, bank account, M57 imputations,
//! PES code lists). None of these values is written in code.
//!
//! Loading refuses unknown fields, malformed identifiers, an invalid debtor
//! IBAN or BIC, a missing or duplicated imputation; every refusal names the
//! file and the line, like [`crate::charter`]. Values marked
//! `confidence = "U"` are placeholders: they load (so that the demo and the
//! tests run) and are listed by [`FinancerConfig::placeholders`] so that the
//! caller can warn.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use crate::charter::CharterError;
use crate::domain::types::{AidType, Siret};

use super::model::InvoiceKind;
use super::text::{check_bic, parse_iban};

/// File, in the charter folder, holding the financer's configuration.
pub const FINANCER_FILE: &str = "financer.toml";

/// The financer's identity and accounting configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinancerConfig {
    /// Short identifier of the financer (e.g. `CD99`); starts every transfer label.
    pub id: String,
    /// Legal name (pain.001 initiating party).
    pub name: String,
    /// The département's SIRET (PES `IdColl`).
    pub siret: Siret,
    /// The account the transfers are paid from (pain.001 debtor).
    pub debtor: DebtorAccount,
    /// PES V2 identifiers and code lists.
    pub pes: PesConfig,
    /// M57 imputation for each aid type (every aid type has one).
    pub imputations: BTreeMap<AidType, Imputation>,
    /// Sections marked `confidence = "U"`, as `section (line N)`.
    placeholders: Vec<String>,
}

impl FinancerConfig {
    /// Sections still holding placeholder values (`confidence = "U"`), each
    /// as `section (file line N)`: the caller should warn while this is not empty.
    pub fn placeholders(&self) -> &[String] {
        &self.placeholders
    }

    /// The imputation of an aid type (always present once loaded).
    pub fn imputation(&self, aid_type: AidType) -> Option<&Imputation> {
        self.imputations.get(&aid_type)
    }

    /// Reads and checks `path` (normally `charter/financer.toml`).
    ///
    /// # Errors
    /// [`CharterError`] naming the file and the line of the faulty value.
    pub fn load(path: &Path) -> Result<Self, CharterError> {
        let text = fs::read_to_string(path).map_err(|e| CharterError {
            file: path.to_owned(),
            line: 0,
            message: format!("cannot read the financer configuration: {e}"),
        })?;
        Self::from_toml(path, &text)
    }

    /// Parses and checks the text of a financer file; `path` is only used in errors.
    ///
    /// # Errors
    /// [`CharterError`] naming `path` and the line of the faulty value.
    pub fn from_toml(path: &Path, text: &str) -> Result<Self, CharterError> {
        let fail_at = |offset: usize, message: String| CharterError {
            file: path.to_owned(),
            line: line_of(text, offset),
            message,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| CharterError {
            file: path.to_owned(),
            line: e.span().map_or(0, |span| line_of(text, span.start)),
            message: e.message().to_owned(),
        })?;
        let mut placeholders = Vec::new();
        let mut note = |section: &str, confidence: &Spanned<String>| -> Result<(), CharterError> {
            match confidence.get_ref().as_str() {
                "C" | "L" => Ok(()),
                "U" => {
                    placeholders.push(format!(
                        "{section} ({} line {})",
                        path.display(),
                        line_of(text, confidence.span().start)
                    ));
                    Ok(())
                }
                other => Err(fail_at(
                    confidence.span().start,
                    format!("{section}: confidence '{other}' must be C, L or U"),
                )),
            }
        };

        let financer = raw.financer;
        note("financer", &financer.confidence)?;
        let siret = Siret::parse(financer.siret.get_ref())
            .map_err(|e| fail_at(financer.siret.span().start, e.message))?;
        let id = non_empty(&financer.id, "financer.id", &fail_at)?;
        if !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
            || id.len() > 10
        {
            return Err(fail_at(
                financer.id.span().start,
                "financer.id must be 1 to 10 characters among A-Z, a-z, 0-9, '-' and '_' (it starts every transfer label)".to_owned(),
            ));
        }
        let name = non_empty(&financer.name, "financer.name", &fail_at)?;

        let debtor_raw = raw.debtor;
        note("debtor", &debtor_raw.confidence)?;
        let iban = parse_iban(debtor_raw.iban.get_ref())
            .map_err(|why| fail_at(debtor_raw.iban.span().start, format!("debtor.iban: {why}")))?;
        check_bic(debtor_raw.bic.get_ref())
            .map_err(|why| fail_at(debtor_raw.bic.span().start, format!("debtor.bic: {why}")))?;
        let address = debtor_raw.address;
        if address.country.get_ref().len() != 2
            || !address
                .country
                .get_ref()
                .bytes()
                .all(|b| b.is_ascii_uppercase())
        {
            return Err(fail_at(
                address.country.span().start,
                "debtor.address.country must be an ISO 3166 alpha-2 code such as FR".to_owned(),
            ));
        }
        let debtor = DebtorAccount {
            name: non_empty(&debtor_raw.name, "debtor.name", &fail_at)?,
            iban,
            bic: debtor_raw.bic.into_inner(),
            address: StructuredAddress {
                street_name: non_empty(
                    &address.street_name,
                    "debtor.address.street_name",
                    &fail_at,
                )?,
                building_number: address.building_number,
                postcode: non_empty(&address.postcode, "debtor.address.postcode", &fail_at)?,
                town: non_empty(&address.town, "debtor.address.town", &fail_at)?,
                country: address.country.into_inner(),
            },
        };

        let pes_raw = raw.pes;
        note("pes", &pes_raw.confidence)?;
        note("pes.tiers", &pes_raw.tiers.confidence)?;
        let mut pieces = BTreeMap::new();
        for (key, codes) in pes_raw.pieces {
            let case = PieceCase::from_str(&key).map_err(|why| fail_at(codes.span().start, why))?;
            let codes = codes.into_inner();
            note(&format!("pes.pieces.{key}"), &codes.confidence)?;
            pieces.insert(
                case,
                PieceCodes {
                    typ_pce: codes.typ_pce,
                    nat_pce: codes.nat_pce,
                },
            );
        }
        if let Some(missing) = PieceCase::ALL.iter().find(|c| !pieces.contains_key(c)) {
            return Err(fail_at(
                0,
                format!(
                    "[pes.pieces.{}] is missing (TypPce and NatPce of that case)",
                    missing.key()
                ),
            ));
        }
        let tiers = pes_raw.tiers;
        let pes = PesConfig {
            version: pes_raw.version,
            typ_fic: pes_raw.typ_fic,
            emetteur: pes_raw.emetteur,
            recepteur: pes_raw.recepteur,
            id_post: pes_raw.id_post,
            cod_col: pes_raw.cod_col,
            cod_bud: pes_raw.cod_bud,
            libelle_col_bud: pes_raw.libelle_col_bud,
            id_ver: pes_raw.id_ver,
            info_dematerialisee: pes_raw.info_dematerialisee,
            typ_bord: pes_raw.typ_bord,
            mod_regl: pes_raw.mod_regl,
            pj_support: pes_raw.pj_support,
            tiers: PesTiersCodes {
                typ_id_tiers_siret: tiers.typ_id_tiers_siret,
                typ_tiers: tiers.typ_tiers,
                cat_tiers: tiers.cat_tiers,
                nat_jur_default: tiers.nat_jur_default,
                nat_jur_by_legal_category: tiers.nat_jur_by_legal_category,
                typ_adr: tiers.typ_adr,
            },
            pieces,
        };

        let mut imputations = BTreeMap::new();
        for spanned in raw.imputation {
            let start = spanned.span().start;
            let entry = spanned.into_inner();
            let aid_type =
                AidType::from_str(&entry.aid_type).map_err(|e| fail_at(start, e.message))?;
            note(&format!("imputation {aid_type}"), &entry.confidence)?;
            let imputation = Imputation {
                nature: entry.nature,
                fonction: entry.fonction,
            };
            if imputation.nature.trim().is_empty() || imputation.fonction.trim().is_empty() {
                return Err(fail_at(
                    start,
                    format!("imputation {aid_type}: nature and fonction must not be empty"),
                ));
            }
            if imputations.insert(aid_type, imputation).is_some() {
                return Err(fail_at(
                    start,
                    format!("imputation {aid_type} is listed twice"),
                ));
            }
        }
        if let Some(missing) = AidType::ALL.iter().find(|a| !imputations.contains_key(a)) {
            return Err(fail_at(
                0,
                format!("no [[imputation]] for aid type {missing} (nature and fonction M57)"),
            ));
        }

        Ok(Self {
            id,
            name,
            siret,
            debtor,
            pes,
            imputations,
            placeholders,
        })
    }
}

/// The financer's bank account, debited by the pain.001 transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebtorAccount {
    /// Account holder's name (≤ 70 characters are written).
    pub name: String,
    /// IBAN, electronic format (checked at load).
    pub iban: String,
    /// BIC of the account's bank (checked at load).
    pub bic: String,
    /// Structured postal address.
    pub address: StructuredAddress,
}

/// A structured postal address (ISO 20022 `PostalAddress24` subset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructuredAddress {
    /// Street name (`StrtNm`).
    pub street_name: String,
    /// Building number (`BldgNb`), optional.
    pub building_number: Option<String>,
    /// Postcode (`PstCd`).
    pub postcode: String,
    /// Town (`TwnNm`).
    pub town: String,
    /// ISO 3166 alpha-2 country (`Ctry`).
    pub country: String,
}

/// PES V2 identifiers and code lists: all of them configuration, since the
/// official schema and code lists were not available (docs/payment-files.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PesConfig {
    /// `Enveloppe/Parametres/Version`.
    pub version: String,
    /// `Enveloppe/Parametres/TypFic` (`PESALR2`).
    pub typ_fic: String,
    /// `Enveloppe/Emetteur/Sigle`.
    pub emetteur: String,
    /// `Enveloppe/Recepteur/Sigle` (`HELIOS`).
    pub recepteur: String,
    /// `EnTetePES/IdPost`: the public accountant's post.
    pub id_post: String,
    /// `EnTetePES/CodCol`.
    pub cod_col: String,
    /// `EnTetePES/CodBud`.
    pub cod_bud: String,
    /// `EnTetePES/LibelleColBud`.
    pub libelle_col_bud: String,
    /// `EnTeteDepense/IdVer`.
    pub id_ver: String,
    /// `EnTeteDepense/InfoDematerialisee`.
    pub info_dematerialisee: String,
    /// `BlocBordereau/TypBord`.
    pub typ_bord: String,
    /// `InfoLignePce/ModRegl` (transfer).
    pub mod_regl: String,
    /// `PJRef/Support` of the attached invoice.
    pub pj_support: String,
    /// Codes describing the payee.
    pub tiers: PesTiersCodes,
    /// `TypPce` and `NatPce` per kind of piece (one entry per [`PieceCase`]).
    pub pieces: BTreeMap<PieceCase, PieceCodes>,
}

impl PesConfig {
    /// `NatJur` for an INSEE legal category (the configured default otherwise).
    pub fn nat_jur(&self, legal_category: Option<&str>) -> &str {
        legal_category
            .and_then(|c| self.tiers.nat_jur_by_legal_category.get(c))
            .unwrap_or(&self.tiers.nat_jur_default)
    }
}

/// Codes describing a payee in PES V2 (`Tiers/InfoTiers`, `Tiers/Adresse`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PesTiersCodes {
    /// `TypIdTiers` meaning "the id is a SIRET".
    pub typ_id_tiers_siret: String,
    /// `TypTiers`.
    pub typ_tiers: String,
    /// `CatTiers` of a SAAD.
    pub cat_tiers: String,
    /// `NatJur` when the legal category is unknown or unmapped.
    pub nat_jur_default: String,
    /// `NatJur` per INSEE legal category (4 digits).
    pub nat_jur_by_legal_category: BTreeMap<String, String>,
    /// `Adresse/TypAdr`.
    pub typ_adr: String,
}

/// Which kind of piece (mandate) an invoice becomes in PES V2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PieceCase {
    /// A proforma invoice.
    Proforma,
    /// A regularisation owing money to the SAAD (amount ≥ 0).
    Regularisation,
    /// A regularisation taking money back (amount < 0), deducted from the payment.
    RegularisationNegative,
}

impl PieceCase {
    /// Every case, in order.
    pub const ALL: &'static [PieceCase] = &[
        PieceCase::Proforma,
        PieceCase::Regularisation,
        PieceCase::RegularisationNegative,
    ];

    /// Key in `[pes.pieces.<key>]`.
    pub const fn key(self) -> &'static str {
        match self {
            PieceCase::Proforma => "proforma",
            PieceCase::Regularisation => "regularisation",
            PieceCase::RegularisationNegative => "regularisation_negative",
        }
    }

    /// The case of an invoice of this kind and amount.
    pub fn of(kind: InvoiceKind, amount: rust_decimal::Decimal) -> Self {
        match kind {
            InvoiceKind::Proforma => PieceCase::Proforma,
            InvoiceKind::Regularisation if amount.is_sign_negative() && !amount.is_zero() => {
                PieceCase::RegularisationNegative
            }
            InvoiceKind::Regularisation => PieceCase::Regularisation,
        }
    }
}

impl FromStr for PieceCase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PieceCase::ALL
            .iter()
            .copied()
            .find(|c| c.key() == s)
            .ok_or_else(|| {
                format!("unknown [pes.pieces.{s}]: accepted are proforma, regularisation, regularisation_negative")
            })
    }
}

/// `TypPce` and `NatPce` of one kind of piece.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceCodes {
    /// `InfoPce/TypPce`.
    pub typ_pce: String,
    /// `InfoPce/NatPce`.
    pub nat_pce: String,
}

/// M57 budget imputation of an aid type's spending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imputation {
    /// Nature (account), e.g. a 6511x account.
    pub nature: String,
    /// Fonction (functional code).
    pub fonction: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(0, |before| {
        before.bytes().filter(|b| *b == b'\n').count() + 1
    })
}

fn non_empty(
    value: &Spanned<String>,
    key: &str,
    fail_at: &impl Fn(usize, String) -> CharterError,
) -> Result<String, CharterError> {
    if value.get_ref().trim().is_empty() {
        Err(fail_at(
            value.span().start,
            format!("{key} must not be empty"),
        ))
    } else {
        Ok(value.get_ref().clone())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    financer: RawFinancer,
    debtor: RawDebtor,
    pes: RawPes,
    imputation: Vec<Spanned<RawImputation>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFinancer {
    id: Spanned<String>,
    name: Spanned<String>,
    siret: Spanned<String>,
    confidence: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDebtor {
    name: Spanned<String>,
    iban: Spanned<String>,
    bic: Spanned<String>,
    confidence: Spanned<String>,
    address: RawAddress,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAddress {
    street_name: Spanned<String>,
    #[serde(default)]
    building_number: Option<String>,
    postcode: Spanned<String>,
    town: Spanned<String>,
    country: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPes {
    version: String,
    typ_fic: String,
    emetteur: String,
    recepteur: String,
    id_post: String,
    cod_col: String,
    cod_bud: String,
    libelle_col_bud: String,
    id_ver: String,
    info_dematerialisee: String,
    typ_bord: String,
    mod_regl: String,
    pj_support: String,
    confidence: Spanned<String>,
    tiers: RawTiers,
    pieces: BTreeMap<String, Spanned<RawPieceCodes>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTiers {
    typ_id_tiers_siret: String,
    typ_tiers: String,
    cat_tiers: String,
    nat_jur_default: String,
    #[serde(default)]
    nat_jur_by_legal_category: BTreeMap<String, String>,
    typ_adr: String,
    confidence: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPieceCodes {
    typ_pce: String,
    nat_pce: String,
    confidence: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawImputation {
    aid_type: String,
    nature: String,
    fonction: String,
    confidence: Spanned<String>,
}
