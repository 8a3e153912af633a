//! Test fixtures: parameters (the values of rules-reference.md), SAADs,
//! plan versions and interventions.

use std::collections::BTreeMap;

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::BillableIntervention;
use crate::domain::model::{PlanVersion, Saad, SaadAidType, Tariff};
use crate::domain::params::{DatedValue, Parameters, keys};
use crate::domain::types::{AidType, Household, SaadStatus, Siret};

pub const SAAD_A: &str = "00000000000018";
pub const SAAD_B: &str = "73282932000074";

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn value(v: Decimal, from: NaiveDate, to: Option<NaiveDate>) -> DatedValue {
    DatedValue {
        value: v,
        valid_from: from,
        valid_to: to,
        needs_confirmation: false,
    }
}

/// Parameters built from rules-reference.md (used until the real charter
/// loader lands; the GIR-ceiling test reads the real charter).
pub fn params() -> Parameters {
    let mut s: BTreeMap<String, Vec<DatedValue>> = BTreeMap::new();
    let mut open = |key: &str, v: Decimal, from: NaiveDate| {
        s.entry(key.to_owned())
            .or_default()
            .push(value(v, from, None));
    };
    open(keys::ROUND_STEP_MINUTES, dec!(15), day(2016, 1, 1));
    open(keys::ROUND_PIVOT_MINUTE, dec!(7), day(2016, 1, 1));
    open(keys::ASYNC_TOLERANCE_HOURS, dec!(48), day(2016, 1, 1));
    open(keys::MAX_INTERVENTION_MINUTES, dec!(1440), day(2016, 1, 1));
    open(keys::FUTURE_TOLERANCE_MINUTES, dec!(5), day(2016, 1, 1));
    open("apa.ceiling.gir1.coef", dec!(1.615), day(2024, 1, 1));
    open("apa.ceiling.gir2.coef", dec!(1.306), day(2024, 1, 1));
    open("apa.ceiling.gir3.coef", dec!(0.944), day(2024, 1, 1));
    open("apa.ceiling.gir4.coef", dec!(0.630), day(2024, 1, 1));
    open(keys::REFERENCE_RATE_APA, dec!(23.50), day(2024, 1, 1));
    open(keys::REFERENCE_RATE_PCH, dec!(23.50), day(2024, 1, 1));
    open(keys::AM_MAX_HOURS_SINGLE, dec!(30), day(2016, 1, 1));
    open(keys::AM_MAX_HOURS_COUPLE, dec!(48), day(2016, 1, 1));
    open(
        keys::APA_PARTICIPATION_S1_COEF,
        dec!(0.725),
        day(2016, 3, 1),
    );
    open(keys::APA_PARTICIPATION_S2_COEF, dec!(2.67), day(2016, 3, 1));
    open(
        keys::APA_PARTICIPATION_SLICE1_COEF,
        dec!(0.317),
        day(2016, 3, 1),
    );
    open(
        keys::APA_PARTICIPATION_SLICE2_COEF,
        dec!(0.498),
        day(2016, 3, 1),
    );
    open(
        keys::APA_PARTICIPATION_MAX_RATE,
        dec!(0.90),
        day(2002, 1, 1),
    );
    open(
        keys::APA_PARTICIPATION_SLICE2_KEEP,
        dec!(0.40),
        day(2016, 3, 1),
    );
    open(
        keys::APA_PARTICIPATION_SLICE3_KEEP,
        dec!(0.20),
        day(2016, 3, 1),
    );
    open(
        keys::APA_COUPLE_RESOURCE_DIVISOR,
        dec!(1.7),
        day(2002, 1, 1),
    );
    open(keys::PCH_COVERAGE_FULL, dec!(1.00), day(2006, 1, 1));
    open(keys::PCH_COVERAGE_REDUCED, dec!(0.80), day(2006, 1, 1));
    let mut dated = |key: &str, v: Decimal, from: NaiveDate, to: Option<NaiveDate>| {
        s.entry(key.to_owned())
            .or_default()
            .push(value(v, from, to));
    };
    dated(
        keys::MTP_MONTHLY,
        dec!(1210.90),
        day(2023, 4, 1),
        Some(day(2024, 4, 1)),
    );
    dated(
        keys::MTP_MONTHLY,
        dec!(1266.60),
        day(2024, 4, 1),
        Some(day(2025, 4, 1)),
    );
    dated(keys::MTP_MONTHLY, dec!(1288.13), day(2025, 4, 1), None);
    dated(
        keys::FLOOR_SAAD_HOUR,
        dec!(23.00),
        day(2023, 1, 1),
        Some(day(2024, 1, 1)),
    );
    dated(
        keys::FLOOR_SAAD_HOUR,
        dec!(23.50),
        day(2024, 1, 1),
        Some(day(2025, 1, 1)),
    );
    dated(keys::FLOOR_SAAD_HOUR, dec!(24.58), day(2025, 1, 1), None);
    Parameters::new(s, BTreeMap::new(), BTreeMap::new()).unwrap()
}

