//! DELIVERY reader: ESPPADOM `CrossIndustryDespatchAdvice` messages to
//! [`InterventionSubmission`]s, following rules.md "ESPPADOM mapping".
//!
//! [`DeliveryReader`] streams one [`DeliveryLine`] per message from any
//! `BufRead`, holding one message at a time; [`read_delivery`] reads a whole
//! byte slice. What makes one intervention unusable (a missing period, an
//! unreadable date, an unknown `TypeCode`) becomes that line's
//! [`MessageProblem`]; what makes the document unreadable (malformed XML, a
//! DTD, an unknown namespace, a message without its id) is an [`XmlError`]
//! that ends the reading. Person names (`PersonName`, `Name`, `FirstName`,
//! `LastName`, `BirthDate`, addresses) are never read into any value.

use std::io::BufRead;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::domain::model::{InterventionSubmission, LineAction, MessageProblem};
use crate::domain::params::RoundingRule;
use crate::domain::time::{Stamp, resolve_period, truncate_to_minute};
use crate::domain::types::WorkerId;

use super::MessageKind;
use super::error::{Limits, Pos, XmlError, XmlErrorKind};
use super::scan::{Document, Leaf, Node, Positions, Scanned, Shape, Slot, branch, leaf, path_of};

const VERSION: usize = 0;
const TRANSACTION: usize = 1;
const ID: usize = 2;
const ISSUE: usize = 3;
const ISSUER: usize = 4;
const BENEFICIARY: usize = 5;
const SAAD_ID: usize = 6;
const SAAD_SIRET: usize = 7;
const WORKER: usize = 8;
const CONTACT_TYPE: usize = 9;
const TYPE_CODE: usize = 10;
const RETAINED_START: usize = 11;
const RETAINED_END: usize = 12;
const RAW_START: usize = 13;
const RAW_START_CUSTOMER: usize = 14;
const RAW_START_SUPPLIER: usize = 15;
const RAW_END: usize = 16;
const RAW_END_CUSTOMER: usize = 17;
const RAW_END_SUPPLIER: usize = 18;
const LINE_ID: usize = 19;
const ORDER_LINE: usize = 20;
const BILLED: usize = 21;
const CADRE: usize = 22;
const PRODUCT: usize = 23;
const SLOTS: usize = 24;

const fn h(index: usize) -> Slot {
    Slot::Header(index)
}

static STAMP_START: [Node; 3] = [
    leaf("CertifiedDateTime", h(RAW_START)),
    leaf("CustomerIdentificationMethod", h(RAW_START_CUSTOMER)),
    leaf("SupplierIdentificationMethod", h(RAW_START_SUPPLIER)),
];
static STAMP_END: [Node; 3] = [
    leaf("CertifiedDateTime", h(RAW_END)),
    leaf("CustomerIdentificationMethod", h(RAW_END_CUSTOMER)),
    leaf("SupplierIdentificationMethod", h(RAW_END_SUPPLIER)),
];

