//! INVOICE: reader of a SAAD's monthly invoice to [`InvoiceMessage`]s, and
//! writer of the invoice the gateway computed ([`InvoiceDocument`])
//! (esppadom.md §5).
//!
//! Amounts are `Decimal`s written with two places; billed quantities are
//! hours written with up to four places and read back to minutes with
//! `round(hours × 60)`.

use std::io;

use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::model::MessageProblem;
use crate::domain::types::{AidType, Siret, YearMonth};

use super::MessageKind;
use super::delivery::{hours_to_minutes, parse_decimal};
use super::error::{Limits, XmlError};
use super::order::{parse_day, problem};
use super::scan::{Document, Leaf, Node, Positions, Scanned, Shape, Slot, branch, group, leaf};
use super::write::{Out, amount, edess_list, hours};

const VERSION: usize = 0;
const TRANSACTION: usize = 1;
const ID: usize = 2;
const TYPE_CODE: usize = 3;
const ISSUE: usize = 4;
const SELLER_ID: usize = 5;
const SELLER_SIRET: usize = 6;
const BUYER_ID: usize = 7;
const ORDER_REF: usize = 8;
const HEADER_BENEFICIARY: usize = 9;
const PERIOD_START: usize = 10;
const CURRENCY: usize = 11;
const LINE_TOTAL: usize = 12;
const GRAND_TOTAL: usize = 13;
const DUE: usize = 14;
const HEADER_SLOTS: usize = 15;

const LINE_ID: usize = 0;
const PLAN_REF: usize = 1;
const RATE: usize = 2;
const QUANTITY: usize = 3;
const BENEFICIARY: usize = 4;
const AMOUNT: usize = 5;
const PRODUCT: usize = 6;
const GROUP_SLOTS: usize = 7;

const fn h(index: usize) -> Slot {
    Slot::Header(index)
}
const fn g(index: usize) -> Slot {
    Slot::Group(index)
}

const LINE_ITEM: &str = "IncludedCIILSupplyChainTradeLineItem";

static ROOT: Node = branch(
    "CrossIndustryInvoice",
    &[
        branch(
            "CIIHExchangedDocumentContext",
            &[
                leaf("VersionID", h(VERSION)),
                leaf("SpecifiedTransactionID", h(TRANSACTION)),
            ],
        ),
        branch(
            "CIIHExchangedDocument",
            &[
                leaf("ID", h(ID)),
                leaf("TypeCode", h(TYPE_CODE)),
                leaf("IssueDateTime", h(ISSUE)),
            ],
        ),
        branch(
            "CIIHSupplyChainTradeTransaction",
            &[
                branch(
                    "ApplicableCIIHSupplyChainTradeAgreement",
                    &[
                        branch(
                            "SellerCITradeParty",
                            &[leaf("ID", h(SELLER_ID)), leaf("SIRET", h(SELLER_SIRET))],
                        ),
                        branch("BuyerCITradeParty", &[leaf("ID", h(BUYER_ID))]),
                        branch(
                            "BuyerOrderReferencedCIReferencedDocument",
                            &[leaf("IssuerAssignedID", h(ORDER_REF))],
                        ),
                    ],
                ),
                branch(
                    "ApplicableCIIHSupplyChainTradeDelivery",
                    &[
                        branch("ShipToCITradeParty", &[leaf("ID", h(HEADER_BENEFICIARY))]),
                        branch(
                            "ActualDeliveryCISupplyChainEvent",
                            &[branch(
                                "OccurrenceCISpecifiedPeriod",
                                &[leaf("StartDateTime", h(PERIOD_START))],
                            )],
                        ),
                    ],
                ),
                branch(
                    "ApplicableCIIHSupplyChainTradeSettlement",
                    &[
                        leaf("InvoiceCurrencyCode", h(CURRENCY)),
                        branch(
                            "SpecifiedCIIHTradeSettlementMonetarySummation",
                            &[
                                leaf("LineTotalAmount", h(LINE_TOTAL)),
                                leaf("GrandTotalAmount", h(GRAND_TOTAL)),
                                leaf("DuePayableAmount", h(DUE)),
                            ],
                        ),
                    ],
                ),
                group(
                    LINE_ITEM,
                    &[
                        branch(
                            "AssociatedCIILDocumentLineDocument",
                            &[leaf("LineID", g(LINE_ID))],
                        ),
                        branch(
                            "SpecifiedCIILSupplyChainTradeAgreement",
                            &[
                                branch(
                                    "BuyerOrderReferencedCIReferencedDocument",
                                    &[leaf("LineID", g(PLAN_REF))],
                                ),
                                branch(
                                    "NetPriceProductCITradePrice",
                                    &[leaf("ChargeAmount", g(RATE))],
                                ),
                            ],
                        ),
                        branch(
                            "SpecifiedCIILSupplyChainTradeDelivery",
                            &[
                                leaf("BilledQuantity", g(QUANTITY)),
                                branch("ShipToCITradeParty", &[leaf("ID", g(BENEFICIARY))]),
                            ],
                        ),
                        branch(
                            "SpecifiedCIILSupplyChainTradeSettlement",
                            &[branch(
                                "SpecifiedCIILTradeSettlementMonetarySummation",
                                &[leaf("LineTotalAmount", g(AMOUNT))],
                            )],
                        ),
                        branch("SpecifiedCITradeProduct", &[leaf("ID", g(PRODUCT))]),
                    ],
                ),
            ],
        ),
    ],
);

