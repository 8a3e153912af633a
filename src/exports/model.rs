//! Input of the payment-file writers: plain values describing one issued
//! payment batch (rules.md R9), built by the caller from stored invoices.
//!
//! These structs are the exports' own view of a batch: they hold exactly what
//! the liquidation CSV, the PES V2 file and the pain.001 file print, nothing
//! else. No I/O, no clock: `created_at` is passed in.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::model::Address;
use crate::domain::types::{AidType, Siret, YearMonth};

use super::config::FinancerConfig;

/// One issued payment batch: one payment per SAAD (R9), each the sum of its
/// validated invoices.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchExport {
    /// The batch id. It becomes the pain.001 `MsgId` and `PmtInfId` and the
    /// prefix of every `EndToEndId`, so it must be 1–20 characters among
    /// `A-Z a-z 0-9 - _ .` (checked: [`super::ExportError::UnfitBatchId`]).
    pub id: String,
    /// When the batch was issued (pain.001 `CreDtTm`; its Europe/Paris day is
    /// the PES date and fiscal year).
    pub created_at: DateTime<Utc>,
    /// The day the transfers should be executed (pain.001 `ReqdExctnDt`).
    pub requested_execution_date: NaiveDate,
    /// The financer's identity and accounting configuration (`charter/financer.toml`).
    pub financer: FinancerConfig,
    /// PES numbering, which depends on earlier batches of the fiscal year.
    pub pes_numbering: PesNumbering,
    /// One payment per SAAD, in the order the files list them.
    pub payments: Vec<PaymentExport>,
}

/// Numbers the PES V2 file needs from the history of the fiscal year: they
/// are stored by the caller, not computed here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PesNumbering {
    /// `IdBord` of the first bordereau of this batch (0 is read as 1); the
    /// following bordereaux take the next numbers.
    pub first_bordereau: u32,
    /// `IdPce` of the first piece (mandate) of this batch (0 is read as 1).
    pub first_piece: u32,
    /// Amount already mandated this fiscal year per aid type, before this
    /// batch (`MtCumulAnnuel` = this + the bordereau's amount).
    pub mandated_before: BTreeMap<AidType, Decimal>,
}

/// What one SAAD is paid in this batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentExport {
    /// The payee.
    pub saad: SaadPayee,
    /// Amount transferred: the exact sum of `invoices` (checked), strictly
    /// positive (checked), in cents (checked).
    pub amount: Decimal,
    /// Invoices paid, a negative regularisation being deducted.
    pub invoices: Vec<InvoiceExport>,
}

/// The SAAD as payee (rules.md "SAAD").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaadPayee {
    /// SIRET (PES `IdTiers`, CSV column; not in the bank transfer).
    pub siret: Siret,
    /// Trading name.
    pub name: String,
    /// IBAN, electronic or print format (checked with `iban_validate`).
    pub iban: String,
    /// BIC, 8 or 11 characters.
    pub bic: String,
    /// INSEE legal category (4 digits), mapped to PES `NatJur` by configuration.
    pub legal_category: Option<String>,
    /// Account holder when it differs from the name: used as the transfer's
    /// creditor name, which the payee's bank compares with the account holder.
    pub account_holder: Option<String>,
    /// Postal address (required by PES V2; optional in pain.001).
    pub address: Option<Address>,
}

impl SaadPayee {
    /// The name the bank account is held under.
    pub fn holder(&self) -> &str {
        self.account_holder
            .as_deref()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or(&self.name)
    }
}

/// Kind of an invoice (R9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvoiceKind {
    /// The month's first invoice, computed from telemanagement data.
    Proforma,
    /// A later correction of a closed month: its amount may be negative.
    Regularisation,
}

impl InvoiceKind {
    /// Spelling in the files (`proforma`, `regularisation`).
    pub const fn code(self) -> &'static str {
        match self {
            InvoiceKind::Proforma => "proforma",
            InvoiceKind::Regularisation => "regularisation",
        }
    }
}

/// One validated invoice paid in the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct InvoiceExport {
    /// Invoice id (1–35 characters, no control character).
    pub id: String,
    /// Billed month.
    pub month: YearMonth,
    /// Aid type: selects the accounting imputation and the PES bordereau.
    pub aid_type: AidType,
    /// Proforma or regularisation.
    pub kind: InvoiceKind,
    /// Amount due by the financer: the exact sum of `lines` (checked), in
    /// cents; negative only for a regularisation.
    pub amount: Decimal,
    /// The invoice's lines (at least one).
    pub lines: Vec<InvoiceLineExport>,
}

/// One invoice line: one plan in one month (R9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLineExport {
    /// Plan reference.
    pub plan_ref: String,
    /// Beneficiary id (personal data: written to the liquidation file only
    /// where needed, never to a bank transfer label).
    pub beneficiary_id: String,
    /// Billed minutes (negative in a regularisation that takes time back).
    pub billed_minutes: i64,
    /// Amount due by the financer, in cents.
    pub amount: Decimal,
}