static ROOT: Node = branch(
    "CrossIndustryDespatchAdvice",
    &[
        branch(
            "CIDDHExchangedDocumentContext",
            &[
                leaf("VersionID", h(VERSION)),
                leaf("SpecifiedTransactionID", h(TRANSACTION)),
            ],
        ),
        branch(
            "CIDDHExchangedDocument",
            &[leaf("ID", h(ID)), leaf("IssueDateTime", h(ISSUE))],
        ),
        branch(
            "CIDDHSupplyChainTradeTransaction",
            &[
                branch(
                    "ApplicableCIDDHSupplyChainTradeAgreement",
                    &[branch(
                        "BuyerOrderReferencedCIReferencedDocument",
                        &[branch("IssuerCITradeParty", &[leaf("ID", h(ISSUER))])],
                    )],
                ),
                branch(
                    "ApplicableCIDDHSupplyChainTradeDelivery",
                    &[
                        branch("ShipToCITradeParty", &[leaf("ID", h(BENEFICIARY))]),
                        branch(
                            "ShipFromCITradeParty",
                            &[
                                leaf("ID", h(SAAD_ID)),
                                leaf("SIRET", h(SAAD_SIRET)),
                                branch(
                                    "DefinedCITradeContact",
                                    &[leaf("ID", h(WORKER)), leaf("TypeCode", h(CONTACT_TYPE))],
                                ),
                            ],
                        ),
                        branch(
                            "ActualDespatchCISupplyChainEvent",
                            &[
                                leaf("TypeCode", h(TYPE_CODE)),
                                branch(
                                    "OccurrenceCISpecifiedPeriod",
                                    &[
                                        leaf("StartDateTime", h(RETAINED_START)),
                                        leaf("EndDateTime", h(RETAINED_END)),
                                    ],
                                ),
                            ],
                        ),
                        branch(
                            "AdditionalReferencedCIReferencedDocument",
                            &[branch(
                                "EffectiveCISpecifiedPeriod",
                                &[
                                    branch("StartDateTime", &STAMP_START),
                                    branch("EndDateTime", &STAMP_END),
                                ],
                            )],
                        ),
                    ],
                ),
                branch(
                    "IncludedCIDDLSupplyChainTradeLineItem",
                    &[
                        branch(
                            "AssociatedCIDDLDocumentLineDocument",
                            &[
                                leaf("LineID", h(LINE_ID)),
                                leaf("OrderLineID", h(ORDER_LINE)),
                            ],
                        ),
                        branch(
                            "SpecifiedCIDDLSupplyChainTradeDelivery",
                            &[leaf("BilledQuantity", h(BILLED))],
                        ),
                        branch(
                            "SpecifiedCIDDLSupplyChainTradeSettlement",
                            &[leaf("CadreIntervention", h(CADRE))],
                        ),
                        branch("SpecifiedCITradeProduct", &[leaf("ID", h(PRODUCT))]),
                    ],
                ),
            ],
        ),
    ],
);

static SHAPE: Shape = Shape {
    root: &ROOT,
    header_slots: SLOTS,
    group_slots: 0,
};

/// Values of `ESPPADOM_EFFECTIVITY_AJUST` (esppadom.md §7).
pub const EFFECTIVITY_AJUST: &[&str] = &["CRE", "MDT", "SUP", "COA", "COD", "CO2", "HOR"];
/// Known values of `ESPPADOM_CADRE`.
pub const CADRE_VALUES: &[&str] = &["PRE"];
/// Known values of `ESPPADOM_TIMESTAMP_METHOD`.
pub const TIMESTAMP_METHOD_VALUES: &[&str] = &["BDG"];
/// Known values of `ESPPADOM_CONTACT_PRESTATAIRE`.
pub const CONTACT_VALUES: &[&str] = &["INT"];
/// Message versions accepted without a warning.
pub const VERSIONS: &[&str] = &["1.3", "1.4"];

/// Warning of a line without worker id (rules.md "ESPPADOM mapping").
pub const NO_WORKER_WARNING: &str = "no worker id: the worker-overlap check is skipped";

/// One DELIVERY message: the submission plus what the header says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryLine {
    /// 1-based index of the message in the document.
    pub index: usize,
    /// The intervention, mapped per rules.md "ESPPADOM mapping".
    pub submission: InterventionSubmission,
    /// `SpecifiedTransactionID` of this message.
    pub transaction_id: Option<String>,
    /// `IssueDateTime` of this message, when readable.
    pub issue_date_time: Option<Stamp>,
    /// Département id (`IssuerCITradeParty/ID`).
    pub financer_id: Option<String>,
    /// SAAD id on the platform (`ShipFromCITradeParty/ID`).
    pub saad_id: Option<String>,
    /// SAAD SIRET as sent (`ShipFromCITradeParty/SIRET`), unchecked.
    pub saad_siret: Option<String>,
    /// Message version (`VersionID`).
    pub version: Option<String>,
    /// `BilledQuantity` converted to minutes (`round(hours × 60)`), when readable.
    pub billed_minutes: Option<i64>,
    /// Line of the message's start tag.
    pub line: u64,
    /// Column of the message's start tag.
    pub column: u64,
}

/// A whole DELIVERY document.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Delivery {
    /// Transmission id: `SpecifiedTransactionID` of the first message.
    pub transmission_id: Option<String>,
    /// `IssueDateTime` of the first message.
    pub issue_date_time: Option<Stamp>,
    /// One line per message, in document order.
    pub lines: Vec<DeliveryLine>,
}

