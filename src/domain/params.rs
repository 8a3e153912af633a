//! The département's parameters with their validity dates (rules-reference.md §1).
//!
//! Values never live in code: they are loaded from `charter/` (see
//! `crate::charter`, the only place doing file I/O) into [`Parameters`], and
//! every rule asks for the value in force on a given day. Periods are
//! `[valid_from, valid_to)` (valid_to exclusive, `None` = open), contiguous
//! and non-overlapping per key; [`Parameters::new`] checks that again so that
//! no other constructor can produce an inconsistent table.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use super::types::{AidType, CorrectionReason, Household, RejectionCode};

/// Keys of the parameters the rules use. One place, so that a typo is a
/// compile error and `charter/` can be checked for completeness.
pub mod keys {
    /// R1 rounding step, minutes (15).
    pub const ROUND_STEP_MINUTES: &str = "tm.round.step_minutes";
    /// R1 rounding pivot minute (7): remainder ≤ 7 rounds down.
    pub const ROUND_PIVOT_MINUTE: &str = "tm.round.pivot_minute";
    /// R3 tolerated delay between the raw end and reception, hours (48).
    pub const ASYNC_TOLERANCE_HOURS: &str = "tm.async_tolerance_hours";
    /// R1 convention: longest accepted intervention, minutes (24 h).
    pub const MAX_INTERVENTION_MINUTES: &str = "tm.max_intervention_minutes";
    /// R1 convention: how far past the gateway's clock a counted end may be, minutes (5).
    pub const FUTURE_TOLERANCE_MINUTES: &str = "tm.future_tolerance_minutes";
    /// Monthly MTP (majoration pour tierce personne), EUR.
    pub const MTP_MONTHLY: &str = "mtp.monthly";
    /// Prefix of the APA GIR ceiling coefficients: `apa.ceiling.gir{N}.coef`.
    pub const APA_CEILING_COEF_PREFIX: &str = "apa.ceiling.gir";
    /// National floor of the SAAD hourly rate, EUR/h.
    pub const FLOOR_SAAD_HOUR: &str = "floor.saad_hour";
    /// Reference hourly ceiling for an `autorise` SAAD, APA, EUR/h.
    pub const REFERENCE_RATE_APA: &str = "ref.apa.saad_hourly_ceiling";
    /// Reference hourly ceiling for an `autorise` SAAD, PCH, EUR/h.
    pub const REFERENCE_RATE_PCH: &str = "ref.pch.saad_hourly_ceiling";
    /// Aide-ménagère monthly hour cap, single person.
    pub const AM_MAX_HOURS_SINGLE: &str = "am.max_hours.single";
    /// Aide-ménagère monthly hour cap, couple.
    pub const AM_MAX_HOURS_COUPLE: &str = "am.max_hours.couple";
    /// Hourly gross SMIC (reference; no rule of the gateway uses it yet).
    pub const SMIC_HOURLY_GROSS: &str = "smic.hourly_gross";
    /// APA participation (R.232-11): S1 = s1_coef × MTP, resources at or
    /// below which the participation is 0.
    pub const APA_PARTICIPATION_S1_COEF: &str = "apa.participation.s1_coef";
    /// APA participation: S2 = s2_coef × MTP, resources above which the
    /// participation rate is the maximum.
    pub const APA_PARTICIPATION_S2_COEF: &str = "apa.participation.s2_coef";
    /// APA participation: first plan slice limit L1 = slice1_coef × MTP.
    pub const APA_PARTICIPATION_SLICE1_COEF: &str = "apa.participation.slice1_coef";
    /// APA participation: second plan slice limit L2 = slice2_coef × MTP.
    pub const APA_PARTICIPATION_SLICE2_COEF: &str = "apa.participation.slice2_coef";
    /// APA participation: maximum participation rate (0.90).
    pub const APA_PARTICIPATION_MAX_RATE: &str = "apa.participation.max_rate";
    /// APA participation: share of the second slice kept at S1 (0.40).
    pub const APA_PARTICIPATION_SLICE2_KEEP: &str = "apa.participation.slice2_keep";
    /// APA participation: share of the third slice kept at S1 (0.20).
    pub const APA_PARTICIPATION_SLICE3_KEEP: &str = "apa.participation.slice3_keep";
    /// APA participation: a couple's resources are divided by this (1.7).
    pub const APA_COUPLE_RESOURCE_DIVISOR: &str = "apa.couple_resource_divisor";
    /// PCH full coverage rate (1.00).
    pub const PCH_COVERAGE_FULL: &str = "pch.coverage_rate.full";
    /// PCH reduced coverage rate (0.80).
    pub const PCH_COVERAGE_REDUCED: &str = "pch.coverage_rate.reduced";

