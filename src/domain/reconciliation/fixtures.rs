//! Test fixtures: parameters (the real `charter/`), SAADs,
//! plan versions and interventions.

use std::path::Path;
use std::sync::OnceLock;

use chrono::{NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::BillableIntervention;
use crate::domain::model::{PlanVersion, Saad, SaadAidType, Tariff};
use crate::domain::params::Parameters;
use crate::domain::types::{AidType, Household, SaadStatus, Siret};

pub const SAAD_A: &str = "00000000000018";
pub const SAAD_B: &str = "73282932000074";

pub fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// The real charter of the repository (`charter/`), loaded once.
pub fn params() -> &'static Parameters {
    static CHARTER: OnceLock<Parameters> = OnceLock::new();
    CHARTER.get_or_init(|| {
        crate::charter::load_dir(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/charter")))
            .unwrap()
    })
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