static SHAPE: Shape = Shape {
    root: &ROOT,
    header_slots: HEADER_SLOTS,
    group_slots: GROUP_SLOTS,
};

/// Pro-forma (monthly) invoice or regularisation of a past month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    /// The month's invoice, UNTDID 1001 code `380`.
    Proforma,
    /// A regularisation (differences of a closed month), code `384`.
    Regularisation,
}

impl InvoiceKind {
    /// UNTDID 1001 document type code.
    pub const fn type_code(self) -> &'static str {
        match self {
            InvoiceKind::Proforma => "380",
            InvoiceKind::Regularisation => "384",
        }
    }

    /// The kind of a type code, `None` when it is neither 380 nor 384.
    pub fn from_type_code(code: &str) -> Option<Self> {
        match code {
            "380" => Some(InvoiceKind::Proforma),
            "384" => Some(InvoiceKind::Regularisation),
            _ => None,
        }
    }
}

/// One line of an INVOICE as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceMessageLine {
    /// Line number as sent (`AssociatedCIILDocumentLineDocument/LineID`).
    pub line_id: Option<String>,
    /// Plan reference (`BuyerOrderReferencedCIReferencedDocument/LineID`).
    pub plan_ref: Option<String>,
    /// Beneficiary id (line `ShipToCITradeParty/ID`, else the header's).
    pub beneficiary_id: Option<String>,
    /// Aid type as sent.
    pub aid_type: Option<String>,
    /// Billed minutes (`round(BilledQuantity × 60)`).
    pub billed_minutes: Option<i64>,
    /// Hourly rate, EUR.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub hourly_rate: Option<Decimal>,
    /// Line total, EUR.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub amount: Option<Decimal>,
    /// Set when the line is unusable.
    pub problem: Option<MessageProblem>,
}

/// One `CrossIndustryInvoice` as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceMessage {
    /// Invoice number.
    pub id: Option<String>,
    /// Type code as sent (`380`, `384`).
    pub type_code: Option<String>,
    /// Kind derived from the type code (absent code = pro-forma).
    pub kind: Option<InvoiceKind>,
    /// SAAD id (`SellerCITradeParty/ID`).
    pub seller_id: Option<String>,
    /// SAAD SIRET as sent.
    pub seller_siret: Option<String>,
    /// Financer id (`BuyerCITradeParty/ID`).
    pub buyer_id: Option<String>,
    /// Order reference of the header, when the invoice covers one order.
    pub order_ref: Option<String>,
    /// Billed month (month of the delivery period's start).
    pub month: Option<YearMonth>,
    /// Currency code.
    pub currency: Option<String>,
    /// Sum of the lines, as sent.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub line_total: Option<Decimal>,
    /// Grand total, as sent.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub grand_total: Option<Decimal>,
    /// Amount due, as sent.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub due_payable: Option<Decimal>,
    /// Lines in document order.
    pub lines: Vec<InvoiceMessageLine>,
    /// Remarks (unknown codes…).
    pub warnings: Vec<String>,
    /// Set when the invoice as a whole is unusable.
    pub problem: Option<MessageProblem>,
}

/// The SAAD on an invoice the gateway writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceSaad {
    /// SIRET (also written as the party id).
    pub siret: Siret,
    /// Name.
    pub name: String,
}

/// The financer on an invoice the gateway writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyRef {
    /// Id (e.g. `CD99`).
    pub id: String,
    /// Name.
    pub name: String,
}

