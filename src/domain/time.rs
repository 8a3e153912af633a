//! Time-stamps as received, and their resolution to instants (rules.md R1).
//!
//! Inputs may carry an offset (RFC 3339) or be local French time without one
//! (ESPPADOM writes them that way). Local times are Europe/Paris; a local
//! time in the spring DST gap does not exist, one in the autumn repeated hour
//! is ambiguous. Resolution of a *period* (start and end together) follows
//! R1: the first occurrence of an ambiguous time, except an end that would
//! then not be after its start, which takes the second.

use std::fmt;

use chrono::{
    DateTime, Datelike, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Europe::Paris;
use serde::{Deserialize, Serialize};

/// A time-stamp exactly as received: with its offset, or local without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stamp {
    /// Written with an explicit offset or `Z`.
    Offset(DateTime<FixedOffset>),
    /// Written without offset: Europe/Paris wall-clock time.
    Local(NaiveDateTime),
}

/// Why a text is not a time-stamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid date-time '{value}': expected YYYY-MM-DDThh:mm[:ss] with an optional offset (e.g. 2024-01-12T09:00:00 or 2024-01-12T09:00:00+01:00)"
)]
pub struct StampParseError {
    /// The text received (truncated to 40 characters).
    pub value: String,
}

impl Stamp {
    /// Parses RFC 3339 (offset or `Z`) or a local `YYYY-MM-DDThh:mm[:ss[.fff]]`.
    pub fn parse(text: &str) -> Result<Self, StampParseError> {
        let text = text.trim();
        if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
            return Ok(Stamp::Offset(with_offset));
        }
        for format in [
            "%Y-%m-%dT%H:%M:%S%.f",
            "%Y-%m-%dT%H:%M",
            "%Y-%m-%d %H:%M:%S%.f",
        ] {
            if let Ok(local) = NaiveDateTime::parse_from_str(text, format) {
                return Ok(Stamp::Local(local));
            }
        }
        Err(StampParseError {
            value: text.chars().take(40).collect(),
        })
    }

    /// The wall-clock time in France this stamp designates (for an offset
    /// stamp, converted to Europe/Paris).
    pub fn paris_wall_clock(&self) -> NaiveDateTime {
        match self {
            Stamp::Offset(dt) => dt.with_timezone(&Paris).naive_local(),
            Stamp::Local(naive) => *naive,
        }
    }

    /// The local day the stamp falls on in France (R4: an intervention
    /// belongs to the day of its counted start).
    pub fn paris_day(&self) -> NaiveDate {
        self.paris_wall_clock().date()
    }

    /// Resolves a single stamp on its own: an ambiguous local time takes its
    /// first occurrence; a non-existent one is `None`.
    pub fn resolve_alone(&self) -> Option<DateTime<Utc>> {
        match self {
            Stamp::Offset(dt) => Some(dt.with_timezone(&Utc)),
            Stamp::Local(naive) => match Paris.from_local_datetime(naive) {
                LocalResult::Single(dt) => Some(dt.with_timezone(&Utc)),
                LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
                LocalResult::None => None,
            },
        }
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stamp::Offset(dt) => write!(f, "{}", dt.to_rfc3339()),
            // What `%Y-%m-%dT%H:%M:%S` writes, without parsing a format
            // string for every stamp stored (years outside 0–9999 go the
            // long way).
            Stamp::Local(naive) if (0..=9999).contains(&naive.year()) => write!(
                f,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                naive.year(),
                naive.month(),
                naive.day(),
                naive.hour(),
                naive.minute(),
                naive.second()
            ),
            Stamp::Local(naive) => write!(f, "{}", naive.format("%Y-%m-%dT%H:%M:%S")),
        }
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Stamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// A period resolved to instants, truncated to the whole minute (R1: seconds
/// are dropped before subtracting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Period {
    /// Start, whole minute, UTC.
    pub start: DateTime<Utc>,
    /// End, whole minute, UTC.
    pub end: DateTime<Utc>,
}

impl Period {
    /// Elapsed whole minutes (real elapsed time across DST changes).
    pub fn minutes(&self) -> i64 {
        (self.end - self.start).num_minutes()
    }

    /// The local (Europe/Paris) day of the start: the intervention's day (R4).
    pub fn day(&self) -> NaiveDate {
        self.start.with_timezone(&Paris).date_naive()
    }

    /// Whether two periods overlap; periods that merely touch do not (R6).
    pub fn overlaps(&self, other: &Period) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Why a pair of stamps is not a usable period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// A local time in the spring DST gap.
    #[error(
        "the local time {0} does not exist in France (it falls in the spring daylight-saving gap)"
    )]
    NonExistentLocalTime(NaiveDateTime),
    /// End not after start, after truncation to the minute.
    #[error("the end is not after the start")]
    EndNotAfterStart,
}

/// Truncates an instant to the whole minute.
pub fn truncate_to_minute(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant
        .with_nanosecond(0)
        .and_then(|t| t.with_second(0))
        .unwrap_or(instant)
}

