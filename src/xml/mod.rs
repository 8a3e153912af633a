//! ESPPADOM XML adapter (../shared/spec/esppadom.md): readers that turn a
//! DELIVERY, an ORDER or an INVOICE into the domain's values, writers that
//! produce ORDER and INVOICE, and the offline `inspect` report.
//!
//! Everything here is an adapter: it depends on `crate::domain` and on
//! quick-xml, never the other way round. Rules (which timestamps count, plan
//! matching, rejections) stay in the domain; the only rule applied here is
//! the "ESPPADOM mapping" of rules.md, which turns an ESPPADOM message into an
//! [`InterventionSubmission`](crate::domain::model::InterventionSubmission).
//!
//! Reading is streaming (quick-xml's `NsReader` over any `BufRead`): no tree
//! of the document is built, and memory is bounded by one message plus the
//! header. Namespaces are resolved by URI, never by prefix. Every refusal is
//! an [`XmlError`] with a message a SAAD's office can act on, the element
//! path and a 1-based line and column. Inputs are bounded by [`Limits`].

pub mod delivery;
mod error;
pub mod inspect;
pub mod invoice;
pub mod order;
mod scan;
pub mod synthetic;
mod write;

pub use inspect::{InspectError, InspectIntervention, InspectReport, inspect};
pub use invoice::{
    InvoiceDocument, InvoiceDocumentLine, InvoiceKind, InvoiceMessage, InvoiceMessageLine,
    InvoiceSaad, PartyRef, read_invoice, write_invoice,
};
pub use order::{OrderParties, OrderPlan, read_order, write_order};

pub use delivery::{Delivery, DeliveryLine, DeliveryReader, read_delivery};
pub use error::{Limits, XmlError, XmlErrorKind};

/// Namespace of the reusable business elements (`ram`).
pub const NS_RAM: &str =
    "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:8";
/// Namespace of party and person details (`pie`).
pub const NS_PIE: &str = "urn:un:unece:uncefact:data:standard:PersonInformationEntity:1";
/// Namespace of qualified data types (`qdt`).
pub const NS_QDT: &str = "urn:un:unece:uncefact:data:standard:QualifiedDataType:8";
/// Prefix of the DELIVERY message namespace URIs accepted (esppadom.md §2.1).
pub const NS_DELIVERY_PREFIX: &str =
    "urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:";
/// Prefix of the ORDER message namespace URIs accepted.
pub const NS_ORDER_PREFIX: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryOrder:";
/// Prefix of the INVOICE message namespace URIs accepted.
pub const NS_INVOICE_PREFIX: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:";
/// DELIVERY namespace the gateway writes (and the one compani sends).
pub const NS_DELIVERY: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2";
/// ORDER namespace the gateway writes.
pub const NS_ORDER: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryOrder:2";
/// INVOICE namespace the gateway writes.
pub const NS_INVOICE: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:2";

/// Which ESPPADOM message a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Cross Industry Despatch Advice: time-stamped interventions.
    Delivery,
    /// Cross Industry Order: aid plans.
    Order,
    /// Cross Industry Invoice: a monthly invoice.
    Invoice,
}

impl MessageKind {
    /// Local name of the batch wrapper (`delivery`, `order`, `invoice`).
    pub const fn wrapper(self) -> &'static str {
        match self {
            MessageKind::Delivery => "delivery",
            MessageKind::Order => "order",
            MessageKind::Invoice => "invoice",
        }
    }

    /// Local name of one message (`CrossIndustryDespatchAdvice`, …).
    pub const fn message(self) -> &'static str {
        match self {
            MessageKind::Delivery => "CrossIndustryDespatchAdvice",
            MessageKind::Order => "CrossIndustryOrder",
            MessageKind::Invoice => "CrossIndustryInvoice",
        }
    }

    /// Prefix of the namespace URIs accepted for this message.
    pub const fn namespace_prefix(self) -> &'static str {
        match self {
            MessageKind::Delivery => NS_DELIVERY_PREFIX,
            MessageKind::Order => NS_ORDER_PREFIX,
            MessageKind::Invoice => NS_INVOICE_PREFIX,
        }
    }

    /// The flow's name in the standard, for messages to people.
    pub const fn label(self) -> &'static str {
        match self {
            MessageKind::Delivery => "DELIVERY",
            MessageKind::Order => "ORDER",
            MessageKind::Invoice => "INVOICE",
        }
    }

    /// The kind whose namespace `uri` belongs to, if any.
    pub fn from_namespace(uri: &str) -> Option<Self> {
        [
            MessageKind::Delivery,
            MessageKind::Order,
            MessageKind::Invoice,
        ]
        .into_iter()
        .find(|kind| uri.starts_with(kind.namespace_prefix()))
    }
}