/// One line of an invoice the gateway writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDocumentLine {
    /// Plan reference.
    pub plan_ref: String,
    /// Beneficiary id.
    pub beneficiary_id: String,
    /// Billed minutes (negative in a regularisation that takes back).
    pub billed_minutes: i64,
    /// Hourly rate, EUR.
    pub hourly_rate: Decimal,
    /// Line amount, EUR.
    pub amount: Decimal,
}

/// An invoice computed by the gateway, to be written as ESPPADOM INVOICE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceDocument {
    /// Invoice id.
    pub id: String,
    /// Pro-forma (380) or regularisation (384).
    pub kind: InvoiceKind,
    /// Billed month.
    pub month: YearMonth,
    /// Issue date-time, Europe/Paris wall clock.
    pub issued_at: NaiveDateTime,
    /// Aid type of the whole invoice (one invoice per aid type).
    pub aid_type: AidType,
    /// The SAAD (seller).
    pub saad: InvoiceSaad,
    /// The financer (buyer).
    pub financer: PartyRef,
    /// Lines.
    pub lines: Vec<InvoiceDocumentLine>,
    /// Total due, EUR.
    pub total: Decimal,
}

fn value(leaf: Option<&Leaf>) -> Option<String> {
    leaf.and_then(Leaf::value).map(str::to_owned)
}

/// Reads an INVOICE file: one [`InvoiceMessage`] per `CrossIndustryInvoice`.
pub fn read_invoice(bytes: &[u8]) -> Result<Vec<InvoiceMessage>, XmlError> {
    let limits = Limits {
        max_document_bytes: bytes.len() as u64,
        ..Limits::default()
    };
    let mut document = Document::new(bytes, MessageKind::Invoice, &SHAPE, limits);
    let mut invoices = Vec::new();
    let mut scanned = Scanned::default();
    while document.next_message(&mut scanned)? {
        invoices.push(map_message(&scanned, &document.cursor.positions()));
    }
    Ok(invoices)
}