    /// Keys `charter/` must define for the rules to run.
    pub const REQUIRED: &[&str] = &[
        ROUND_STEP_MINUTES,
        ROUND_PIVOT_MINUTE,
        ASYNC_TOLERANCE_HOURS,
        MAX_INTERVENTION_MINUTES,
        FUTURE_TOLERANCE_MINUTES,
        MTP_MONTHLY,
        "apa.ceiling.gir1.coef",
        "apa.ceiling.gir2.coef",
        "apa.ceiling.gir3.coef",
        "apa.ceiling.gir4.coef",
        FLOOR_SAAD_HOUR,
        REFERENCE_RATE_APA,
        REFERENCE_RATE_PCH,
        AM_MAX_HOURS_SINGLE,
        AM_MAX_HOURS_COUPLE,
    ];
}

/// One value of one key over one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatedValue {
    /// The value (every parameter the rules use is a number).
    pub value: Decimal,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// First day no longer in force; `None` = open.
    pub valid_to: Option<NaiveDate>,
    /// Flag of an unconfirmed placeholder (confidence U): a computation
    /// using it should carry a warning.
    pub needs_confirmation: bool,
}

impl DatedValue {
    /// Whether the value is in force on `day`.
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && self.valid_to.is_none_or(|to| day < to)
    }
}

/// French message and remedy of a rejection code (charter/rejection-codes.toml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectionText {
    /// A plain French sentence explaining the rejection.
    pub message: String,
    /// What the SAAD can do about it.
    pub remedy: String,
}

/// Why a parameter table is inconsistent, or a lookup failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterError {
    /// No value of `key` covers `day`.
    #[error(
        "no value of parameter '{key}' is in force on {day}: add a period covering it in charter/"
    )]
    NotInForce {
        /// The key looked up.
        key: String,
        /// The day asked for.
        day: NaiveDate,
    },
    /// Two periods of one key overlap.
    #[error(
        "parameter '{key}': the period starting {second} overlaps the one starting {first} (give that one a valid_to, or end it earlier)"
    )]
    Overlap {
        /// Key.
        key: String,
        /// Start of the earlier period.
        first: NaiveDate,
        /// Start of the overlapping period.
        second: NaiveDate,
    },
    /// A gap between two periods of one key.
    #[error(
        "parameter '{key}': gap from {gap_from} to {gap_to} (exclusive) when nothing is in force; periods of a key must follow each other"
    )]
    Gap {
        /// Key.
        key: String,
        /// First uncovered day.
        gap_from: NaiveDate,
        /// First covered day after the gap.
        gap_to: NaiveDate,
    },
    /// A period that ends before it starts, or an open period followed by another.
    #[error(
        "parameter '{key}': the period starting {valid_from} is empty or open-ended but followed by another"
    )]
    BadPeriod {
        /// Key.
        key: String,
        /// Start of the faulty period.
        valid_from: NaiveDate,
    },
    /// A required key is missing from the charter.
    #[error("parameter '{0}' is required by the rules but charter/ does not define it")]
    Missing(String),
    /// A value that must be a whole number is not.
    #[error("parameter '{key}' must be a whole number, found {value}")]
    NotWhole {
        /// Key.
        key: String,
        /// Value found.
        value: Decimal,
    },
}

/// R1 rounding rule in force on a day: `step × floor((d + pivot) / step)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundingRule {
    /// Step, minutes (15).
    pub step_minutes: i64,
    /// Pivot, minutes (7).
    pub pivot_minute: i64,
}

impl RoundingRule {
    /// Rounds a duration in whole minutes (R1). Non-positive durations give 0.
    pub fn round(&self, minutes: i64) -> i64 {
        if minutes <= 0 || self.step_minutes <= 0 {
            return 0;
        }
        self.step_minutes * ((minutes + self.pivot_minute) / self.step_minutes)
    }
}

/// The whole parameter table, plus the code lists' French texts.
#[derive(Debug, Clone, Default)]
pub struct Parameters {
    series: BTreeMap<String, Vec<DatedValue>>,
    rejection_texts: BTreeMap<RejectionCode, RejectionText>,
    correction_labels: BTreeMap<CorrectionReason, String>,
}

impl Parameters {
    /// Builds the table, checking per key that periods are well formed,
    /// sorted, contiguous and non-overlapping.
    pub fn new(
        series: BTreeMap<String, Vec<DatedValue>>,
        rejection_texts: BTreeMap<RejectionCode, RejectionText>,
        correction_labels: BTreeMap<CorrectionReason, String>,
    ) -> Result<Self, ParameterError> {
        let mut checked = BTreeMap::new();
        for (key, mut values) in series {
            values.sort_by_key(|v| v.valid_from);
            check_periods(&key, &values).map_err(|(_, error)| error)?;
            checked.insert(key, values);
        }
        Ok(Self {
            series: checked,
            rejection_texts,
            correction_labels,
        })
    }