/// Resolves a start and an end to a [`Period`] under the R1 rules, seconds
/// dropped. Only the structural checks are made here (existence, end after
/// start); the duration limits are the rules' (see `checks`).
pub fn resolve_period(start: Stamp, end: Stamp) -> Result<Period, PeriodError> {
    let start_instant = match start {
        Stamp::Offset(dt) => dt.with_timezone(&Utc),
        Stamp::Local(naive) => match Paris.from_local_datetime(&naive) {
            LocalResult::Single(dt) => dt.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            LocalResult::None => return Err(PeriodError::NonExistentLocalTime(naive)),
        },
    };
    let start_minute = truncate_to_minute(start_instant);
    let end_instant = match end {
        Stamp::Offset(dt) => dt.with_timezone(&Utc),
        Stamp::Local(naive) => match Paris.from_local_datetime(&naive) {
            LocalResult::Single(dt) => dt.with_timezone(&Utc),
            LocalResult::Ambiguous(first, second) => {
                let first = first.with_timezone(&Utc);
                if truncate_to_minute(first) > start_minute {
                    first
                } else {
                    second.with_timezone(&Utc)
                }
            }
            LocalResult::None => return Err(PeriodError::NonExistentLocalTime(naive)),
        },
    };
    let end_minute = truncate_to_minute(end_instant);
    if end_minute <= start_minute {
        return Err(PeriodError::EndNotAfterStart);
    }
    Ok(Period {
        start: start_minute,
        end: end_minute,
    })
}

/// Writes an instant as RFC 3339 in Europe/Paris with its offset (R1: times
/// written out carry their offset).
pub fn to_paris_rfc3339(instant: DateTime<Utc>) -> String {
    instant.with_timezone(&Paris).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// R2 evidence: a raw stamp without offset is stored as its local
        /// wall-clock text, exactly what `%Y-%m-%dT%H:%M:%S` writes, and reads
        /// back as the same stamp.
        #[test]
        fn r2_a_local_stamp_is_stored_as_its_wall_clock_text(
            seconds in -62_135_596_800i64..253_402_300_799i64,
        ) {
            let naive = DateTime::from_timestamp(seconds, 0)
                .map(|t| t.naive_utc())
                .ok_or_else(|| TestCaseError::fail("instant"))?;
            let stamp = Stamp::Local(naive);
            let text = stamp.to_string();
            prop_assert_eq!(&text, &naive.format("%Y-%m-%dT%H:%M:%S").to_string());
            prop_assert_eq!(Stamp::parse(&text).ok(), Some(stamp));
        }
    }

    fn local(text: &str) -> Stamp {
        Stamp::parse(text).unwrap()
    }

    #[test]
    fn r1_seconds_are_dropped_before_subtracting() {
        let p = resolve_period(local("2024-01-12T09:00:59"), local("2024-01-12T09:52:10")).unwrap();
        assert_eq!(p.minutes(), 52);
    }

    #[test]
    fn r1_a_period_across_the_autumn_change_counts_real_elapsed_minutes() {
        // 2024-10-27: 03:00 CEST becomes 02:00 CET. 01:30 -> 03:30 local is 3 real hours.
        let p = resolve_period(local("2024-10-27T01:30:00"), local("2024-10-27T03:30:00")).unwrap();
        assert_eq!(p.minutes(), 180);
    }

    #[test]
    fn r1_a_period_across_the_spring_change_counts_real_elapsed_minutes() {
        // 2024-03-31: 02:00 CET becomes 03:00 CEST. 01:30 -> 03:30 local is 1 real hour.
        let p = resolve_period(local("2024-03-31T01:30:00"), local("2024-03-31T03:30:00")).unwrap();
        assert_eq!(p.minutes(), 60);
    }

    #[test]
    fn r1_a_local_time_in_the_spring_gap_does_not_exist() {
        let err =
            resolve_period(local("2024-03-31T02:30:00"), local("2024-03-31T04:00:00")).unwrap_err();
        assert!(matches!(err, PeriodError::NonExistentLocalTime(_)));
    }

    #[test]
    fn r1_an_ambiguous_end_takes_the_second_occurrence_when_the_first_is_not_after_the_start() {
        // Start 02:40 (first occurrence, CEST), end 02:10 -> only the second occurrence (CET) is after.
        let p = resolve_period(local("2024-10-27T02:40:00"), local("2024-10-27T02:10:00")).unwrap();
        assert_eq!(p.minutes(), 30);
        // Start 02:10, end 02:40 -> both first occurrences.
        let p = resolve_period(local("2024-10-27T02:10:00"), local("2024-10-27T02:40:00")).unwrap();
        assert_eq!(p.minutes(), 30);
    }

    #[test]
    fn r1_offsets_are_honoured_and_written_back_with_paris_offset() {
        let p = resolve_period(
            local("2024-01-12T08:00:00Z"),
            local("2024-01-12T10:00:00+01:00"),
        )
        .unwrap();
        assert_eq!(p.minutes(), 60);
        assert_eq!(to_paris_rfc3339(p.start), "2024-01-12T09:00:00+01:00");
        assert_eq!(p.day(), NaiveDate::from_ymd_opt(2024, 1, 12).unwrap());
    }

    #[test]
    fn r6_touching_periods_do_not_overlap() {
        let a = resolve_period(local("2024-01-12T09:00:00"), local("2024-01-12T10:00:00")).unwrap();
        let b = resolve_period(local("2024-01-12T10:00:00"), local("2024-01-12T11:00:00")).unwrap();
        let c = resolve_period(local("2024-01-12T09:59:00"), local("2024-01-12T11:00:00")).unwrap();
        assert!(!a.overlaps(&b));
        assert!(a.overlaps(&c));
    }
}
