//! The rows of a grouped context load, read back from the JSON values the
//! single statement of `IngestTx::load_pool` returns (one JSON array of rows
//! per table, each row a JSON array of its columns, in the order the
//! statement lists them).
//!
//! Both engines write the same text: instants as RFC 3339 (SQLite stores
//! them so; PostgreSQL's JSON writes `timestamptz` in ISO 8601), dates as
//! `YYYY-MM-DD`, decimals as strings (`dec_text!`: never a JSON number,
//! which would go through a float), booleans as `true`/`false`
//! (PostgreSQL) or `1`/`0` (SQLite).

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;

use super::{StoreError, StoreResult};
use crate::domain::ingest::{AcceptedIntervention, BeneficiaryAlias, RawStamp, Side};
use crate::domain::model::{Address, Event, PlanVersion, Saad, SaadAidType, Tariff};
use crate::domain::time::{Period, Stamp};
use crate::domain::types::{AidType, EventKind, Household, SaadStatus, Siret, WorkerId};

/// A boolean as either engine writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Bool(bool),
            Int(i64),
        }
        Ok(Flag(match Either::deserialize(deserializer)? {
            Either::Bool(b) => b,
            Either::Int(i) => i != 0,
        }))
    }
}

fn rows<'a, T: Deserialize<'a>>(json: &'a str, what: &str) -> StoreResult<Vec<T>> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::corrupt(format!("{what} of a context load: {e}")))
}

fn instant(text: &str) -> StoreResult<DateTime<Utc>> {
    super::rows::instant_from_text(text)
}

fn day(text: &str) -> StoreResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| StoreError::corrupt(format!("date '{text}'")))
}

fn decimal(text: &str) -> StoreResult<Decimal> {
    Decimal::from_str(text).map_err(|_| StoreError::corrupt(format!("decimal '{text}'")))
}

fn code<T: FromStr>(text: &str, what: &str) -> StoreResult<T> {
    text.parse()
        .map_err(|_| StoreError::corrupt(format!("{what} '{text}'")))
}

fn siret(text: &str) -> StoreResult<Siret> {
    Siret::parse(text).map_err(|e| StoreError::corrupt(e.message))
}

fn worker(text: Option<String>) -> StoreResult<Option<WorkerId>> {
    text.map(|w| WorkerId::parse(&w).map_err(|e| StoreError::corrupt(e.message)))
        .transpose()
}

fn small<T: TryFrom<i64>>(value: i64, what: &str) -> StoreResult<T> {
    T::try_from(value).map_err(|_| StoreError::corrupt(format!("{what} {value}")))
}