/// Streaming DELIVERY reader: an iterator of lines; stops after the first
/// [`XmlError`].
pub struct DeliveryReader<R> {
    document: Document<R>,
    /// The message being read, reused from one message to the next.
    scanned: Scanned,
    rounding: RoundingRule,
    failed: bool,
}

impl<R: BufRead> DeliveryReader<R> {
    /// A reader with the default [`Limits`].
    pub fn new(input: R) -> Self {
        Self::with_limits(input, Limits::default())
    }

    /// A reader with explicit limits (set `max_document_bytes` from the
    /// request's body limit).
    pub fn with_limits(input: R, limits: Limits) -> Self {
        Self {
            document: Document::new(input, MessageKind::Delivery, &SHAPE, limits),
            scanned: Scanned::default(),
            rounding: RoundingRule {
                step_minutes: 15,
                pivot_minute: 7,
            },
            failed: false,
        }
    }

    /// The R1 rounding rule used only for the `BilledQuantity` plausibility
    /// warning (default: 15-minute step, 7th-minute pivot).
    pub fn with_rounding(mut self, rounding: RoundingRule) -> Self {
        self.rounding = rounding;
        self
    }

    /// The next line, `Ok(None)` at the end of the document.
    pub fn next_line(&mut self) -> Result<Option<DeliveryLine>, XmlError> {
        if self.failed {
            return Ok(None);
        }
        let result = self.read_next();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn read_next(&mut self) -> Result<Option<DeliveryLine>, XmlError> {
        if !self.document.next_message(&mut self.scanned)? {
            return Ok(None);
        }
        map_message(
            &self.scanned,
            &self.document.cursor.positions(),
            self.document.wrapper_version.as_deref(),
            self.rounding,
        )
        .map(Some)
    }
}

impl<R: BufRead> Iterator for DeliveryReader<R> {
    type Item = Result<DeliveryLine, XmlError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_line().transpose()
    }
}

/// Reads a whole DELIVERY held in memory (default limits, except the
/// document size, which is the slice's).
pub fn read_delivery(bytes: &[u8]) -> Result<Delivery, XmlError> {
    let limits = Limits {
        max_document_bytes: bytes.len() as u64,
        ..Limits::default()
    };
    let mut reader = DeliveryReader::with_limits(bytes, limits);
    let mut delivery = Delivery::default();
    while let Some(line) = reader.next_line()? {
        if delivery.lines.is_empty() {
            delivery.transmission_id = line.transaction_id.clone();
            delivery.issue_date_time = line.issue_date_time;
        }
        delivery.lines.push(line);
    }
    Ok(delivery)
}

/// Collects a line's problems: the first one is kept (it is what the SAAD
/// must fix first).
struct Problems<'a> {
    scanned: &'a Scanned,
    first: Option<MessageProblem>,
}

impl Problems<'_> {
    fn at(&mut self, slot: usize, pos: Option<Pos>, message: String) {
        if self.first.is_none() {
            let relative = path_of(&ROOT, Slot::Header(slot));
            let pos = pos.unwrap_or(self.scanned.start);
            self.first = Some(MessageProblem {
                message,
                path: format!("{}/{}", self.scanned.path(), relative),
                line: pos.line,
                column: pos.column,
            });
        }
    }
}

fn text(scanned: &Scanned, slot: usize) -> Option<String> {
    scanned
        .header(slot)
        .and_then(Leaf::value)
        .map(str::to_owned)
}

/// Parses a stamp leaf: `Ok(None)` when absent or empty.
fn stamp(
    scanned: &Scanned,
    positions: &Positions<'_>,
    slot: usize,
) -> Result<Option<Stamp>, (Pos, String)> {
    let Some(leaf) = scanned.header(slot) else {
        return Ok(None);
    };
    let Some(value) = leaf.value() else {
        return Ok(None);
    };
    if let Some(stamp) = plain_local_stamp(value) {
        return Ok(Some(stamp));
    }
    Stamp::parse(value)
        .map(Some)
        .map_err(|e| (positions.of(leaf), e.to_string()))
}

