//! Payment-batch export writers (rules.md R9; rules-reference.md §8): pure
//! functions from a [`BatchExport`] to the bytes of
//!
//! - the liquidation CSV for the département's finance software ([`liquidation_csv`]);
//! - the PES V2 spending file for the DGFiP's Hélios ([`pes_v2`]);
//! - the ISO 20022 `pain.001.001.09` credit transfer ([`pain001`]).
//!
//! Every writer first checks the batch ([`check_batch`]): one payment per
//! SAAD, each strictly positive and equal to the sum of its invoices, each
//! invoice equal to the sum of its lines, every amount in cents, every IBAN
//! valid. Nothing is rounded and nothing is silently dropped: a batch that
//! fails a check is refused with an [`ExportError`].
//!
//! This module may use `domain` (identifiers, code lists); it performs no
//! I/O except [`FinancerConfig::load`], which reads the charter file. The
//! columns and elements are documented in `docs/payment-files.md`.

pub mod config;
pub mod csv;
pub mod model;
pub mod pain001;
pub mod pes;
pub mod text;
mod validate;
mod xml;

pub use config::{FINANCER_FILE, FinancerConfig};
pub use csv::liquidation_csv;
pub use model::{
    BatchExport, InvoiceExport, InvoiceKind, InvoiceLineExport, PaymentExport, PesNumbering,
    SaadPayee,
};
pub use pain001::{PAIN001_NAMESPACE, pain001};
pub use pes::{PES_NAMESPACE, pes_v2};
pub use validate::{BATCH_ID_MAX, CheckedBatch, check_batch};

use rust_decimal::Decimal;

use crate::domain::types::{AidType, Siret};

/// Why a batch cannot be written. Each variant names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The batch has no payment.
    #[error("batch {batch_id} has no payment")]
    EmptyBatch {
        /// The batch.
        batch_id: String,
    },
    /// The batch id cannot carry the pain.001 identifiers.
    #[error(
        "batch id '{batch_id}' must be 1 to 20 characters among A-Z, a-z, 0-9, '-', '_' and '.' (it prefixes every EndToEndId, at most 35 characters)"
    )]
    UnfitBatchId {
        /// The id received.
        batch_id: String,
    },
    /// Two payments for one SAAD (R9: one payment line per SAAD).
    #[error("SAAD {siret} has more than one payment in the batch (one payment per SAAD)")]
    DuplicatePayee {
        /// The SAAD.
        siret: Siret,
    },
    /// An invoice appears twice in the batch.
    #[error("invoice {invoice_id} appears more than once in the batch")]
    DuplicateInvoice {
        /// The invoice.
        invoice_id: String,
    },
    /// A payment of zero or less (R9: the net is never negative; nothing to transfer at zero).
    #[error(
        "payment to SAAD {siret} is {amount}: a payment must be strictly positive (carry a negative net over to the next batch)"
    )]
    NonPositivePayment {
        /// The SAAD.
        siret: Siret,
        /// The amount.
        amount: Decimal,
    },
    /// A payment whose amount is not the sum of its invoices.
    #[error("payment to SAAD {siret} is {amount} but its invoices sum to {invoices_total}")]
    PaymentMismatch {
        /// The SAAD.
        siret: Siret,
        /// The payment's amount.
        amount: Decimal,
        /// The sum of its invoices.
        invoices_total: Decimal,
    },
    /// An invoice whose amount is not the sum of its lines.
    #[error("invoice {invoice_id} is {amount} but its lines sum to {lines_total}")]
    InvoiceMismatch {
        /// The invoice.
        invoice_id: String,
        /// Its amount.
        amount: Decimal,
        /// The sum of its lines.
        lines_total: Decimal,
    },
    /// An invoice without lines (a PES piece needs at least one line).
    #[error("invoice {invoice_id} has no line")]
    EmptyInvoice {
        /// The invoice.
        invoice_id: String,
    },
    /// An amount with fractions of a cent: the writers never round.
    #[error("{what} is {amount}: amounts must be whole cents")]
    NotInCents {
        /// Which amount.
        what: String,
        /// The amount.
        amount: Decimal,
    },
    /// A payee's IBAN fails the IBAN checks.
    #[error("SAAD {siret}: {reason}")]
    InvalidIban {
        /// The SAAD.
        siret: Siret,
        /// What is wrong (from `iban_validate`).
        reason: String,
    },
    /// A payee's BIC is not a BIC.
    #[error("SAAD {siret}: {reason}")]
    InvalidBic {
        /// The SAAD.
        siret: Siret,
        /// What is wrong.
        reason: String,
    },
    /// A required text is empty, too long or holds control characters.
    #[error("{what}: '{value}' {reason}")]
    InvalidText {
        /// Which field.
        what: String,
        /// The value received.
        value: String,
        /// What is expected.
        reason: String,
    },
    /// No M57 imputation is configured for an aid type.
    #[error("no accounting imputation configured for aid type {aid_type} (charter/financer.toml)")]
    MissingImputation {
        /// The aid type.
        aid_type: AidType,
    },
    /// No TypPce/NatPce configured for a kind of piece.
    #[error("no PES piece codes configured for [pes.pieces.{case}] (charter/financer.toml)")]
    MissingPieceCodes {
        /// The missing case key.
        case: &'static str,
    },
    /// PES V2 needs the payee's postal address.
    #[error("SAAD {siret} has no postal address, which PES V2 requires")]
    MissingAddress {
        /// The SAAD.
        siret: Siret,
    },
    /// A PES number would overflow.
    #[error("PES numbering overflows (IdBord or IdPce beyond {max})", max = u32::MAX)]
    NumberingOverflow,
    /// The underlying writer failed (not expected when writing to memory).
    #[error("could not write the {file}: {message}")]
    Write {
        /// Which file.
        file: &'static str,
        /// The writer's message.
        message: String,
    },
}
