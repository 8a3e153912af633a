//! Matching a SAAD's own invoice against the computed pro-forma (rules.md
//! R9): line by line on the amount due, a line asking more than computed is
//! cut back and listed `INVOICE_MISMATCH`; a line asking less is paid as
//! asked and listed as information (`INVOICE_BELOW_COMPUTED`); a plan line
//! the SAAD omits stays as computed.
//!
//! Conventions (docs/rules-monthly.md): several lines of the SAAD's invoice
//! for one plan are added up; a line for a plan absent from the pro-forma is
//! computed at 0 and so cut to 0 (`INVOICE_MISMATCH`); a negative asked
//! amount is treated like any other (paid as asked only when it is below the
//! computed amount).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;

use super::types::RejectionCode;

/// The outcome for one plan line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedLine {
    /// Plan reference.
    pub plan_ref: String,
    /// What the SAAD asked (`None` when its invoice omits the plan).
    pub asked: Option<Decimal>,
    /// What the gateway computed (0 for a plan absent from the pro-forma).
    pub computed: Decimal,
    /// What is paid.
    pub paid: Decimal,
    /// `INVOICE_MISMATCH`, `INVOICE_BELOW_COMPUTED`, or none.
    pub code: Option<RejectionCode>,
}

/// Matches the SAAD's asked amounts (plan, amount due) against the computed
/// amounts (plan, amount due), in plan order.
pub fn match_invoice(
    computed: &[(String, Decimal)],
    asked: &[(String, Decimal)],
) -> Vec<MatchedLine> {
    let mut computed_by_plan: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (plan, amount) in computed {
        *computed_by_plan.entry(plan.as_str()).or_default() += *amount;
    }
    let mut asked_by_plan: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (plan, amount) in asked {
        *asked_by_plan.entry(plan.as_str()).or_default() += *amount;
    }
    let mut plans: Vec<&str> = computed_by_plan
        .keys()
        .chain(asked_by_plan.keys())
        .copied()
        .collect();
    plans.sort_unstable();
    plans.dedup();
    plans
        .into_iter()
        .map(|plan| {
            let computed = computed_by_plan.get(plan).copied().unwrap_or(Decimal::ZERO);
            let asked = asked_by_plan.get(plan).copied();
            let (paid, code) = match asked {
                None => (computed, None),
                Some(asked) if asked > computed => (computed, Some(RejectionCode::InvoiceMismatch)),
                Some(asked) if asked < computed => {
                    (asked, Some(RejectionCode::InvoiceBelowComputed))
                }
                Some(asked) => (asked, None),
            };
            MatchedLine {
                plan_ref: plan.to_owned(),
                asked,
                computed,
                paid,
                code,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn line(plan: &str, amount: Decimal) -> (String, Decimal) {
        (plan.to_owned(), amount)
    }

    #[test]
    fn r9_a_line_asking_more_than_computed_is_cut_back_with_invoice_mismatch() {
        let out = match_invoice(&[line("P1", dec!(66.00))], &[line("P1", dec!(70.00))]);
        assert_eq!(out[0].paid, dec!(66.00));
        assert_eq!(out[0].code, Some(RejectionCode::InvoiceMismatch));
        assert_eq!(out[0].asked, Some(dec!(70.00)));
    }

    #[test]
    fn r9_a_line_asking_less_is_paid_as_asked_and_listed_as_information() {
        let out = match_invoice(&[line("P1", dec!(66.00))], &[line("P1", dec!(60.00))]);
        assert_eq!(out[0].paid, dec!(60.00));
        assert_eq!(out[0].code, Some(RejectionCode::InvoiceBelowComputed));
    }

    #[test]
    fn r9_a_plan_line_the_saad_omits_stays_as_computed() {
        let out = match_invoice(
            &[line("P1", dec!(66.00)), line("P2", dec!(12.50))],
            &[line("P1", dec!(66.00))],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].code, None);
        assert_eq!(out[1].plan_ref, "P2");
        assert_eq!(out[1].asked, None);
        assert_eq!(out[1].paid, dec!(12.50));
    }

    #[test]
    fn r9_a_line_for_a_plan_absent_from_the_pro_forma_is_cut_to_zero() {
        let out = match_invoice(&[], &[line("P9", dec!(10.00))]);
        assert_eq!(out[0].computed, Decimal::ZERO);
        assert_eq!(out[0].paid, Decimal::ZERO);
        assert_eq!(out[0].code, Some(RejectionCode::InvoiceMismatch));
    }

    #[test]
    fn r9_several_lines_of_one_plan_are_added_up() {
        let out = match_invoice(
            &[line("P1", dec!(66.00))],
            &[line("P1", dec!(30.00)), line("P1", dec!(36.00))],
        );
        assert_eq!(out[0].asked, Some(dec!(66.00)));
        assert_eq!(out[0].code, None);
    }

    fn cents() -> impl Strategy<Value = Decimal> {
        (0i64..1_000_000).prop_map(|c| Decimal::new(c, 2))
    }

    proptest! {
        #[test]
        fn r9_paid_never_exceeds_computed_nor_asked(
            computed in proptest::collection::vec((0u8..6, cents()), 0..8),
            asked in proptest::collection::vec((0u8..8, cents()), 0..8),
        ) {
            let computed: Vec<_> = computed.into_iter().map(|(p, a)| (format!("P{p}"), a)).collect();
            let asked: Vec<_> = asked.into_iter().map(|(p, a)| (format!("P{p}"), a)).collect();
            for out in match_invoice(&computed, &asked) {
                prop_assert!(out.paid <= out.computed);
                if let Some(asked) = out.asked {
                    prop_assert!(out.paid <= asked);
                    prop_assert_eq!(out.code == Some(RejectionCode::InvoiceMismatch), asked > out.computed);
                }
            }
        }
    }
}
