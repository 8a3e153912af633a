//! Identifiers and code lists of the domain (rules.md "Actors and objects").
//!
//! Every type here is parsed, never merely validated: once a value of one of
//! these types exists it is valid. Nothing here performs I/O.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// Error returned when a code or identifier cannot be parsed. The message is
/// written for the person who must fix the input (a SAAD's office or the
/// financer's staff).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseCodeError {
    /// Which list or identifier was expected (e.g. `aid type`).
    pub what: &'static str,
    /// The value received.
    pub value: String,
    /// A sentence naming the accepted values or the expected shape.
    pub message: String,
}

impl ParseCodeError {
    fn unknown(what: &'static str, value: &str, accepted: &[&str]) -> Self {
        Self {
            what,
            value: value.to_owned(),
            message: format!(
                "unknown {what} '{value}': accepted values are {}",
                accepted.join(", ")
            ),
        }
    }
}

/// Declares a closed code list: an enum with its wire spelling, `FromStr`,
/// `Display`, serde as that spelling, and the list of all values.
macro_rules! code_list {
    (
        $(#[$meta:meta])*
        $name:ident, $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $code:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value of the list, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire spelling of the value.
            pub const fn code(self) -> &'static str {
                match self {
                    $($name::$variant => $code),+
                }
            }
        }

        impl FromStr for $name {
            type Err = ParseCodeError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($code => Ok($name::$variant),)+
                    other => Err(ParseCodeError::unknown($what, other, &[$($code),+])),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.code())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.code())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

code_list! {
    /// Aid type of a plan (rules.md "Plan"): APA, PCH or aide-ménagère.
    AidType, "aid type" {
        Apa => "APA",
        Pch => "PCH",
        Am => "AM",
    }
}

code_list! {
    /// Status of a SAAD for one aid type (rules.md "SAAD", R8).
    SaadStatus, "SAAD status" {
        /// Hourly tariff fixed by the financer, effective-dated.
        Habilite => "habilite",
        /// Authorised, not habilitated: paid its rate up to the reference ceiling.
        Autorise => "autorise",
    }
}

code_list! {
    /// Household of an aide-ménagère plan (RDAS I.2.4).
    Household, "household" {
        Single => "single",
        Couple => "couple",
    }
}

code_list! {
    /// Correction reasons of the charter (4.3); codes are the project's convention (rules.md R2).
    CorrectionReason, "correction reason" {
        NoDevice => "NO_DEVICE",
        AbsentUnannounced => "ABSENT_UNANNOUNCED",
        LateOrEarly => "LATE_OR_EARLY",
        IdError => "ID_ERROR",
        Forgotten => "FORGOTTEN",
        DeviceFailure => "DEVICE_FAILURE",
        RefusedByBeneficiary => "REFUSED_BY_BENEFICIARY",
        TelemanagementRefused => "TELEMANAGEMENT_REFUSED",
        Emergency => "EMERGENCY",
        SharedTime => "SHARED_TIME",
        PlanRetroUpdate => "PLAN_RETRO_UPDATE",
        OutsideHome => "OUTSIDE_HOME",
    }
}

code_list! {
    /// Kinds of beneficiary events (charter 5, rules.md R5).
    EventKind, "event kind" {
        Absence => "ABSENCE",
        SaadChange => "SAAD_CHANGE",
        Death => "DEATH",
        Overrun => "OVERRUN",
        Aggravation => "AGGRAVATION",
        EstablishmentEntry => "ESTABLISHMENT_ENTRY",
        Hospitalisation => "HOSPITALISATION",
        NonEffectivity => "NON_EFFECTIVITY",
        Other => "OTHER",
    }
}

impl EventKind {
    /// Whether this kind stops payment (rules.md R5): only death, entry into an
    /// establishment, hospitalisation and absence do.
    pub const fn stops_payment(self) -> bool {
        matches!(
            self,
            EventKind::Death
                | EventKind::EstablishmentEntry
                | EventKind::Hospitalisation
                | EventKind::Absence
        )
    }
}