fn map_message(scanned: &Scanned, positions: &Positions<'_>) -> InvoiceMessage {
    let header = |slot| value(scanned.header(slot));
    let mut first: Option<MessageProblem> = None;
    let mut note = |p: MessageProblem| {
        if first.is_none() {
            first = Some(p);
        }
    };
    let mut warnings = Vec::new();
    let id = header(ID);
    if id.is_none() {
        note(problem(
            &ROOT,
            scanned,
            h(ID),
            LINE_ITEM,
            0,
            None,
            "no invoice number (CIIHExchangedDocument/ID)".to_owned(),
        ));
    }
    let type_code = header(TYPE_CODE);
    let kind = match type_code.as_deref() {
        None => Some(InvoiceKind::Proforma),
        Some(code) => {
            let kind = InvoiceKind::from_type_code(code);
            if kind.is_none() {
                let shown: String = code.chars().take(20).collect();
                let pos = scanned.header(TYPE_CODE).map(|l| positions.of(l));
                note(problem(
                    &ROOT,
                    scanned,
                    h(TYPE_CODE),
                    LINE_ITEM,
                    0,
                    pos,
                    format!(
                        "unknown invoice type code '{shown}': use 380 (invoice) or 384 (regularisation)"
                    ),
                ));
            }
            kind
        }
    };
    let month = scanned
        .header(PERIOD_START)
        .and_then(|l| l.value().map(|v| (l, v)))
        .and_then(|(l, v)| {
            let day = parse_day(v);
            if day.is_none() {
                let shown: String = v.chars().take(40).collect();
                note(problem(
                    &ROOT,
                    scanned,
                    h(PERIOD_START),
                    LINE_ITEM,
                    0,
                    Some(positions.of(l)),
                    format!("unreadable billed period start '{shown}'"),
                ));
            }
            day.map(YearMonth::of)
        });
    if month.is_none() && scanned.header(PERIOD_START).and_then(Leaf::value).is_none() {
        note(problem(&ROOT, scanned, h(PERIOD_START), LINE_ITEM, 0, None, "no billed period (ActualDeliveryCISupplyChainEvent/OccurrenceCISpecifiedPeriod): the month cannot be known".to_owned()));
    }
    let decimal = |slot: usize, what: &str, warnings: &mut Vec<String>| {
        let text = header(slot)?;
        let parsed = parse_decimal(&text);
        if parsed.is_none() {
            let shown: String = text.chars().take(40).collect();
            warnings.push(format!("unreadable {what} '{shown}': ignored"));
        }
        parsed
    };
    let line_total = decimal(LINE_TOTAL, "line total", &mut warnings);
    let grand_total = decimal(GRAND_TOTAL, "grand total", &mut warnings);
    let due_payable = decimal(DUE, "amount due", &mut warnings);
    let currency = header(CURRENCY);
    if currency.as_deref().is_some_and(|c| c != "EUR") {
        warnings.push("invoice currency is not EUR: amounts are read as EUR".to_owned());
    }
    let header_beneficiary = header(HEADER_BENEFICIARY);
    let mut lines = Vec::new();
    for (index, line) in scanned.groups.iter().enumerate() {
        let number = index + 1;
        let leaf = |slot: usize| line.get(slot).and_then(Option::as_ref);
        let mut line_problem: Option<MessageProblem> = None;
        let mut note = |p: MessageProblem| {
            if line_problem.is_none() {
                line_problem = Some(p);
            }
        };
        let mut number_of =
            |slot: usize, what: &str, convert: &dyn Fn(Decimal) -> Option<Decimal>| {
                let l = leaf(slot)?;
                let text = l.value()?;
                let parsed = parse_decimal(text).and_then(convert);
                if parsed.is_none() {
                    let shown: String = text.chars().take(40).collect();
                    note(problem(
                        &ROOT,
                        scanned,
                        g(slot),
                        LINE_ITEM,
                        number,
                        Some(positions.of(l)),
                        format!("unreadable {what} '{shown}'"),
                    ));
                }
                parsed
            };
        let billed = number_of(QUANTITY, "billed hours", &Some);
        let billed_minutes = billed.and_then(hours_to_minutes);
        let hourly_rate = number_of(RATE, "hourly rate", &Some);
        let amount = number_of(AMOUNT, "line amount", &Some);
        let plan_ref = value(leaf(PLAN_REF)).or_else(|| {
            if scanned.groups.len() == 1 {
                header(ORDER_REF)
            } else {
                None
            }
        });
        if plan_ref.is_none() {
            note(problem(
                &ROOT,
                scanned,
                g(PLAN_REF),
                LINE_ITEM,
                number,
                None,
                "no plan reference (BuyerOrderReferencedCIReferencedDocument/LineID)".to_owned(),
            ));
        }
        lines.push(InvoiceMessageLine {
            line_id: value(leaf(LINE_ID)),
            plan_ref,
            beneficiary_id: value(leaf(BENEFICIARY)).or_else(|| header_beneficiary.clone()),
            aid_type: value(leaf(PRODUCT)),
            billed_minutes,
            hourly_rate,
            amount,
            problem: line_problem,
        });
    }
    InvoiceMessage {
        id,
        type_code,
        kind,
        seller_id: header(SELLER_ID),
        seller_siret: header(SELLER_SIRET),
        buyer_id: header(BUYER_ID),
        order_ref: header(ORDER_REF),
        month,
        currency,
        line_total,
        grand_total,
        due_payable,
        lines,
        warnings,
        problem: first,
    }
}