pub fn tariff(rate: Decimal, from: NaiveDate, to: Option<NaiveDate>) -> Tariff {
    Tariff {
        valid_from: from,
        valid_to: to,
        hourly_rate: rate,
    }
}

pub fn registration(aid: AidType, status: SaadStatus, tariffs: Vec<Tariff>) -> SaadAidType {
    SaadAidType {
        aid_type: aid,
        status,
        tariffs,
    }
}

pub fn saad(siret: &str, aid_types: Vec<SaadAidType>) -> Saad {
    Saad {
        siret: Siret::parse(siret).unwrap(),
        name: "SAAD test".to_owned(),
        iban: "FR7630006000011234567890189".to_owned(),
        bic: "AGRIFRPP".to_owned(),
        declarative: false,
        finess: None,
        legal_category: None,
        account_holder: None,
        address: None,
        aid_types,
    }
}

/// A habilité APA SAAD with one open tariff of 24.00 €/h from 2024.
pub fn habilite_apa() -> Saad {
    saad(
        SAAD_A,
        vec![registration(
            AidType::Apa,
            SaadStatus::Habilite,
            vec![tariff(dec!(24.00), day(2024, 1, 1), None)],
        )],
    )
}

/// An APA plan version of SAAD A: GIR 1, rate 24.00, participation 0.
pub fn apa_plan(version: u32, from: NaiveDate, to: NaiveDate, minutes: u32) -> PlanVersion {
    PlanVersion {
        plan_ref: "P-1".to_owned(),
        version,
        beneficiary_id: "B-1".to_owned(),
        saad_siret: Siret::parse(SAAD_A).unwrap(),
        aid_type: AidType::Apa,
        gir: Some(1),
        household: None,
        valid_from: from,
        valid_to: to,
        monthly_minutes: minutes,
        hourly_rate: dec!(24.00),
        participation_rate: Some(Decimal::ZERO),
        coverage_rate: None,
        monthly_amount: dec!(1900.00),
        respite_exemption: false,
        household_ref: None,
    }
}

/// An aide-ménagère plan version.
pub fn am_plan(
    plan_ref: &str,
    household: Household,
    household_ref: Option<&str>,
    minutes: u32,
) -> PlanVersion {
    PlanVersion {
        plan_ref: plan_ref.to_owned(),
        aid_type: AidType::Am,
        gir: None,
        household: Some(household),
        household_ref: household_ref.map(str::to_owned),
        participation_rate: None,
        hourly_rate: dec!(20.00),
        monthly_amount: dec!(1000.00),
        ..apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), minutes)
    }
}

/// An intervention starting at `hour`:00 UTC on `d`.
pub fn iv(
    line_id: &str,
    d: NaiveDate,
    hour: u32,
    sequence: i64,
    minutes: i64,
) -> BillableIntervention {
    BillableIntervention {
        line_id: line_id.to_owned(),
        day: d,
        start: Utc.from_utc_datetime(&d.and_hms_opt(hour, 0, 0).unwrap()),
        received_sequence: sequence,
        rounded_minutes: minutes,
        corrected: false,
    }
}
