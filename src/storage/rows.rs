//! Backend-agnostic preparation of what a commit writes: the judged lines
//! turned into rows (intervention versions, current pointers, raw stamps),
//! plus small encoders shared by both backends.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Europe::Paris;

use super::{DeliveryCommit, StoreError, StoreResult};
use crate::domain::ingest::Side;
use crate::domain::model::{LineAction, LineStatus};
use crate::domain::time::Stamp;
use crate::domain::types::YearMonth;

/// One row of `intervention_versions`.
#[derive(Debug, Clone)]
pub(crate) struct VersionRow {
    pub id: i64,
    pub line_id: String,
    pub line_no: i64,
    pub action: &'static str,
    pub status: &'static str,
    pub reasons: String,
    pub warnings: String,
    pub plan_ref: Option<String>,
    pub beneficiary_id: Option<String>,
    pub worker_id: Option<String>,
    pub counted_start: Option<DateTime<Utc>>,
    pub counted_end: Option<DateTime<Utc>>,
    pub counted_minutes: i64,
    pub rounded_minutes: i64,
    pub corrected: bool,
    pub declarative: bool,
    pub correction_reason: Option<String>,
    pub corrected_start: Option<String>,
    pub corrected_end: Option<String>,
    pub timesheet_ref: Option<String>,
    pub raw_received_at: Option<DateTime<Utc>>,
    pub sequence: Option<i64>,
    pub month: String,
    pub fingerprint: Option<String>,
    /// Raw start side received for the first time with this version.
    pub raw_start: Option<String>,
    pub raw_start_received_at: Option<DateTime<Utc>>,
    /// Raw end side received for the first time with this version.
    pub raw_end: Option<String>,
    pub raw_end_received_at: Option<DateTime<Utc>>,
}

/// The version rows of one delivery, in a bulk write of several.
pub(crate) struct VersionBatch<'a> {
    pub saad_siret: &'a str,
    pub transmission_id: &'a str,
    pub received_at: DateTime<Utc>,
    pub rows: &'a [VersionRow],
}

/// One row of `current_interventions`.
#[derive(Debug, Clone)]
pub(crate) struct CurrentRow {
    pub line_id: String,
    pub version_id: i64,
    pub sequence: i64,
    pub plan_ref: String,
    pub beneficiary_id: String,
    pub worker_id: Option<String>,
    pub counted_start: DateTime<Utc>,
    pub counted_end: DateTime<Utc>,
    pub rounded_minutes: i64,
    pub corrected: bool,
    pub shared_time: bool,
    pub fingerprint: Option<String>,
}

/// A withdrawal (`SUP`): the current pointer of `line_id` goes away.
#[derive(Debug, Clone)]
pub(crate) struct Withdrawal {
    pub line_id: String,
    /// The version row of the `SUP` line.
    pub version_id: i64,
    /// The version it withdraws: the one current just before it.
    pub withdrawn: Withdrawn,
}

/// The version a `SUP` line withdraws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Withdrawn {
    /// Whatever was current before this delivery (read when written).
    Stored,
    /// A version of this delivery.
    Version(i64),
    /// Nothing: an earlier line of this delivery withdrew it already.
    Nothing,
}

/// Everything a commit writes besides the receipt and aliases. New raw
/// sides are columns of the version rows (see the 20261123000002 migration).
#[derive(Debug, Default)]
pub(crate) struct CommitRows {
    pub versions: Vec<VersionRow>,
    /// The final current version of each line the delivery accepted.
    pub current: Vec<CurrentRow>,
    /// Every `SUP` line that withdrew, in line order.
    pub withdrawals: Vec<Withdrawal>,
    /// Smallest acceptance sequence handed out by this delivery.
    pub min_sequence: Option<i64>,
}

