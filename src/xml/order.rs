//! ORDER (plan d'aide): reader to [`OrderPlan`]s and writer from
//! [`PlanVersion`]s (esppadom.md §4).
//!
//! An ORDER cannot carry the GIR, the participation or coverage rate, the
//! household, the monthly amount or the version number: [`OrderPlan`] leaves
//! them absent, for the gateway to complete from the previous version
//! (rules.md R7 `PLAN_INCOMPLETE`). Names, birth dates and addresses of the
//! beneficiary are never read; the writer never writes them.

use std::io;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::model::{MessageProblem, PlanVersion};
use crate::domain::time::Stamp;
use crate::domain::types::Household;

use super::MessageKind;
use super::delivery::{hours_to_minutes, parse_decimal};
use super::error::{Limits, Pos, XmlError};
use super::scan::{
    Document, Leaf, Node, Positions, Scanned, Shape, Slot, branch, group, leaf, path_of,
};
use super::write::{Out, amount, edess_list, hours};

const VERSION: usize = 0;
const TRANSACTION: usize = 1;
const ORDER_ID: usize = 2;
const ISSUE: usize = 3;
const VALID_FROM: usize = 4;
const VALID_TO: usize = 5;
const SELLER_ID: usize = 6;
const SELLER_SIRET: usize = 7;
const BUYER_ID: usize = 8;
const BENEFICIARY: usize = 9;
const HEADER_SLOTS: usize = 10;

const LINE_ID: usize = 0;
const RATE: usize = 1;
const QUANTITY: usize = 2;
const CADRE: usize = 3;
const PRODUCT: usize = 4;
const GROUP_SLOTS: usize = 5;

const fn h(index: usize) -> Slot {
    Slot::Header(index)
}
const fn g(index: usize) -> Slot {
    Slot::Group(index)
}

const LINE_ITEM: &str = "IncludedCIOLSupplyChainTradeLineItem";