    /// Checks that every key the rules need is present.
    pub fn check_required(&self) -> Result<(), ParameterError> {
        for key in keys::REQUIRED {
            if !self.series.contains_key(*key) {
                return Err(ParameterError::Missing((*key).to_owned()));
            }
        }
        Ok(())
    }

    /// The dated value of `key` in force on `day`.
    pub fn lookup(&self, key: &str, day: NaiveDate) -> Result<&DatedValue, ParameterError> {
        self.series
            .get(key)
            .and_then(|values| values.iter().find(|v| v.covers(day)))
            .ok_or_else(|| ParameterError::NotInForce {
                key: key.to_owned(),
                day,
            })
    }

    /// The value of `key` in force on `day`.
    pub fn value_at(&self, key: &str, day: NaiveDate) -> Result<Decimal, ParameterError> {
        self.lookup(key, day).map(|v| v.value)
    }

    /// The whole-number value of `key` in force on `day`.
    pub fn whole_at(&self, key: &str, day: NaiveDate) -> Result<i64, ParameterError> {
        let value = self.value_at(key, day)?;
        if value.fract().is_zero() {
            i64::try_from(value).map_err(|_| ParameterError::NotWhole {
                key: key.to_owned(),
                value,
            })
        } else {
            Err(ParameterError::NotWhole {
                key: key.to_owned(),
                value,
            })
        }
    }

    /// All periods of a key (for display and documentation).
    pub fn series(&self, key: &str) -> &[DatedValue] {
        self.series.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Every key defined.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }

    /// R1 rounding rule in force on `day`.
    pub fn rounding_at(&self, day: NaiveDate) -> Result<RoundingRule, ParameterError> {
        Ok(RoundingRule {
            step_minutes: self.whole_at(keys::ROUND_STEP_MINUTES, day)?,
            pivot_minute: self.whole_at(keys::ROUND_PIVOT_MINUTE, day)?,
        })
    }

    /// R3 tolerated transmission delay in force on `day`, in minutes.
    pub fn transmission_delay_minutes(&self, day: NaiveDate) -> Result<i64, ParameterError> {
        Ok(self.whole_at(keys::ASYNC_TOLERANCE_HOURS, day)? * 60)
    }

    /// R1 convention: the longest accepted intervention, minutes.
    pub fn max_intervention_minutes(&self, day: NaiveDate) -> Result<i64, ParameterError> {
        self.whole_at(keys::MAX_INTERVENTION_MINUTES, day)
    }

    /// R1 convention: tolerance for a counted end after the gateway's clock, minutes.
    pub fn future_tolerance_minutes(&self, day: NaiveDate) -> Result<i64, ParameterError> {
        self.whole_at(keys::FUTURE_TOLERANCE_MINUTES, day)
    }