/// Turns a judged delivery into rows; version ids start at `first_id`, line
/// numbers at `first_line_no` (1, or the position of a part's first line in
/// a delivery written in parts).
///
/// The lines take effect one after another, as if each came alone: a line
/// accepted as a new version (its outcome's `sequence`) is the line's
/// current version until a later line of the delivery replaces or withdraws
/// it; each `SUP` line that withdrew is a withdrawal of what was current
/// just before it. So a delivery gives the same rows whole or in parts.
pub(crate) fn commit_rows(
    delivery: &DeliveryCommit<'_>,
    first_id: i64,
    first_line_no: i64,
) -> StoreResult<CommitRows> {
    let result = delivery.result;
    // The final accepted versions, by acceptance sequence.
    let finals: HashMap<i64, &crate::domain::ingest::AcceptedIntervention> =
        result.accepted.iter().map(|a| (a.sequence, a)).collect();
    let final_fingerprints: HashMap<&str, &str> = result
        .fingerprints
        .iter()
        .map(|(line_id, fp)| (line_id.as_str(), fp.as_str()))
        .collect();
    let mut rows = CommitRows::default();
    // What each line of this delivery has current after the lines so far:
    // a version row (and its sequence), or nothing; absent: as stored.
    let mut state: HashMap<&str, Option<(usize, i64)>> = HashMap::new();
    let mut touched: Vec<&str> = Vec::new();

    for (id, (index, outcome)) in (first_id..).zip(result.outcomes.iter().enumerate()) {
        let line = delivery.lines.get(index);
        let action = line.map(|l| l.action).unwrap_or_default();
        let withdraws = action == LineAction::Withdraw && outcome.status == LineStatus::Accepted;
        let sequence = match outcome.status {
            LineStatus::Accepted if !withdraws => outcome.sequence,
            _ => None,
        };
        let counted = outcome.counted;
        let month = match counted {
            Some(c) => paris_month(c.period.start),
            None => line
                .and_then(|l| {
                    l.raw_start
                        .or(l.raw_end)
                        .or(l.corrected_start)
                        .or(l.corrected_end)
                })
                .map(|s: Stamp| YearMonth::of(s.paris_day()).to_string())
                .unwrap_or_else(|| paris_month(delivery.now)),
        };
        let reasons: Vec<&str> = outcome.reasons.iter().map(|r| r.code()).collect();
        let line_id = outcome.line_id.as_str();
        if let Some(sequence) = sequence {
            rows.min_sequence = Some(rows.min_sequence.map_or(sequence, |m| m.min(sequence)));
            if !state.contains_key(line_id) {
                touched.push(line_id);
            }
            state.insert(line_id, Some((rows.versions.len(), sequence)));
        } else if withdraws {
            let withdrawn = match state.get(line_id) {
                None => {
                    touched.push(line_id);
                    Withdrawn::Stored
                }
                Some(Some((row, _))) => {
                    Withdrawn::Version(rows.versions.get(*row).map_or(id, |v: &VersionRow| v.id))
                }
                Some(None) => Withdrawn::Nothing,
            };
            state.insert(line_id, None);
            rows.withdrawals.push(Withdrawal {
                line_id: outcome.line_id.clone(),
                version_id: id,
                withdrawn,
            });
        }
        rows.versions.push(VersionRow {
            id,
            line_id: outcome.line_id.clone(),
            line_no: i64::try_from(index)
                .unwrap_or(i64::MAX)
                .saturating_add(first_line_no),
            action: action_code(action),
            status: match outcome.status {
                LineStatus::Accepted => "accepted",
                LineStatus::Rejected => "rejected",
            },
            reasons: reasons.join(","),
            warnings: serde_json::to_string(&outcome.warnings)?,
            plan_ref: outcome.plan_ref.clone(),
            beneficiary_id: outcome.beneficiary_id.clone(),
            worker_id: line
                .and_then(|l| l.worker_id.as_ref())
                .map(|w| w.as_str().to_owned()),
            counted_start: counted.map(|c| c.period.start),
            counted_end: counted.map(|c| c.period.end),
            counted_minutes: outcome.counted_minutes,
            rounded_minutes: outcome.rounded_minutes,
            corrected: counted.is_some_and(|c| c.corrected),
            declarative: counted.is_some_and(|c| c.declarative),
            correction_reason: counted
                .and_then(|c| c.reason.map(|r| r.code().to_owned()))
                .or_else(|| line.and_then(|l| l.correction_reason.clone())),
            corrected_start: line.and_then(|l| l.corrected_start.map(|s| s.to_string())),
            corrected_end: line.and_then(|l| l.corrected_end.map(|s| s.to_string())),
            timesheet_ref: line.and_then(|l| l.timesheet_ref.clone()),
            raw_received_at: outcome.raw_received_at,
            sequence,
            month,
            fingerprint: sequence.and(outcome.fingerprint.clone()),
            raw_start: None,
            raw_start_received_at: None,
            raw_end: None,
            raw_end_received_at: None,
        });
    }
    // The final current version of each line the delivery touched; every
    // final accepted version of the result must be one of them.
    let mut matched = 0usize;
    for line_id in touched {
        let Some(Some((row, sequence))) = state.get(line_id).copied() else {
            continue;
        };
        let (Some(a), Some(version)) = (finals.get(&sequence), rows.versions.get(row)) else {
            return Err(StoreError::other(format!(
                "ingest result does not list the version accepted last for line '{line_id}'"
            )));
        };
        matched += 1;
        rows.current.push(CurrentRow {
            line_id: a.line_id.clone(),
            version_id: version.id,
            sequence: a.sequence,
            plan_ref: a.plan_ref.clone(),
            beneficiary_id: a.beneficiary_id.clone(),
            worker_id: a.worker_id.as_ref().map(|w| w.as_str().to_owned()),
            counted_start: a.period.start,
            counted_end: a.period.end,
            rounded_minutes: a.rounded_minutes,
            corrected: a.corrected,
            shared_time: a.shared_time,
            fingerprint: final_fingerprints.get(line_id).map(|f| (*f).to_owned()),
        });
    }
    // Accepted versions the outcomes did not account for: refuse rather than
    // silently drop evidence of what was decided.
    if matched != result.accepted.len() {
        return Err(StoreError::other(
            "ingest result lists an accepted version that matches no accepted receipt line",
        ));
    }
    // Each new raw side goes on the first version row of its line id in this
    // delivery that has no such side yet (version rows follow the outcomes).
    let mut by_line: HashMap<&str, Vec<usize>> = HashMap::new();
    for (index, outcome) in result.outcomes.iter().enumerate() {
        by_line
            .entry(outcome.line_id.as_str())
            .or_default()
            .push(index);
    }
    for (line_id, raw) in &result.new_raw {
        let version = by_line.get(line_id.as_str()).and_then(|indices| {
            let slot = indices.iter().copied().find(|&i| {
                rows.versions.get(i).is_some_and(|v| match raw.side {
                    Side::Start => v.raw_start.is_none(),
                    Side::End => v.raw_end.is_none(),
                })
            })?;
            rows.versions.get_mut(slot)
        });
        let Some(version) = version else {
            return Err(StoreError::other(format!(
                "ingest result stores a raw {} side for line '{line_id}' that no free line of the delivery carries",
                side_code(raw.side)
            )));
        };
        let stamp = Some(raw.stamp.to_string());
        match raw.side {
            Side::Start => {
                version.raw_start = stamp;
                version.raw_start_received_at = Some(raw.received_at);
            }
            Side::End => {
                version.raw_end = stamp;
                version.raw_end_received_at = Some(raw.received_at);
            }
        }
    }
    Ok(rows)
}