/// Fast path for the form every producer writes, `YYYY-MM-DDThh:mm:ss`
/// (local time, no offset): the same value `Stamp::parse` gives, without
/// chrono's format parser. Anything else returns `None` (use `Stamp::parse`).
fn plain_local_stamp(text: &str) -> Option<Stamp> {
    let b = text.as_bytes();
    if b.len() != 19
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || b.get(10) != Some(&b'T')
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return None;
    }
    let number = |from: usize, to: usize| -> Option<u32> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(0, 4)?).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, number(5, 7)?, number(8, 10)?)?;
    let time = chrono::NaiveTime::from_hms_opt(number(11, 13)?, number(14, 16)?, number(17, 19)?)?;
    Some(Stamp::Local(chrono::NaiveDateTime::new(date, time)))
}

fn code_warning(
    scanned: &Scanned,
    slot: usize,
    list: &str,
    known: &[&str],
    warnings: &mut Vec<String>,
) {
    if let Some(value) = scanned.header(slot).and_then(Leaf::value) {
        if !known.contains(&value) {
            let shown: String = value.chars().take(40).collect();
            warnings.push(format!(
                "unknown value '{shown}' in code list {list}: stored, not used (known: {})",
                known.join(", ")
            ));
        }
    }
}

/// Hours (decimal) to minutes, `round(x × 60)` half away from zero.
pub(crate) fn hours_to_minutes(hours: Decimal) -> Option<i64> {
    let minutes = hours
        .checked_mul(Decimal::from(60))?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero);
    i64::try_from(minutes).ok()
}

/// Parses a decimal as ESPPADOM writes it (`0.8666666666666667`, `2`, `1e-3`).
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    Decimal::from_str(text)
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