    /// R8 APA plan ceiling for a GIR (1–4) in `year`: the monthly MTP in
    /// force on 1 January of that year × the GIR coefficient in force that
    /// day, rounded to the cent half-up (`MidpointAwayFromZero`: amounts are
    /// positive).
    pub fn apa_gir_ceiling(&self, gir: u8, year: i32) -> Result<Decimal, ParameterError> {
        let january_first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(NaiveDate::MIN);
        let mtp = self.value_at(keys::MTP_MONTHLY, january_first)?;
        let coef_key = format!("{}{gir}.coef", keys::APA_CEILING_COEF_PREFIX);
        let coef = self.value_at(&coef_key, january_first)?;
        Ok((mtp * coef).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
    }

    /// R8 national floor of the SAAD hourly rate on `day`.
    pub fn national_floor(&self, day: NaiveDate) -> Result<Decimal, ParameterError> {
        self.value_at(keys::FLOOR_SAAD_HOUR, day)
    }

    /// R8 reference hourly ceiling for an `autorise` SAAD of `aid_type` on
    /// `day`; `Ok(None)` for aide-ménagère, which has none (paid only at the
    /// financer's flat tariff).
    pub fn reference_rate(
        &self,
        aid_type: AidType,
        day: NaiveDate,
    ) -> Result<Option<Decimal>, ParameterError> {
        match aid_type {
            AidType::Apa => self.value_at(keys::REFERENCE_RATE_APA, day).map(Some),
            AidType::Pch => self.value_at(keys::REFERENCE_RATE_PCH, day).map(Some),
            AidType::Am => Ok(None),
        }
    }

    /// R8 cap of the hourly rate paid to an `autorise` SAAD on `day`:
    /// `max(reference ceiling, national floor)`; `None` for aide-ménagère.
    pub fn autorise_rate_cap(
        &self,
        aid_type: AidType,
        day: NaiveDate,
    ) -> Result<Option<Decimal>, ParameterError> {
        match self.reference_rate(aid_type, day)? {
            Some(reference) => Ok(Some(reference.max(self.national_floor(day)?))),
            None => Ok(None),
        }
    }

    /// R7 aide-ménagère monthly cap in minutes for a household on `day`.
    pub fn am_max_minutes(
        &self,
        household: Household,
        day: NaiveDate,
    ) -> Result<i64, ParameterError> {
        let key = match household {
            Household::Single => keys::AM_MAX_HOURS_SINGLE,
            Household::Couple => keys::AM_MAX_HOURS_COUPLE,
        };
        Ok(self.whole_at(key, day)? * 60)
    }

    /// French message and remedy of a rejection code.
    pub fn rejection_text(&self, code: RejectionCode) -> Option<&RejectionText> {
        self.rejection_texts.get(&code)
    }

    /// French label of a correction reason.
    pub fn correction_label(&self, reason: CorrectionReason) -> Option<&str> {
        self.correction_labels.get(&reason).map(String::as_str)
    }
}

/// Checks the periods of one key, sorted by `valid_from`: each well formed,
/// contiguous with the next, none overlapping. On failure, gives the index
/// of the faulty entry (the second of a pair that overlaps or leaves a gap)
/// so that a loader can name its line.
pub fn check_periods(key: &str, values: &[DatedValue]) -> Result<(), (usize, ParameterError)> {
    for (index, value) in values.iter().enumerate() {
        if value.valid_to.is_some_and(|to| to <= value.valid_from) {
            let error = ParameterError::BadPeriod {
                key: key.to_owned(),
                valid_from: value.valid_from,
            };
            return Err((index, error));
        }
        let Some(next) = values.get(index + 1) else {
            continue;
        };
        let error = match value.valid_to {
            Some(to) if next.valid_from == to => continue,
            Some(to) if next.valid_from > to => ParameterError::Gap {
                key: key.to_owned(),
                gap_from: to,
                gap_to: next.valid_from,
            },
            _ => ParameterError::Overlap {
                key: key.to_owned(),
                first: value.valid_from,
                second: next.valid_from,
            },
        };
        return Err((index + 1, error));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn dated(value: Decimal, from: NaiveDate, to: Option<NaiveDate>) -> DatedValue {
        DatedValue {
            value,
            valid_from: from,
            valid_to: to,
            needs_confirmation: false,
        }
    }

    #[test]
    fn r1_rounding_examples_of_the_charter() {
        let rule = RoundingRule {
            step_minutes: 15,
            pivot_minute: 7,
        };
        assert_eq!(rule.round(52), 45);
        assert_eq!(rule.round(53), 60);
        assert_eq!(rule.round(67), 60);
        assert_eq!(rule.round(68), 75);
        assert_eq!(rule.round(7), 0);
        assert_eq!(rule.round(8), 15);
    }

    #[test]
    fn parameters_refuse_overlapping_periods() {
        let mut series = BTreeMap::new();
        series.insert(
            "k".to_owned(),
            vec![
                dated(dec!(1), day(2024, 1, 1), Some(day(2024, 6, 1))),
                dated(dec!(2), day(2024, 5, 1), None),
            ],
        );
        let err = Parameters::new(series, BTreeMap::new(), BTreeMap::new()).unwrap_err();
        assert!(matches!(err, ParameterError::Overlap { .. }), "{err}");
    }

    #[test]
    fn parameters_refuse_gaps() {
        let mut series = BTreeMap::new();
        series.insert(
            "k".to_owned(),
            vec![
                dated(dec!(1), day(2024, 1, 1), Some(day(2024, 6, 1))),
                dated(dec!(2), day(2024, 7, 1), None),
            ],
        );
        let err = Parameters::new(series, BTreeMap::new(), BTreeMap::new()).unwrap_err();
        assert!(matches!(err, ParameterError::Gap { .. }), "{err}");
    }

    #[test]
    fn value_in_force_is_taken_on_the_day_asked() {
        let mut series = BTreeMap::new();
        series.insert(
            "k".to_owned(),
            vec![
                dated(dec!(1), day(2024, 1, 1), Some(day(2024, 11, 1))),
                dated(dec!(2), day(2024, 11, 1), None),
            ],
        );
        let params = Parameters::new(series, BTreeMap::new(), BTreeMap::new()).unwrap();
        assert_eq!(params.value_at("k", day(2024, 10, 31)).unwrap(), dec!(1));
        assert_eq!(params.value_at("k", day(2024, 11, 1)).unwrap(), dec!(2));
        assert!(params.value_at("k", day(2023, 12, 31)).is_err());
    }
}