/// Wire code of a line action.
pub(crate) fn action_code(action: LineAction) -> &'static str {
    match action {
        LineAction::Count => "count",
        LineAction::StampsOnly => "stamps_only",
        LineAction::Withdraw => "withdraw",
    }
}

/// Wire code of a stamp side.
pub(crate) fn side_code(side: Side) -> &'static str {
    match side {
        Side::Start => "start",
        Side::End => "end",
    }
}

/// Parses a stored side.
pub(crate) fn parse_side(text: &str) -> StoreResult<Side> {
    match text {
        "start" => Ok(Side::Start),
        "end" => Ok(Side::End),
        other => Err(StoreError::corrupt(format!("raw stamp side '{other}'"))),
    }
}

/// `YYYY-MM` of an instant in Europe/Paris.
pub(crate) fn paris_month(instant: DateTime<Utc>) -> String {
    let local = instant.with_timezone(&Paris);
    format!("{:04}-{:02}", local.year(), local.month())
}

/// UTC instant of local midnight (Europe/Paris) starting `day`.
pub(crate) fn paris_midnight(day: NaiveDate) -> DateTime<Utc> {
    let naive = day.and_time(NaiveTime::MIN);
    Paris
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        // Midnight never falls in a French DST gap; keep a total function anyway.
        .unwrap_or_else(|| Utc.from_utc_datetime(&naive))
}

/// `[start, end)` of a month in UTC, month boundaries in Europe/Paris.
pub(crate) fn month_bounds(month: YearMonth) -> (DateTime<Utc>, DateTime<Utc>) {
    (
        paris_midnight(month.first_day()),
        paris_midnight(month.next().first_day()),
    )
}

/// A JSON array of strings: the list parameter of `IN (…)` on both backends.
pub(crate) fn json_list<'a>(items: impl IntoIterator<Item = &'a str>) -> StoreResult<String> {
    let items: Vec<&str> = items.into_iter().collect();
    Ok(serde_json::to_string(&items)?)
}

