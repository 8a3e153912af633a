//! R8: the hourly rate the financer pays for one plan version on one day.
//!
//! Shared by the monthly reconciliation (rate of each intervention day) and
//! the plan import checks (`NO_TARIFF`, `PLAN_INCONSISTENT` use the rate on
//! `valid_from`). Pure: parameters are passed in.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::model::{SaadAidType, Tariff};
use crate::domain::params::{ParameterError, Parameters};
use crate::domain::types::{AidType, SaadStatus};

/// The rate the financer pays on a day (R8), or why there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaidRate {
    /// The rate used, EUR/h; `capped_from` is the plan's rate when an
    /// `autorise` SAAD's plan rate was above the cap (`RATE_ABOVE_CEILING`).
    Paid {
        /// Hourly rate used.
        rate: Decimal,
        /// The plan rate that was cut down to `rate`, if any.
        capped_from: Option<Decimal>,
    },
    /// No tariff in force that day for a `habilite` SAAD or for
    /// aide-ménagère, or the SAAD is not registered for the aid type
    /// (`NO_TARIFF`).
    NoTariff,
}

/// The tariff of a list in force on `day` (valid_to inclusive). When several
/// overlap, the one that started last wins (convention, documented in
/// docs/rules-monthly.md).
pub fn tariff_on(tariffs: &[Tariff], day: NaiveDate) -> Option<Decimal> {
    tariffs
        .iter()
        .filter(|t| t.covers(day))
        .max_by_key(|t| t.valid_from)
        .map(|t| t.hourly_rate)
}

/// R8 rate used on `day` for a plan of `aid_type` whose plan rate is
/// `plan_rate`, for a SAAD registered as `registration` (`None`: not
/// registered for that aid type).
///
/// - aide-ménagère: the SAAD's AM tariff (the financer's flat rate), whatever its status;
/// - `habilite`: the SAAD's tariff for the aid type that day;
/// - `autorise`: `min(plan rate, max(reference ceiling, national floor))`.
///
/// Fails only when a parameter is not in force that day (a configuration
/// error, never the SAAD's fault).
pub fn paid_rate(
    aid_type: AidType,
    registration: Option<&SaadAidType>,
    plan_rate: Decimal,
    day: NaiveDate,
    params: &Parameters,
) -> Result<PaidRate, ParameterError> {
    let Some(registration) = registration else {
        return Ok(PaidRate::NoTariff);
    };
    let from_tariff = |tariffs: &[Tariff]| match tariff_on(tariffs, day) {
        Some(rate) => PaidRate::Paid {
            rate,
            capped_from: None,
        },
        None => PaidRate::NoTariff,
    };
    if aid_type == AidType::Am {
        return Ok(from_tariff(&registration.tariffs));
    }
    match registration.status {
        SaadStatus::Habilite => Ok(from_tariff(&registration.tariffs)),
        SaadStatus::Autorise => {
            let Some(cap) = params.autorise_rate_cap(aid_type, day)? else {
                return Ok(PaidRate::NoTariff);
            };
            Ok(cap_plan_rate(plan_rate, cap))
        }
    }
}

/// `min(plan rate, cap)`, remembering the plan rate when it was cut.
pub fn cap_plan_rate(plan_rate: Decimal, cap: Decimal) -> PaidRate {
    if plan_rate > cap {
        PaidRate::Paid {
            rate: cap,
            capped_from: Some(plan_rate),
        }
    } else {
        PaidRate::Paid {
            rate: plan_rate,
            capped_from: None,
        }
    }
}
