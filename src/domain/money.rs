//! Named rounding helpers for money, rates and minutes (rules.md R7–R9).
//!
//! Every rounding of the gateway goes through a function of this module, and
//! every function names its [`RoundingStrategy`]: `Decimal::round` and
//! `Decimal::round_dp` round half to even (banker's rounding), which R9 does
//! not want, so they are never called. Minutes are whole integers; money is
//! `rust_decimal::Decimal`, never floating point. Pure: no I/O.

use rust_decimal::{Decimal, RoundingStrategy};

/// Minutes in an hour, as a decimal divisor.
pub const MINUTES_PER_HOUR: Decimal = Decimal::from_parts(60, 0, 0, false, 0);

/// Rounds an amount to the cent, half away from zero (R9: "rounding, once
/// per line, to the cent, half away from zero"; also R8's GIR ceilings and
/// an average hourly rate). `0.005 → 0.01`, `-0.005 → -0.01`.
pub fn round_cents_half_away(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds a ratio (e.g. an APA participation rate) to `places` decimal
/// places, half away from zero.
pub fn round_ratio_half_away(ratio: Decimal, places: u32) -> Decimal {
    ratio.round_dp_with_strategy(places, RoundingStrategy::MidpointAwayFromZero)
}

/// Integer division rounded DOWN (toward negative infinity), as R7 wants for
/// the prorated allotment: `floor_minutes(2400 × 15, 31) = 1161`.
///
/// A non-positive `denominator` gives 0 (there is no month without days;
/// callers never pass one, and a panic is not an option in money code).
pub fn floor_minutes(numerator: i64, denominator: i64) -> i64 {
    if denominator <= 0 {
        return 0;
    }
    numerator.div_euclid(denominator)
}

/// The exact value of `minutes` at `hourly_rate`: `minutes ÷ 60 × rate`,
/// kept in `Decimal` (28 significant digits; `÷ 60` is the only inexact
/// step, done last).
pub fn minutes_value(minutes: i64, hourly_rate: Decimal) -> Decimal {
    Decimal::from(minutes) * hourly_rate / MINUTES_PER_HOUR
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn r9_a_half_cent_goes_away_from_zero() {
        assert_eq!(round_cents_half_away(dec!(0.005)), dec!(0.01));
        assert_eq!(round_cents_half_away(dec!(0.015)), dec!(0.02));
        assert_eq!(round_cents_half_away(dec!(0.025)), dec!(0.03));
        assert_eq!(round_cents_half_away(dec!(-0.005)), dec!(-0.01));
        assert_eq!(round_cents_half_away(dec!(1.0049999)), dec!(1.00));
    }

    #[test]
    fn r7_prorata_is_rounded_down() {
        assert_eq!(floor_minutes(2400 * 15, 31), 1161);
        assert_eq!(floor_minutes(2400 * 31, 31), 2400);
        assert_eq!(floor_minutes(-1, 31), -1);
        assert_eq!(floor_minutes(5, 0), 0);
    }

    #[test]
    fn r9_value_of_minutes_is_exact_until_rounded() {
        // 1 minute at 23.50 €/h = 0.391666…; 3 such minutes are exactly 1.175.
        let one = minutes_value(1, dec!(23.50));
        assert_eq!(round_cents_half_away(one * dec!(3)), dec!(1.18));
        assert_eq!(minutes_value(90, dec!(24.58)), dec!(36.87));
    }

    proptest! {
        #[test]
        fn r9_rounding_is_within_half_a_cent(units in -10_000_000i64..10_000_000, scale in 0u32..6) {
            let amount = Decimal::new(units, scale);
            let rounded = round_cents_half_away(amount);
            prop_assert!((rounded - amount).abs() <= dec!(0.005));
            prop_assert_eq!(round_cents_half_away(-amount), -rounded);
        }
    }
}