/// Splits `rows` into the chunks of multi-row statements: `max` rows while
/// that many remain, then the largest power of two that fits. A table's
/// INSERT so takes at most log2(`max`) + 2 shapes whatever the number of
/// rows, and each shape is prepared once per connection and reused. With one
/// shape per row count, the connections' statement caches (sqlx keeps 100
/// per connection) filled with statements used once, tens of KiB each on
/// SQLite (docs/storage.md, "Bounded statement shapes"; no effect on the
/// soak's memory was measurable, see docs/performance.md).
pub(crate) fn statement_chunks<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let max = max.max(1);
    let mut rest = rows;
    std::iter::from_fn(move || {
        let len = rest.len();
        if len == 0 {
            return None;
        }
        let take = if len >= max { max } else { 1 << len.ilog2() };
        let (chunk, tail) = rest.split_at(take);
        rest = tail;
        Some(chunk)
    })
}

/// Stable 64-bit key (FNV-1a of a constant name) of the ingestion advisory
/// lock. One lock for the deployment: intervention version ids are global,
/// acceptance sequences per financer, both allocated under this lock.
pub(crate) fn ingest_lock_key() -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "saad-gateway/ingest".bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// An instant as SQLite stores it: the fixed-width text read in place, any
/// other RFC 3339 text through chrono's parser.
pub(crate) fn instant_from_text(text: &str) -> StoreResult<DateTime<Utc>> {
    if let Some(instant) = fixed_width_instant(text.as_bytes()) {
        return Ok(instant);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::corrupt(format!("instant '{text}'")))
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (exactly), or `None`.
fn fixed_width_instant(text: &[u8]) -> Option<DateTime<Utc>> {
    fn number(digits: &[u8]) -> Option<u32> {
        digits.iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    }
    if text.len() != 27
        || text.get(4) != Some(&b'-')
        || text.get(7) != Some(&b'-')
        || text.get(10) != Some(&b'T')
        || text.get(13) != Some(&b':')
        || text.get(16) != Some(&b':')
        || text.get(19) != Some(&b'.')
        || text.get(26) != Some(&b'Z')
    {
        return None;
    }
    let field = |from: usize, to: usize| text.get(from..to).and_then(number);
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(field(0, 4)?).ok()?,
        field(5, 7)?,
        field(8, 10)?,
    )?;
    let time = chrono::NaiveTime::from_hms_micro_opt(
        field(11, 13)?,
        field(14, 16)?,
        field(17, 19)?,
        field(20, 26)?,
    )?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn month_bounds_are_paris_midnights() {
        let (start, end) = month_bounds(YearMonth::new(2024, 3).unwrap());
        assert_eq!(start, utc("2024-02-29T23:00:00Z"));
        // April starts after the spring change: UTC+2.
        assert_eq!(end, utc("2024-03-31T22:00:00Z"));
    }

    #[test]
    fn an_instant_late_on_the_last_utc_day_belongs_to_the_next_paris_month() {
        assert_eq!(paris_month(utc("2024-01-31T23:30:00Z")), "2024-02");
        assert_eq!(paris_month(utc("2024-01-31T22:59:00Z")), "2024-01");
    }

    #[test]
    fn the_ingest_lock_key_is_stable() {
        assert_eq!(ingest_lock_key(), ingest_lock_key());
        assert_ne!(ingest_lock_key(), 0);
    }

    proptest::proptest! {
        #[test]
        fn statement_chunks_keep_every_row_in_order_in_a_bounded_set_of_shapes(
            len in 0usize..5_000,
            max in 1usize..1_200,
        ) {
            let rows: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&rows, max).collect();
            let joined: Vec<usize> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            proptest::prop_assert_eq!(&joined, &rows);
            for chunk in &chunks {
                proptest::prop_assert!(!chunk.is_empty());
                proptest::prop_assert!(
                    chunk.len() == max || (chunk.len() < max && chunk.len().is_power_of_two())
                );
            }
            // Full chunks first, then strictly shrinking powers of two.
            let tail: Vec<usize> = chunks.iter().map(|c| c.len()).skip_while(|&n| n == max).collect();
            proptest::prop_assert!(tail.windows(2).all(|w| w[0] > w[1]));
        }
    }

    #[test]
    fn statement_chunks_of_a_wave_of_thirteen_are_eight_four_one() {
        let rows = [0u8; 13];
        let sizes: Vec<usize> = statement_chunks(&rows, 1_000).map(<[u8]>::len).collect();
        assert_eq!(sizes, [8, 4, 1]);
        let rows = [0u8; 2_300];
        let sizes: Vec<usize> = statement_chunks(&rows, 1_000).map(<[u8]>::len).collect();
        assert_eq!(sizes, [1_000, 1_000, 256, 32, 8, 4]);
    }

    #[test]
    fn json_lists_escape_their_items() {
        assert_eq!(json_list(["a", "b\"c"]).unwrap(), r#"["a","b\"c"]"#);
    }
}