code_list! {
    /// Every business rejection code of rules.md (R1–R9, plan import and
    /// invoices). The French message and the remedy of each code live in
    /// `charter/rejection-codes.toml`, documented once there.
    RejectionCode, "rejection code" {
        // R1 validity
        InvalidPeriod => "INVALID_PERIOD",
        InTheFuture => "IN_THE_FUTURE",
        // R2 completeness and reasons
        RawImmutable => "RAW_IMMUTABLE",
        TimestampMissing => "TIMESTAMP_MISSING",
        CorrectionReasonMissing => "CORRECTION_REASON_MISSING",
        CorrectionReasonUnknown => "CORRECTION_REASON_UNKNOWN",
        TimesheetMissing => "TIMESHEET_MISSING",
        // R3 delay
        LateTransmission => "LATE_TRANSMISSION",
        // R4 plan match
        UnknownPlan => "UNKNOWN_PLAN",
        NoActivePlan => "NO_ACTIVE_PLAN",
        SaadNotAssigned => "SAAD_NOT_ASSIGNED",
        AidTypeMismatch => "AID_TYPE_MISMATCH",
        UnknownBeneficiary => "UNKNOWN_BENEFICIARY",
        // R5 events
        BeneficiaryDeceased => "BENEFICIARY_DECEASED",
        BeneficiaryInEstablishment => "BENEFICIARY_IN_ESTABLISHMENT",
        BeneficiaryAbsent => "BENEFICIARY_ABSENT",
        // R6 overlaps
        OverlapBeneficiary => "OVERLAP_BENEFICIARY",
        OverlapWorker => "OVERLAP_WORKER",
        // ESPPADOM line unusable
        InvalidMessage => "INVALID_MESSAGE",
        // R7 month close
        Overrun => "OVERRUN",
        // R8 rates and plan import
        RateAboveCeiling => "RATE_ABOVE_CEILING",
        NoTariff => "NO_TARIFF",
        PlanAboveCeiling => "PLAN_ABOVE_CEILING",
        PlanInconsistent => "PLAN_INCONSISTENT",
        AmCapExceeded => "AM_CAP_EXCEEDED",
        VersionConflict => "VERSION_CONFLICT",
        PlanIncomplete => "PLAN_INCOMPLETE",
        // R9 invoices
        InvoiceMismatch => "INVOICE_MISMATCH",
        /// A SAAD invoice line asking less than computed: paid as asked, listed as information.
        InvoiceBelowComputed => "INVOICE_BELOW_COMPUTED",
        /// An intervention shorter than 8 minutes: accepted, billed zero, listed as information.
        ShortIntervention => "SHORT_INTERVENTION",
        /// A message naming another SAAD than the token's (whole message refused, 422).
        SaadMismatch => "SAAD_MISMATCH",
    }
}

/// A SIRET: 14 digits whose Luhn checksum is valid (rules.md "SAAD").
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Siret(String);