/// SAADs with their aid types and tariffs, by SIRET.
pub(crate) fn saads(
    saads: &str,
    aid_types: &str,
    tariffs: &str,
) -> StoreResult<BTreeMap<String, Saad>> {
    type SaadRow = (
        String,
        String,
        String,
        String,
        Flag,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut tariffs_of: BTreeMap<(String, String), Vec<Tariff>> = BTreeMap::new();
    let mut tariff_rows: Vec<(String, String, String, Option<String>, String)> =
        rows(tariffs, "tariffs")?;
    tariff_rows.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
    for (siret, aid_type, valid_from, valid_to, rate) in tariff_rows {
        tariffs_of
            .entry((siret, aid_type))
            .or_default()
            .push(Tariff {
                valid_from: day(&valid_from)?,
                valid_to: valid_to.as_deref().map(day).transpose()?,
                hourly_rate: decimal(&rate)?,
            });
    }
    let mut aid_rows: Vec<(String, String, String)> = rows(aid_types, "aid types")?;
    aid_rows.sort();
    let mut aid_types_of: BTreeMap<String, Vec<SaadAidType>> = BTreeMap::new();
    for (siret, aid_type, status) in aid_rows {
        let own = tariffs_of
            .remove(&(siret.clone(), aid_type.clone()))
            .unwrap_or_default();
        aid_types_of.entry(siret).or_default().push(SaadAidType {
            aid_type: code::<AidType>(&aid_type, "aid type")?,
            status: code::<SaadStatus>(&status, "SAAD status")?,
            tariffs: own,
        });
    }
    let mut found = BTreeMap::new();
    for row in rows::<SaadRow>(saads, "SAADs")? {
        let (siret_text, name, iban, bic, declarative, finess, legal_category, account_holder) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
        let address = row.8.map(|line1| Address {
            line1,
            postcode: row.9.unwrap_or_default(),
            city: row.10.unwrap_or_default(),
            country: row.11.unwrap_or_default(),
        });
        let saad = Saad {
            siret: siret(&siret_text)?,
            name,
            iban,
            bic,
            declarative: declarative.0,
            finess,
            legal_category,
            account_holder,
            address,
            aid_types: aid_types_of.remove(&siret_text).unwrap_or_default(),
        };
        found.insert(siret_text, saad);
    }
    Ok(found)
}

/// Aliases as `(SAAD, alias)`: columns SAAD, plan, alias id, beneficiary.
pub(crate) fn aliases(json: &str) -> StoreResult<Vec<(String, BeneficiaryAlias)>> {
    let mut found: Vec<(String, String, String, String)> = rows(json, "aliases")?;
    found.sort();
    Ok(found
        .into_iter()
        .map(|(saad, plan_ref, alias_id, beneficiary_id)| {
            (
                saad,
                BeneficiaryAlias {
                    plan_ref,
                    alias_id,
                    beneficiary_id,
                },
            )
        })
        .collect())
}

/// Plan versions, by reference then version (the columns of
/// `IngestTx::load_pool`'s plan section).
pub(crate) fn plans(json: &str) -> StoreResult<Vec<PlanVersion>> {
    type PlanRow = (
        String,
        i64,
        String,
        String,
        String,
        Option<i64>,
        Option<String>,
        String,
        String,
        i64,
        String,
        Option<String>,
        Option<String>,
        String,
        Flag,
        Option<String>,
    );
    let mut found = Vec::new();
    for row in rows::<PlanRow>(json, "plans")? {
        found.push(PlanVersion {
            plan_ref: row.0,
            version: small(row.1, "plan version")?,
            beneficiary_id: row.2,
            saad_siret: siret(&row.3)?,
            aid_type: code::<AidType>(&row.4, "aid type")?,
            gir: row.5.map(|g| small(g, "GIR")).transpose()?,
            household: row
                .6
                .as_deref()
                .map(|h| code::<Household>(h, "household"))
                .transpose()?,
            valid_from: day(&row.7)?,
            valid_to: day(&row.8)?,
            monthly_minutes: small(row.9, "monthly minutes")?,
            hourly_rate: decimal(&row.10)?,
            participation_rate: row.11.as_deref().map(decimal).transpose()?,
            coverage_rate: row.12.as_deref().map(decimal).transpose()?,
            monthly_amount: decimal(&row.13)?,
            respite_exemption: row.14.0,
            household_ref: row.15,
        });
    }
    found.sort_by(|a, b| (&a.plan_ref, a.version).cmp(&(&b.plan_ref, b.version)));
    Ok(found)
}

/// Events, by beneficiary, start, kind: columns beneficiary, kind, start,
/// end, note.
pub(crate) fn events(json: &str) -> StoreResult<Vec<Event>> {
    let mut found = Vec::new();
    for (beneficiary_id, kind, start, end, note) in
        rows::<(String, String, String, Option<String>, Option<String>)>(json, "events")?
    {
        found.push(Event {
            beneficiary_id,
            kind: code::<EventKind>(&kind, "event kind")?,
            start: day(&start)?,
            end: end.as_deref().map(day).transpose()?,
            note,
        });
    }
    found.sort_by(|a, b| {
        (&a.beneficiary_id, a.start, a.kind.code()).cmp(&(
            &b.beneficiary_id,
            b.start,
            b.kind.code(),
        ))
    });
    Ok(found)
}

/// Raw sides of the legacy `raw_stamps` table: (SAAD, line, side),
/// oldest first within a side. Columns SAAD, line, side, stamp, received.
pub(crate) fn legacy_raw(json: &str) -> StoreResult<Vec<(String, String, RawStamp)>> {
    let mut found = Vec::new();
    for (saad, line_id, side, stamp, received_at) in
        rows::<(String, String, String, String, String)>(json, "legacy raw sides")?
    {
        found.push((
            saad,
            line_id,
            RawStamp {
                side: super::rows::parse_side(&side)?,
                stamp: Stamp::parse(&stamp).map_err(|e| StoreError::corrupt(e.to_string()))?,
                received_at: instant(&received_at)?,
            },
        ));
    }
    Ok(found)
}

/// Raw sides on version rows, oldest version first. Columns id, SAAD,
/// line, raw start, its reception, raw end, its reception.
pub(crate) fn version_raw(json: &str) -> StoreResult<Vec<(String, String, RawStamp)>> {
    type RawRow = (
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut found: Vec<RawRow> = rows(json, "raw sides")?;
    found.sort_by_key(|row| row.0);
    let mut sides = Vec::new();
    for (_, saad, line_id, start, start_at, end, end_at) in found {
        for (side, stamp, received) in [(Side::Start, start, start_at), (Side::End, end, end_at)] {
            if let (Some(stamp), Some(received)) = (stamp, received) {
                sides.push((
                    saad.clone(),
                    line_id.clone(),
                    RawStamp {
                        side,
                        stamp: Stamp::parse(&stamp)
                            .map_err(|e| StoreError::corrupt(e.to_string()))?,
                        received_at: instant(&received)?,
                    },
                ));
            }
        }
    }
    Ok(sides)
}

/// Current accepted interventions with the fingerprint of their version.
/// Columns SAAD, line, beneficiary, worker, counted start, counted end,
/// shared time, plan, sequence, rounded minutes, corrected, fingerprint.
pub(crate) fn current(json: &str) -> StoreResult<Vec<(AcceptedIntervention, Option<String>)>> {
    type CurrentRow = (
        String,
        String,
        String,
        Option<String>,
        String,
        String,
        Flag,
        String,
        i64,
        i64,
        Flag,
        Option<String>,
    );
    let mut found = Vec::new();
    for row in rows::<CurrentRow>(json, "current interventions")? {
        found.push((
            AcceptedIntervention {
                saad_siret: row.0,
                line_id: row.1,
                beneficiary_id: row.2,
                worker_id: worker(row.3)?,
                period: Period {
                    start: instant(&row.4)?,
                    end: instant(&row.5)?,
                },
                shared_time: row.6.0,
                plan_ref: row.7,
                sequence: row.8,
                rounded_minutes: row.9,
                corrected: row.10.0,
            },
            row.11,
        ));
    }
    Ok(found)
}