fn map_message(
    scanned: &Scanned,
    positions: &Positions<'_>,
    wrapper_version: Option<&str>,
    rounding: RoundingRule,
) -> Result<DeliveryLine, XmlError> {
    let Some(line_id) = text(scanned, ID) else {
        let relative = path_of(&ROOT, Slot::Header(ID));
        let pos = scanned
            .header(ID)
            .map_or(scanned.start, |l| positions.of(l));
        return Err(XmlError {
            kind: XmlErrorKind::MissingId,
            message: format!(
                "message {} has no intervention id (CIDDHExchangedDocument/ID): every intervention needs the stable id it has in the SAAD software; nothing in this file was accepted",
                scanned.index
            ),
            path: format!("{}/{}", scanned.path(), relative),
            line: pos.line,
            column: pos.column,
        });
    };
    let mut problems = Problems {
        scanned,
        first: None,
    };
    let mut warnings = Vec::new();

    for version in [text(scanned, VERSION).as_deref(), wrapper_version]
        .into_iter()
        .flatten()
    {
        if !VERSIONS.contains(&version) {
            let shown: String = version.chars().take(20).collect();
            let warning = format!("message version '{shown}' is not 1.3 or 1.4: read as 1.4");
            if !warnings.contains(&warning) {
                warnings.push(warning);
            }
        }
    }

    let beneficiary_id = text(scanned, BENEFICIARY).unwrap_or_default();
    if beneficiary_id.is_empty() {
        problems.at(
            BENEFICIARY,
            None,
            "no beneficiary id (ShipToCITradeParty/ID): give the beneficiary's file number"
                .to_owned(),
        );
    }
    let saad_id = text(scanned, SAAD_ID);
    if saad_id.is_none() {
        problems.at(
            SAAD_ID,
            None,
            "no SAAD id (ShipFromCITradeParty/ID): give the SAAD's id on the platform".to_owned(),
        );
    }
    let aid_type = text(scanned, PRODUCT);
    if aid_type.is_none() {
        problems.at(
            PRODUCT,
            None,
            "no aid type (SpecifiedCITradeProduct/ID): give APA, PCH or AM".to_owned(),
        );
    }

    let worker_id = match scanned
        .header(WORKER)
        .and_then(|l| l.value().map(|v| (l, v)))
    {
        None => {
            warnings.push(NO_WORKER_WARNING.to_owned());
            None
        }
        Some((leaf, value)) => match WorkerId::parse(value) {
            Ok(worker) => Some(worker),
            Err(error) => {
                let pos = positions.of(leaf);
                problems.at(WORKER, Some(pos), format!("invalid worker id: {error}"));
                None
            }
        },
    };

    code_warning(
        scanned,
        CADRE,
        "ESPPADOM_CADRE",
        CADRE_VALUES,
        &mut warnings,
    );
    for slot in [
        RAW_START_CUSTOMER,
        RAW_START_SUPPLIER,
        RAW_END_CUSTOMER,
        RAW_END_SUPPLIER,
    ] {
        code_warning(
            scanned,
            slot,
            "ESPPADOM_TIMESTAMP_METHOD",
            TIMESTAMP_METHOD_VALUES,
            &mut warnings,
        );
    }
    code_warning(
        scanned,
        CONTACT_TYPE,
        "ESPPADOM_CONTACT_PRESTATAIRE",
        CONTACT_VALUES,
        &mut warnings,
    );

    // Which rule of the mapping applies.
    let type_code = text(scanned, TYPE_CODE);
    enum Mapping {
        Raw,
        Corrected {
            reason: &'static str,
            drop_start: bool,
            drop_end: bool,
        },
        StampsOnly,
        Withdraw,
        Unknown,
    }
    let mapping = match type_code.as_deref() {
        None | Some("MDT") => Mapping::Raw,
        Some("COA") => Mapping::Corrected {
            reason: "FORGOTTEN",
            drop_start: true,
            drop_end: false,
        },
        Some("COD") => Mapping::Corrected {
            reason: "FORGOTTEN",
            drop_start: false,
            drop_end: true,
        },
        Some("CO2") => Mapping::Corrected {
            reason: "FORGOTTEN",
            drop_start: true,
            drop_end: true,
        },
        Some("CRE") => Mapping::Corrected {
            reason: "NO_DEVICE",
            drop_start: true,
            drop_end: true,
        },
        Some("HOR") => Mapping::StampsOnly,
        Some("SUP") => Mapping::Withdraw,
        Some(other) => {
            let shown: String = other.chars().take(40).collect();
            let pos = scanned.header(TYPE_CODE).map(|l| positions.of(l));
            problems.at(
                TYPE_CODE,
                pos,
                format!(
                    "unknown value '{shown}' in code list ESPPADOM_EFFECTIVITY_AJUST: accepted values are {} (or no TypeCode when the stamps count)",
                    EFFECTIVITY_AJUST.join(", ")
                ),
            );
            Mapping::Unknown
        }
    };
    let (drop_start, drop_end) = match mapping {
        Mapping::Corrected {
            drop_start,
            drop_end,
            ..
        } => (drop_start, drop_end),
        _ => (false, false),
    };

    let read_stamp = |slot: usize, problems: &mut Problems<'_>, what: &str| match stamp(
        scanned, positions, slot,
    ) {
        Ok(value) => value,
        Err((pos, message)) => {
            problems.at(slot, Some(pos), format!("unreadable {what}: {message}"));
            None
        }
    };
    let raw_start = if drop_start {
        None
    } else {
        read_stamp(RAW_START, &mut problems, "stamped arrival")
    };
    let raw_end = if drop_end {
        None
    } else {
        read_stamp(RAW_END, &mut problems, "stamped departure")
    };

    let needs_retained = matches!(mapping, Mapping::Raw | Mapping::Corrected { .. });
    let (retained_start, retained_end) = if needs_retained {
        let start = read_stamp(RETAINED_START, &mut problems, "retained start");
        let end = read_stamp(RETAINED_END, &mut problems, "retained end");
        if scanned
            .header(RETAINED_START)
            .and_then(Leaf::value)
            .is_none()
        {
            problems.at(
                RETAINED_START,
                None,
                "the retained period has no start (ActualDespatchCISupplyChainEvent/OccurrenceCISpecifiedPeriod/StartDateTime): it is required in every message".to_owned(),
            );
        }
        if scanned.header(RETAINED_END).and_then(Leaf::value).is_none() {
            problems.at(
                RETAINED_END,
                None,
                "the retained period has no end (ActualDespatchCISupplyChainEvent/OccurrenceCISpecifiedPeriod/EndDateTime): it is required in every message".to_owned(),
            );
        }
        (start, end)
    } else {
        (None, None)
    };

    let mut submission = InterventionSubmission {
        line_id,
        plan_ref: text(scanned, ORDER_LINE),
        beneficiary_id,
        worker_id,
        aid_type,
        raw_start,
        raw_end,
        declarative: Some(false),
        ..InterventionSubmission::default()
    };
    match mapping {
        Mapping::Raw | Mapping::Unknown => {
            if let (Some(rs), Some(re), Some(ts), Some(te)) =
                (raw_start, raw_end, retained_start, retained_end)
            {
                // Equal stamps resolve alike (the usual case): no time-zone work.
                let same = |a: Stamp, b: Stamp| {
                    a == b
                        || match (a.resolve_alone(), b.resolve_alone()) {
                            (Some(x), Some(y)) => truncate_to_minute(x) == truncate_to_minute(y),
                            _ => false,
                        }
                };
                if !same(rs, ts) || !same(re, te) {
                    warnings.push(format!(
                        "the retained period ({ts} – {te}) differs from the stamps ({rs} – {re}) without a correction code (TypeCode): the stamps count"
                    ));
                }
            }
        }
        Mapping::Corrected { reason, .. } => {
            submission.corrected_start = retained_start;
            submission.corrected_end = retained_end;
            submission.correction_reason = Some(reason.to_owned());
        }
        Mapping::StampsOnly => submission.action = LineAction::StampsOnly,
        Mapping::Withdraw => submission.action = LineAction::Withdraw,
    }

    // BilledQuantity is not trusted (esppadom.md §3.3): only a warning.
    let billed_minutes = match scanned
        .header(BILLED)
        .and_then(|l| l.value().map(|v| (l, v)))
    {
        None => None,
        Some((leaf, value)) => {
            if leaf.unit_code.as_deref().is_some_and(|u| u != "HUR") {
                let shown: String = leaf
                    .unit_code
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .take(20)
                    .collect();
                warnings.push(format!(
                    "BilledQuantity unit '{shown}' is not HUR (hours): the quantity is ignored"
                ));
                None
            } else {
                match parse_decimal(value).and_then(hours_to_minutes) {
                    Some(minutes) => Some(minutes),
                    None => {
                        let shown: String = value.chars().take(40).collect();
                        warnings.push(format!("BilledQuantity '{shown}' is not a number of hours: it is ignored (the gateway computes the minutes)"));
                        None
                    }
                }
            }
        }
    };
    if let (Some(billed), LineAction::Count) = (billed_minutes, submission.action) {
        let counted = match (
            submission.corrected_start.or(submission.raw_start),
            submission.corrected_end.or(submission.raw_end),
        ) {
            (Some(start), Some(end))
                if submission.correction_reason.is_some()
                    || submission.corrected_start.is_none() =>
            {
                resolve_period(start, end).ok().map(|p| p.minutes())
            }
            _ => None,
        };
        if let Some(counted) = counted {
            let rounded = rounding.round(counted);
            if (billed - counted).abs() > 1 && (billed - rounded).abs() > 1 {
                warnings.push(format!(
                    "BilledQuantity says {billed} min but the period counts {counted} min ({rounded} min rounded): the gateway pays its own count"
                ));
            }
        }
    }

    submission.warnings = warnings;
    submission.problem = problems.first;
    Ok(DeliveryLine {
        index: scanned.index,
        submission,
        transaction_id: text(scanned, TRANSACTION),
        issue_date_time: stamp(scanned, positions, ISSUE).ok().flatten(),
        financer_id: text(scanned, ISSUER),
        saad_id,
        saad_siret: text(scanned, SAAD_SIRET),
        version: text(scanned, VERSION).or_else(|| wrapper_version.map(str::to_owned)),
        billed_minutes,
        line: scanned.start.line,
        column: scanned.start.column,
    })
}

#[cfg(test)]
mod tests {
    use super::{Stamp, plain_local_stamp};

    #[test]
    fn plain_local_stamp_agrees_with_stamp_parse() {
        for text in [
            "2024-01-12T09:00:00",
            "2024-02-29T23:59:59",
            "1999-12-31T00:00:00",
        ] {
            assert_eq!(
                plain_local_stamp(text),
                Some(Stamp::parse(text).unwrap()),
                "{text}"
            );
        }
        for text in [
            "2023-02-29T10:00:00",
            "2024-01-12T24:00:00",
            "2024-01-12T09:00:00Z",
            "2024-01-12 09:00:00",
            "2024-01-12T09:00",
            "+024-01-12T09:00:00",
            "2024-01-12T09:0a:00",
        ] {
            assert_eq!(plain_local_stamp(text), None, "{text}");
        }
    }
}