impl Siret {
    /// Parses a SIRET, refusing anything but 14 digits with a valid Luhn key.
    pub fn parse(text: &str) -> Result<Self, ParseCodeError> {
        let fail = |why: &str| ParseCodeError {
            what: "SIRET",
            value: text.to_owned(),
            message: format!("invalid SIRET '{text}': {why}"),
        };
        if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("a SIRET is exactly 14 digits"));
        }
        if !luhn_valid(text) {
            return Err(fail("its check digit is wrong (Luhn)"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The 14 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Siret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Siret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Siret::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Luhn checksum over ASCII digits (SIRET and SIREN use it).
fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (index, byte) in digits.bytes().rev().enumerate() {
        let mut digit = u32::from(byte - b'0');
        if index % 2 == 1 {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
    }
    sum % 10 == 0
}

/// A worker (intervenant) id: 1–35 characters of `[A-Za-z0-9._-]`, chosen by
/// the SAAD and scoped by it. Never a person's name (charter 4.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct WorkerId(String);

impl WorkerId {
    /// Parses a worker id.
    pub fn parse(text: &str) -> Result<Self, ParseCodeError> {
        let ok = (1..=35).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseCodeError {
                what: "worker id",
                value: text.chars().take(40).collect(),
                message: "a worker id is 1 to 35 characters among letters, digits, '.', '_' and '-' (never a name)".to_owned(),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for WorkerId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        WorkerId::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A calendar month (`YYYY-MM`), the unit of billing (R7, R9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct YearMonth {
    year: i32,
    month: u32,
}

impl YearMonth {
    /// Builds a month; `None` when `month` is not 1–12 or the year is out of chrono's range.
    pub fn new(year: i32, month: u32) -> Option<Self> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|_| Self { year, month })
    }

    /// The month containing `day`.
    pub fn of(day: NaiveDate) -> Self {
        Self {
            year: day.year(),
            month: day.month(),
        }
    }

    /// Calendar year.
    pub const fn year(self) -> i32 {
        self.year
    }

    /// Month number, 1–12.
    pub const fn month(self) -> u32 {
        self.month
    }

    /// First day of the month.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Last day of the month.
    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or(NaiveDate::MAX)
    }

    /// Number of days in the month (28–31).
    pub fn days(self) -> u32 {
        self.last_day().day()
    }

    /// The following month.
    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// The preceding month.
    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }

    /// Every day of the month, in order.
    pub fn days_iter(self) -> impl Iterator<Item = NaiveDate> {
        self.first_day()
            .iter_days()
            .take_while(move |d| YearMonth::of(*d) == self)
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for YearMonth {
    type Err = ParseCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = || ParseCodeError {
            what: "month",
            value: s.to_owned(),
            message: format!("invalid month '{s}': expected YYYY-MM, e.g. 2024-01"),
        };
        let (y, m) = s.split_once('-').ok_or_else(fail)?;
        if y.len() != 4 || m.len() != 2 {
            return Err(fail());
        }
        let year: i32 = y.parse().map_err(|_| fail())?;
        let month: u32 = m.parse().map_err(|_| fail())?;
        YearMonth::new(year, month).ok_or_else(fail)
    }
}

impl Serialize for YearMonth {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for YearMonth {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siret_with_valid_luhn_key_is_accepted() {
        assert!(Siret::parse("00000000000018").is_ok());
        assert!(Siret::parse("73282932000074").is_ok());
    }

    #[test]
    fn siret_with_wrong_key_or_shape_is_refused() {
        assert!(Siret::parse("00000000000019").is_err());
        assert!(Siret::parse("1234").is_err());
        assert!(Siret::parse("0000000000001a").is_err());
    }

    #[test]
    fn worker_id_accepts_codes_and_refuses_names_with_spaces() {
        assert!(WorkerId::parse("IV-0417").is_ok());
        assert!(WorkerId::parse("Marie Dupont").is_err());
        assert!(WorkerId::parse("").is_err());
        assert!(WorkerId::parse(&"a".repeat(36)).is_err());
    }

    #[test]
    fn code_lists_round_trip_through_their_spelling() {
        for code in RejectionCode::ALL {
            assert_eq!(code.code().parse::<RejectionCode>(), Ok(*code));
        }
        for reason in CorrectionReason::ALL {
            assert_eq!(reason.code().parse::<CorrectionReason>(), Ok(*reason));
        }
        let err = "XYZ".parse::<AidType>().unwrap_err();
        assert!(err.message.contains("APA, PCH, AM"), "{}", err.message);
    }

    #[test]
    fn year_month_knows_its_days() {
        let feb = YearMonth::new(2024, 2).unwrap();
        assert_eq!(feb.days(), 29);
        assert_eq!(feb.days_iter().count(), 29);
        assert_eq!(
            YearMonth::new(2024, 12).unwrap().next().to_string(),
            "2025-01"
        );
        assert_eq!(
            "2024-01"
                .parse::<YearMonth>()
                .unwrap()
                .previous()
                .to_string(),
            "2023-12"
        );
        assert!("2024-13".parse::<YearMonth>().is_err());
    }
}