static ROOT: Node = branch(
    "CrossIndustryOrder",
    &[
        branch(
            "CIOHExchangedDocumentContext",
            &[
                leaf("VersionID", h(VERSION)),
                leaf("SpecifiedTransactionID", h(TRANSACTION)),
            ],
        ),
        branch(
            "CIOHExchangedDocument",
            &[
                leaf("ID", h(ORDER_ID)),
                leaf("IssueDateTime", h(ISSUE)),
                branch(
                    "EffectiveCISpecifiedPeriod",
                    &[
                        leaf("StartDateTime", h(VALID_FROM)),
                        leaf("EndDateTime", h(VALID_TO)),
                    ],
                ),
            ],
        ),
        branch(
            "CIOHSupplyChainTradeTransaction",
            &[
                branch(
                    "ApplicableCIOHSupplyChainTradeAgreement",
                    &[
                        branch(
                            "SellerCITradeParty",
                            &[leaf("ID", h(SELLER_ID)), leaf("SIRET", h(SELLER_SIRET))],
                        ),
                        branch("BuyerCITradeParty", &[leaf("ID", h(BUYER_ID))]),
                    ],
                ),
                branch(
                    "ApplicableCIOHSupplyChainTradeDelivery",
                    &[branch("ShipToCITradeParty", &[leaf("ID", h(BENEFICIARY))])],
                ),
                group(
                    LINE_ITEM,
                    &[
                        branch(
                            "AssociatedCIOLDocumentLineDocument",
                            &[leaf("LineID", g(LINE_ID))],
                        ),
                        branch(
                            "SpecifiedCIOLSupplyChainTradeAgreement",
                            &[branch(
                                "NetPriceProductCITradePrice",
                                &[leaf("ChargeAmount", g(RATE))],
                            )],
                        ),
                        branch(
                            "SpecifiedCIOLSupplyChainTradeDelivery",
                            &[leaf("RequestedQuantity", g(QUANTITY))],
                        ),
                        branch(
                            "SpecifiedCIOLSupplyChainTradeSettlement",
                            &[leaf("CadreIntervention", g(CADRE))],
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

/// One plan line of an ORDER, as far as ORDER can carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderPlan {
    /// ORDER document id (`CIOHExchangedDocument/ID`).
    pub order_id: Option<String>,
    /// Plan reference: the line's `LineID` (echoed as DELIVERY `OrderLineID`).
    pub plan_ref: String,
    /// Beneficiary id (`ShipToCITradeParty/ID`).
    pub beneficiary_id: String,
    /// SAAD id on the platform (`SellerCITradeParty/ID`).
    pub saad_id: Option<String>,
    /// SAAD SIRET as sent (`SellerCITradeParty/SIRET`), unchecked.
    pub saad_siret: Option<String>,
    /// Financer id (`BuyerCITradeParty/ID`).
    pub financer_id: Option<String>,
    /// Aid type as sent (`SpecifiedCITradeProduct/ID`).
    pub aid_type: Option<String>,
    /// First day, inclusive.
    pub valid_from: Option<NaiveDate>,
    /// Last day, inclusive (the date of `EndDateTime`, whatever its time).
    pub valid_to: Option<NaiveDate>,
    /// Minutes per month: `round(RequestedQuantity × 60)`.
    pub monthly_minutes: Option<u32>,
    /// Hourly rate (`ChargeAmount`), EUR.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub hourly_rate: Option<Decimal>,
    /// Not carried by ORDER: always `None`.
    pub gir: Option<u8>,
    /// Not carried by ORDER: always `None`.
    pub household: Option<Household>,
    /// Not carried by ORDER: always `None`.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub participation_rate: Option<Decimal>,
    /// Not carried by ORDER: always `None`.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub coverage_rate: Option<Decimal>,
    /// Not carried by ORDER: always `None`.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub monthly_amount: Option<Decimal>,
    /// Not carried by ORDER: always `None`.
    pub version: Option<u32>,
    /// Unknown code values and other remarks.
    pub warnings: Vec<String>,
    /// Set when this plan line is unusable.
    pub problem: Option<MessageProblem>,
}

/// The parties and header of an ORDER file the gateway writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderParties {
    /// Transaction id of the exchange.
    pub transaction_id: String,
    /// Issue date-time, Europe/Paris wall clock.
    pub issued_at: NaiveDateTime,
    /// The SAAD's id on the platform.
    pub saad_id: String,
    /// The SAAD's name.
    pub saad_name: String,
    /// The financer's id (e.g. `CD99`).
    pub financer_id: String,
    /// The financer's name.
    pub financer_name: String,
}

/// A day from an ORDER date or date-time (its Paris date; time ignored).
pub(crate) fn parse_day(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::from_str(text)
        .ok()
        .or_else(|| Stamp::parse(text).ok().map(|s| s.paris_day()))
}

/// Locates problems inside a message (first one kept per target).
pub(crate) fn problem(
    root: &Node,
    scanned: &Scanned,
    slot: Slot,
    group_name: &str,
    group_index: usize,
    pos: Option<Pos>,
    message: String,
) -> MessageProblem {
    let relative =
        path_of(root, slot).replacen(group_name, &format!("{group_name}[{group_index}]"), 1);
    let pos = pos.unwrap_or(scanned.start);
    MessageProblem {
        message,
        path: format!("{}/{}", scanned.path(), relative),
        line: pos.line,
        column: pos.column,
    }
}

fn value(leaf: Option<&Leaf>) -> Option<String> {
    leaf.and_then(Leaf::value).map(str::to_owned)
}

/// Reads an ORDER file: one [`OrderPlan`] per line item of each message.
pub fn read_order(bytes: &[u8]) -> Result<Vec<OrderPlan>, XmlError> {
    let limits = Limits {
        max_document_bytes: bytes.len() as u64,
        ..Limits::default()
    };
    let mut document = Document::new(bytes, MessageKind::Order, &SHAPE, limits);
    let mut plans = Vec::new();
    let mut scanned = Scanned::default();
    while document.next_message(&mut scanned)? {
        map_message(&scanned, &document.cursor.positions(), &mut plans);
    }
    Ok(plans)
}

fn map_message(scanned: &Scanned, positions: &Positions<'_>, plans: &mut Vec<OrderPlan>) {
    let header = |slot| value(scanned.header(slot));
    let mut header_problem: Option<MessageProblem> = None;
    let mut first = |p: MessageProblem| {
        if header_problem.is_none() {
            header_problem = Some(p);
        }
    };
    let day = |slot: usize,
               what: &str,
               first: &mut dyn FnMut(MessageProblem)|
     -> Option<NaiveDate> {
        let leaf = scanned.header(slot)?;
        let text = leaf.value()?;
        let parsed = parse_day(text);
        if parsed.is_none() {
            let shown: String = text.chars().take(40).collect();
            first(problem(
                &ROOT,
                scanned,
                h(slot),
                LINE_ITEM,
                0,
                Some(positions.of(leaf)),
                format!("unreadable {what} '{shown}': expected YYYY-MM-DD or YYYY-MM-DDThh:mm:ss"),
            ));
        }
        parsed
    };
    let valid_from = day(VALID_FROM, "plan start", &mut first);
    let valid_to = day(VALID_TO, "plan end", &mut first);
    let beneficiary_id = header(BENEFICIARY).unwrap_or_default();
    if beneficiary_id.is_empty() {
        first(problem(
            &ROOT,
            scanned,
            h(BENEFICIARY),
            LINE_ITEM,
            0,
            None,
            "no beneficiary id (ShipToCITradeParty/ID)".to_owned(),
        ));
    }
    if scanned.groups.is_empty() {
        first(problem(
            &ROOT,
            scanned,
            h(ORDER_ID),
            LINE_ITEM,
            0,
            None,
            "the ORDER has no line item (IncludedCIOLSupplyChainTradeLineItem): nothing to import"
                .to_owned(),
        ));
        plans.push(OrderPlan {
            order_id: header(ORDER_ID),
            plan_ref: header(ORDER_ID).unwrap_or_default(),
            beneficiary_id,
            saad_id: header(SELLER_ID),
            saad_siret: header(SELLER_SIRET),
            financer_id: header(BUYER_ID),
            aid_type: None,
            valid_from,
            valid_to,
            monthly_minutes: None,
            hourly_rate: None,
            gir: None,
            household: None,
            participation_rate: None,
            coverage_rate: None,
            monthly_amount: None,
            version: None,
            warnings: Vec::new(),
            problem: header_problem,
        });
        return;
    }
    for (index, line) in scanned.groups.iter().enumerate() {
        let number = index + 1;
        let leaf = |slot: usize| line.get(slot).and_then(Option::as_ref);
        let mut line_problem = header_problem.clone();
        let mut first = |p: MessageProblem| {
            if line_problem.is_none() {
                line_problem = Some(p);
            }
        };
        let mut warnings = Vec::new();
        let plan_ref = value(leaf(LINE_ID))
            .or_else(|| header(ORDER_ID))
            .unwrap_or_default();
        if plan_ref.is_empty() {
            first(problem(
                &ROOT,
                scanned,
                g(LINE_ID),
                LINE_ITEM,
                number,
                None,
                "no plan reference (line LineID)".to_owned(),
            ));
        }
        let monthly_minutes = leaf(QUANTITY).and_then(|l| l.value().map(|v| (l, v))).and_then(|(l, v)| {
            let minutes = parse_decimal(v)
                .and_then(hours_to_minutes)
                .and_then(|m| u32::try_from(m).ok());
            if minutes.is_none() {
                let shown: String = v.chars().take(40).collect();
                first(problem(&ROOT, scanned, g(QUANTITY), LINE_ITEM, number, Some(positions.of(l)), format!("unreadable monthly hours '{shown}': expected a non-negative decimal number of hours")));
            }
            if l.unit_code.as_deref().is_some_and(|u| u != "HUR") {
                warnings.push("RequestedQuantity unit is not HUR: read as hours".to_owned());
            }
            minutes
        });
        let hourly_rate = leaf(RATE).and_then(|l| l.value().map(|v| (l, v))).and_then(|(l, v)| {
            let rate = parse_decimal(v);
            if rate.is_none() {
                let shown: String = v.chars().take(40).collect();
                first(problem(&ROOT, scanned, g(RATE), LINE_ITEM, number, Some(positions.of(l)), format!("unreadable hourly rate '{shown}': expected a decimal amount such as 24.00")));
            }
            rate
        });
        if let Some(cadre) = value(leaf(CADRE)) {
            if cadre != "PRE" {
                let shown: String = cadre.chars().take(40).collect();
                warnings.push(format!("unknown value '{shown}' in code list ESPPADOM_CADRE: stored, not used (known: PRE)"));
            }
        }
        plans.push(OrderPlan {
            order_id: header(ORDER_ID),
            plan_ref,
            beneficiary_id: beneficiary_id.clone(),
            saad_id: header(SELLER_ID),
            saad_siret: header(SELLER_SIRET),
            financer_id: header(BUYER_ID),
            aid_type: value(leaf(PRODUCT)),
            valid_from,
            valid_to,
            monthly_minutes,
            hourly_rate,
            gir: None,
            household: None,
            participation_rate: None,
            coverage_rate: None,
            monthly_amount: None,
            version: None,
            warnings,
            problem: line_problem,
        });
    }
}

/// Writes an ORDER file: an `order` wrapper with one `CrossIndustryOrder`
/// per plan version given (plan id = document id = line id).
pub fn write_order(plans: &[PlanVersion], parties: &OrderParties) -> io::Result<Vec<u8>> {
    let mut out = Out::new()?;
    out.open_with(
        "rsm:order",
        &[
            ("versionID", "1.4"),
            ("xmlns:rsm", super::NS_ORDER),
            ("xmlns:ram", super::NS_RAM),
            ("xmlns:pie", super::NS_PIE),
            ("xmlns:qdt", super::NS_QDT),
        ],
    )?;
    let issued = parties.issued_at.format("%Y-%m-%dT%H:%M:%S").to_string();
    for plan in plans {
        out.open("rsm:CrossIndustryOrder")?;
        out.open("rsm:CIOHExchangedDocumentContext")?;
        out.leaf("ram:VersionID", "1.4")?;
        out.leaf("ram:SpecifiedTransactionID", &parties.transaction_id)?;
        out.close("rsm:CIOHExchangedDocumentContext")?;
        out.open("rsm:CIOHExchangedDocument")?;
        out.leaf("ram:ID", &plan.plan_ref)?;
        out.leaf("ram:IssueDateTime", &issued)?;
        out.open("ram:EffectiveCISpecifiedPeriod")?;
        out.leaf(
            "ram:StartDateTime",
            &format!("{}T00:00:00", plan.valid_from.format("%Y-%m-%d")),
        )?;
        out.leaf(
            "ram:EndDateTime",
            &format!("{}T23:59:59", plan.valid_to.format("%Y-%m-%d")),
        )?;
        out.close("ram:EffectiveCISpecifiedPeriod")?;
        out.close("rsm:CIOHExchangedDocument")?;
        out.open("rsm:CIOHSupplyChainTradeTransaction")?;
        out.open("ram:ApplicableCIOHSupplyChainTradeAgreement")?;
        out.open("ram:SellerCITradeParty")?;
        out.leaf("pie:ID", &parties.saad_id)?;
        out.leaf("pie:Name", &parties.saad_name)?;
        out.leaf("pie:SIRET", plan.saad_siret.as_str())?;
        out.close("ram:SellerCITradeParty")?;
        out.open("ram:BuyerCITradeParty")?;
        out.leaf("pie:ID", &parties.financer_id)?;
        out.leaf("pie:Name", &parties.financer_name)?;
        out.close("ram:BuyerCITradeParty")?;
        out.close("ram:ApplicableCIOHSupplyChainTradeAgreement")?;
        out.open("ram:ApplicableCIOHSupplyChainTradeDelivery")?;
        out.open("ram:ShipToCITradeParty")?;
        out.leaf("pie:ID", &plan.beneficiary_id)?;
        out.close("ram:ShipToCITradeParty")?;
        out.close("ram:ApplicableCIOHSupplyChainTradeDelivery")?;
        out.open(&format!("ram:{LINE_ITEM}"))?;
        out.open("ram:AssociatedCIOLDocumentLineDocument")?;
        out.leaf("ram:LineID", &plan.plan_ref)?;
        out.close("ram:AssociatedCIOLDocumentLineDocument")?;
        out.open("ram:SpecifiedCIOLSupplyChainTradeAgreement")?;
        out.open("ram:NetPriceProductCITradePrice")?;
        out.leaf_with(
            "ram:ChargeAmount",
            &[("currencyID", "EUR")],
            &amount(plan.hourly_rate),
        )?;
        out.close("ram:NetPriceProductCITradePrice")?;
        out.close("ram:SpecifiedCIOLSupplyChainTradeAgreement")?;
        out.open("ram:SpecifiedCIOLSupplyChainTradeDelivery")?;
        out.leaf_with(
            "ram:RequestedQuantity",
            &[("unitCode", "HUR")],
            &hours(i64::from(plan.monthly_minutes)),
        )?;
        out.close("ram:SpecifiedCIOLSupplyChainTradeDelivery")?;
        out.open("ram:SpecifiedCIOLSupplyChainTradeSettlement")?;
        out.leaf_with(
            "ram:CadreIntervention",
            &edess_list("ESPPADOM_CADRE"),
            "PRE",
        )?;
        out.close("ram:SpecifiedCIOLSupplyChainTradeSettlement")?;
        out.open("ram:SpecifiedCITradeProduct")?;
        out.leaf_with(
            "qdt:ID",
            &edess_list("ESPPADOM_TYPE_AIDE"),
            plan.aid_type.code(),
        )?;
        out.close("ram:SpecifiedCITradeProduct")?;
        out.close(&format!("ram:{LINE_ITEM}"))?;
        out.close("rsm:CIOHSupplyChainTradeTransaction")?;
        out.close("rsm:CrossIndustryOrder")?;
    }
    out.close("rsm:order")?;
    Ok(out.finish())
}