/// Writes the gateway's invoice as an `invoice` wrapper holding one
/// `CrossIndustryInvoice`.
pub fn write_invoice(invoice: &InvoiceDocument) -> io::Result<Vec<u8>> {
    let mut out = Out::new()?;
    out.open_with(
        "rsm:invoice",
        &[
            ("versionID", "1.4"),
            ("xmlns:rsm", super::NS_INVOICE),
            ("xmlns:ram", super::NS_RAM),
            ("xmlns:pie", super::NS_PIE),
            ("xmlns:qdt", super::NS_QDT),
        ],
    )?;
    out.open("rsm:CrossIndustryInvoice")?;
    out.open("rsm:CIIHExchangedDocumentContext")?;
    out.leaf("ram:VersionID", "1.4")?;
    out.leaf("ram:SpecifiedTransactionID", &invoice.id)?;
    out.close("rsm:CIIHExchangedDocumentContext")?;
    out.open("rsm:CIIHExchangedDocument")?;
    out.leaf("ram:ID", &invoice.id)?;
    out.leaf("ram:TypeCode", invoice.kind.type_code())?;
    out.leaf(
        "ram:IssueDateTime",
        &invoice.issued_at.format("%Y-%m-%dT%H:%M:%S").to_string(),
    )?;
    out.close("rsm:CIIHExchangedDocument")?;
    out.open("rsm:CIIHSupplyChainTradeTransaction")?;
    out.open("ram:ApplicableCIIHSupplyChainTradeAgreement")?;
    out.open("ram:SellerCITradeParty")?;
    out.leaf("pie:ID", invoice.saad.siret.as_str())?;
    out.leaf("pie:Name", &invoice.saad.name)?;
    out.leaf("pie:SIRET", invoice.saad.siret.as_str())?;
    out.close("ram:SellerCITradeParty")?;
    out.open("ram:BuyerCITradeParty")?;
    out.leaf("pie:ID", &invoice.financer.id)?;
    out.leaf("pie:Name", &invoice.financer.name)?;
    out.close("ram:BuyerCITradeParty")?;
    out.close("ram:ApplicableCIIHSupplyChainTradeAgreement")?;
    out.open("ram:ApplicableCIIHSupplyChainTradeDelivery")?;
    out.open("ram:ActualDeliveryCISupplyChainEvent")?;
    out.open("ram:OccurrenceCISpecifiedPeriod")?;
    out.leaf(
        "qdt:StartDateTime",
        &format!("{}T00:00:00", invoice.month.first_day().format("%Y-%m-%d")),
    )?;
    out.leaf(
        "qdt:EndDateTime",
        &format!("{}T23:59:59", invoice.month.last_day().format("%Y-%m-%d")),
    )?;
    out.close("ram:OccurrenceCISpecifiedPeriod")?;
    out.close("ram:ActualDeliveryCISupplyChainEvent")?;
    out.close("ram:ApplicableCIIHSupplyChainTradeDelivery")?;
    out.open("ram:ApplicableCIIHSupplyChainTradeSettlement")?;
    out.leaf("ram:InvoiceCurrencyCode", "EUR")?;
    out.open("ram:SpecifiedCIIHTradeSettlementMonetarySummation")?;
    let line_total: Decimal = invoice.lines.iter().map(|l| l.amount).sum();
    let eur = [("currencyID", "EUR")];
    out.leaf_with("ram:LineTotalAmount", &eur, &amount(line_total))?;
    out.leaf_with("ram:GrandTotalAmount", &eur, &amount(invoice.total))?;
    out.leaf_with("ram:DuePayableAmount", &eur, &amount(invoice.total))?;
    out.close("ram:SpecifiedCIIHTradeSettlementMonetarySummation")?;
    out.close("ram:ApplicableCIIHSupplyChainTradeSettlement")?;
    for (index, line) in invoice.lines.iter().enumerate() {
        out.open(&format!("ram:{LINE_ITEM}"))?;
        out.open("ram:AssociatedCIILDocumentLineDocument")?;
        out.leaf("ram:LineID", &(index + 1).to_string())?;
        out.close("ram:AssociatedCIILDocumentLineDocument")?;
        out.open("ram:SpecifiedCIILSupplyChainTradeAgreement")?;
        out.open("ram:BuyerOrderReferencedCIReferencedDocument")?;
        out.leaf("ram:LineID", &line.plan_ref)?;
        out.close("ram:BuyerOrderReferencedCIReferencedDocument")?;
        out.open("ram:NetPriceProductCITradePrice")?;
        out.leaf_with("ram:ChargeAmount", &eur, &amount(line.hourly_rate))?;
        out.close("ram:NetPriceProductCITradePrice")?;
        out.close("ram:SpecifiedCIILSupplyChainTradeAgreement")?;
        out.open("ram:SpecifiedCIILSupplyChainTradeDelivery")?;
        out.leaf_with(
            "ram:BilledQuantity",
            &[("unitCode", "HUR")],
            &hours(line.billed_minutes),
        )?;
        out.open("ram:ShipToCITradeParty")?;
        out.leaf("pie:ID", &line.beneficiary_id)?;
        out.close("ram:ShipToCITradeParty")?;
        out.close("ram:SpecifiedCIILSupplyChainTradeDelivery")?;
        out.open("ram:SpecifiedCIILSupplyChainTradeSettlement")?;
        out.open("ram:SpecifiedCIILTradeSettlementMonetarySummation")?;
        out.leaf_with("ram:LineTotalAmount", &eur, &amount(line.amount))?;
        out.close("ram:SpecifiedCIILTradeSettlementMonetarySummation")?;
        out.close("ram:SpecifiedCIILSupplyChainTradeSettlement")?;
        out.open("ram:SpecifiedCITradeProduct")?;
        out.leaf_with(
            "qdt:ID",
            &edess_list("ESPPADOM_TYPE_AIDE"),
            invoice.aid_type.code(),
        )?;
        out.close("ram:SpecifiedCITradeProduct")?;
        out.close(&format!("ram:{LINE_ITEM}"))?;
    }
    out.close("rsm:CIIHSupplyChainTradeTransaction")?;
    out.close("rsm:CrossIndustryInvoice")?;
    out.close("rsm:invoice")?;
    Ok(out.finish())
}
