//! Tests of the monthly reconciliation, named after the rules.

use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::fixtures::*;
use super::*;
use crate::domain::model::{Event, OverrunAuthorisation, PlanVersion, Saad};
use crate::domain::types::{AidType, EventKind, Household, RejectionCode, SaadStatus, Siret};

fn ym(y: i32, m: u32) -> YearMonth {
    YearMonth::new(y, m).unwrap()
}

fn run<'a>(
    versions: &'a [PlanVersion],
    saad: &'a Saad,
    interventions: &'a [BillableIntervention],
    events: &'a [Event],
    authorisations: &'a [OverrunAuthorisation],
    through: YearMonth,
) -> Vec<PlanMonthResult<'a>> {
    let input = PlanInput {
        versions,
        saad,
        interventions,
        events,
        authorisations,
    };
    reconcile_plan_months(&input, through, params()).unwrap()
}

fn last<'a>(
    versions: &'a [PlanVersion],
    saad: &'a Saad,
    interventions: &'a [BillableIntervention],
    through: YearMonth,
) -> PlanMonthResult<'a> {
    run(versions, saad, interventions, &[], &[], through)
        .pop()
        .unwrap()
}

#[test]
fn r7_prorata_for_a_plan_starting_on_the_17th_of_a_31_day_month() {
    let versions = [apa_plan(1, day(2025, 1, 17), day(2025, 12, 31), 2400)];
    let saad = habilite_apa();
    let line = last(&versions, &saad, &[], ym(2025, 1));
    // 2400 × 15 / 31 = 1161.29… → 1161 (rounded down).
    assert_eq!(line.allotted_minutes, 1161);
}

#[test]
fn r7_a_full_month_gives_exactly_the_monthly_minutes() {
    let versions = [apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 2401)];
    let saad = habilite_apa();
    for month in 1..=12 {
        let line = last(&versions, &saad, &[], ym(2025, month));
        assert_eq!(line.allotted_minutes, 2401, "month {month}");
    }
}

#[test]
fn r7_a_version_change_mid_month_prorates_each_version_by_its_days() {
    let mut v2 = apa_plan(2, day(2025, 1, 11), day(2025, 12, 31), 3000);
    v2.participation_rate = Some(dec!(0.5));
    let versions = [apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 2400), v2];
    let saad = habilite_apa();
    let interventions = [
        iv("a", day(2025, 1, 5), 9, 1, 60),
        iv("b", day(2025, 1, 20), 9, 2, 60),
    ];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    // (10 × 2400 + 21 × 3000) / 31 = 87000 / 31 = 2806.45… → 2806.
    assert_eq!(line.allotted_minutes, 2806);
    // Share of the version in force each day: 24.00 × 1 + 24.00 × 0.5.
    assert_eq!(line.amounts.valued_amount, dec!(48.00));
    assert_eq!(line.amounts.amount_due, dec!(36.00));
    assert_eq!(line.amounts.participation_amount, dec!(12.00));
}

#[test]
fn r7_carry_over_cascades_across_months_and_resets_on_1_january() {
    let versions = [apa_plan(1, day(2024, 1, 1), day(2025, 12, 31), 600)];
    let saad = habilite_apa();
    let interventions = [
        iv("jan", day(2024, 1, 10), 9, 1, 300),
        iv("feb", day(2024, 2, 10), 9, 2, 1000),
    ];
    let months = run(&versions, &saad, &interventions, &[], &[], ym(2024, 3));
    assert_eq!(months.len(), 3);
    assert_eq!(months[0].carry_in_minutes, 0);
    assert_eq!(months[0].carry_out_minutes, 300);
    assert_eq!(months[1].carry_in_minutes, 300);
    assert_eq!(months[1].available_minutes, 900);
    assert_eq!(months[1].amounts.billed_minutes, 900);
    assert_eq!(months[1].overrun_minutes, 100);
    assert_eq!(months[1].carry_out_minutes, 0);
    assert_eq!(months[2].carry_in_minutes, 0);

    // Nothing billed in 2024 after February: December carries 9 months of unused minutes…
    let december = last(&versions, &saad, &interventions, ym(2024, 12));
    assert_eq!(december.carry_in_minutes, 600 * 9);
    assert_eq!(december.carry_out_minutes, 0);
    // …and January 2025 starts again from zero.
    let january = last(&versions, &saad, &interventions, ym(2025, 1));
    assert_eq!(january.carry_in_minutes, 0);
    assert_eq!(january.available_minutes, 600);
}

#[test]
fn r7_the_crossing_intervention_is_split_and_shows_both_figures() {
    let versions = [apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 120)];
    let saad = habilite_apa();
    let interventions = [
        iv("d", day(2025, 1, 9), 9, 4, 60),
        iv("a", day(2025, 1, 2), 9, 1, 60),
        iv("c", day(2025, 1, 6), 9, 3, 30),
        iv("b", day(2025, 1, 4), 9, 2, 45),
    ];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    let order: Vec<_> = line.interventions.iter().map(|b| b.line_id).collect();
    assert_eq!(order, ["a", "b", "c", "d"]);
    let c = &line.interventions[2];
    assert_eq!((c.billed_minutes, c.rejected_minutes), (15, 15));
    assert_eq!(c.code, Some(RejectionCode::Overrun));
    let d = &line.interventions[3];
    assert_eq!((d.billed_minutes, d.rejected_minutes), (0, 60));
    assert_eq!(line.amounts.billed_minutes, 120);
    assert_eq!(line.amounts.rejected_minutes, 75);
    assert_eq!(line.overrun_minutes, 75);
    let partial = &line.rejections[0];
    assert_eq!(partial.line_id, Some("c"));
    assert_eq!((partial.billed_minutes, partial.minutes), (15, 15));
    assert_eq!(partial.amount, Some(dec!(6.00)));
}

#[test]
fn r7_equal_starts_are_taken_in_acceptance_order() {
    let versions = [apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 60)];
    let saad = habilite_apa();
    let interventions = [
        iv("later", day(2025, 1, 2), 9, 7, 60),
        iv("earlier", day(2025, 1, 2), 9, 3, 60),
    ];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    assert_eq!(line.interventions[0].line_id, "earlier");
    assert_eq!(line.interventions[0].billed_minutes, 60);
    assert_eq!(line.interventions[1].code, Some(RejectionCode::Overrun));
}

#[test]
fn r7_overrun_authorisation_is_used_last_and_never_carried() {
    let versions = [apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 120)];
    let saad = habilite_apa();
    let authorisations = [OverrunAuthorisation {
        plan_ref: "P-1".to_owned(),
        month: ym(2025, 1),
        minutes: 60,
    }];
    let heavy = [iv("a", day(2025, 1, 2), 9, 1, 150)];
    let months = run(&versions, &saad, &heavy, &[], &authorisations, ym(2025, 2));
    assert_eq!(months[0].available_minutes, 180);
    assert_eq!(months[0].amounts.billed_minutes, 150);
    assert_eq!(months[0].authorised_used_minutes, 30);
    assert_eq!(months[0].carry_out_minutes, 0);
    assert_eq!(months[1].carry_in_minutes, 0);
    assert_eq!(months[1].authorised_minutes, 0);

    let light = [iv("a", day(2025, 1, 2), 9, 1, 100)];
    let months = run(&versions, &saad, &light, &[], &authorisations, ym(2025, 2));
    assert_eq!(months[0].authorised_used_minutes, 0);
    // Only the allotment's 20 unused minutes carry, not the 60 authorised.
    assert_eq!(months[0].carry_out_minutes, 20);
    assert_eq!(months[1].carry_in_minutes, 20);
}

#[test]
fn r8_autorise_rate_above_the_cap_is_paid_at_the_cap_and_the_cut_listed() {
    let mut plan = apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600);
    plan.hourly_rate = dec!(26.00);
    let versions = [plan];
    let saad = saad(
        SAAD_A,
        vec![registration(AidType::Apa, SaadStatus::Autorise, vec![])],
    );
    let interventions = [iv("a", day(2025, 1, 2), 9, 1, 90)];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    // Cap 2025 = max(23.50 reference, 24.58 floor) = 24.58.
    assert_eq!(line.hourly_rate, dec!(24.58));
    assert_eq!(line.amounts.valued_amount, dec!(36.87));
    // Cut = 1.5 h × (26.00 − 24.58) = 2.13.
    assert_eq!(line.rate_cut_amount, dec!(2.13));
    let cut = line
        .rejections
        .iter()
        .find(|r| r.code == RejectionCode::RateAboveCeiling)
        .unwrap();
    assert_eq!((cut.minutes, cut.amount), (0, Some(dec!(2.13))));
    assert_eq!(line.amounts.billed_minutes, 90);
}

#[test]
fn r8_autorise_rate_below_the_cap_is_the_plan_rate() {
    let mut plan = apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600);
    plan.hourly_rate = dec!(21.00);
    let versions = [plan];
    let saad = saad(
        SAAD_A,
        vec![registration(AidType::Apa, SaadStatus::Autorise, vec![])],
    );
    let interventions = [iv("a", day(2025, 1, 2), 9, 1, 60)];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    assert_eq!(line.hourly_rate, dec!(21.00));
    assert!(line.rejections.is_empty());
}

#[test]
fn r8_habilite_uses_the_tariff_of_each_day_and_averages_the_line_rate() {
    let versions = [apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600)];
    let saad = saad(
        SAAD_A,
        vec![registration(
            AidType::Apa,
            SaadStatus::Habilite,
            vec![
                tariff(dec!(22.00), day(2024, 1, 1), Some(day(2025, 1, 15))),
                tariff(dec!(24.00), day(2025, 1, 16), None),
            ],
        )],
    );
    let interventions = [
        iv("a", day(2025, 1, 15), 9, 1, 60),
        iv("b", day(2025, 1, 16), 9, 2, 120),
    ];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    assert_eq!(line.interventions[0].hourly_rate, Some(dec!(22.00)));
    assert_eq!(line.interventions[1].hourly_rate, Some(dec!(24.00)));
    assert_eq!(line.amounts.valued_amount, dec!(70.00));
    // 70.00 / 3 h = 23.333… → 23.33, an average.
    assert!(line.hourly_rate_is_average);
    assert_eq!(line.hourly_rate, dec!(23.33));
}

#[test]
fn r8_aide_menagere_is_paid_at_the_flat_tariff_whatever_the_plan_rate() {
    let mut plan = am_plan("P-1", Household::Single, None, 600);
    plan.hourly_rate = dec!(30.00);
    let versions = [plan];
    let saad = saad(
        SAAD_A,
        vec![registration(
            AidType::Am,
            SaadStatus::Autorise,
            vec![tariff(dec!(20.00), day(2024, 1, 1), None)],
        )],
    );
    let interventions = [iv("a", day(2025, 1, 2), 9, 1, 90)];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    assert_eq!(line.hourly_rate, dec!(20.00));
    assert_eq!(line.amounts.valued_amount, dec!(30.00));
    assert_eq!(line.amounts.amount_due, dec!(30.00));
    assert_eq!(line.amounts.participation_amount, dec!(0.00));
}

#[test]
fn r9_financer_share_apa_pch_am() {
    let saad_all = saad(
        SAAD_A,
        vec![
            registration(
                AidType::Apa,
                SaadStatus::Habilite,
                vec![tariff(dec!(24.00), day(2024, 1, 1), None)],
            ),
            registration(
                AidType::Pch,
                SaadStatus::Habilite,
                vec![tariff(dec!(24.00), day(2024, 1, 1), None)],
            ),
            registration(
                AidType::Am,
                SaadStatus::Habilite,
                vec![tariff(dec!(24.00), day(2024, 1, 1), None)],
            ),
        ],
    );
    let interventions = [iv("a", day(2025, 1, 2), 9, 1, 60)];

    let mut apa = apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600);
    apa.participation_rate = Some(dec!(0.15713));
    let versions = [apa];
    let line = last(&versions, &saad_all, &interventions, ym(2025, 1));
    // 24.00 × (1 − 0.15713) = 20.22888 → 20.23.
    assert_eq!(line.amounts.valued_amount, dec!(24.00));
    assert_eq!(line.amounts.amount_due, dec!(20.23));
    assert_eq!(line.amounts.participation_amount, dec!(3.77));

    let mut pch = apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600);
    pch.aid_type = AidType::Pch;
    pch.gir = None;
    pch.participation_rate = None;
    pch.coverage_rate = Some(dec!(0.80));
    let versions = [pch];
    let line = last(&versions, &saad_all, &interventions, ym(2025, 1));
    assert_eq!(line.amounts.amount_due, dec!(19.20));
    assert_eq!(line.amounts.participation_amount, dec!(4.80));

    let versions = [am_plan("P-1", Household::Single, None, 600)];
    let line = last(&versions, &saad_all, &interventions, ym(2025, 1));
    assert_eq!(line.amounts.amount_due, dec!(24.00));
    assert_eq!(line.amounts.participation_amount, dec!(0.00));
}

#[test]
fn r9_amounts_are_rounded_once_per_line_half_away_from_zero() {
    // 3 interventions of 1 minute… rounded minutes are multiples of 15 in
    // practice; 15 min at 23.50 = 5.875 → 5.88, three of them 17.625 → 17.63
    // (rounding each would give 17.64).
    let mut plan = apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600);
    plan.hourly_rate = dec!(23.50);
    let versions = [plan];
    let saad = saad(
        SAAD_A,
        vec![registration(
            AidType::Apa,
            SaadStatus::Habilite,
            vec![tariff(dec!(23.50), day(2024, 1, 1), None)],
        )],
    );
    let interventions = [
        iv("a", day(2025, 1, 2), 9, 1, 15),
        iv("b", day(2025, 1, 3), 9, 2, 15),
        iv("c", day(2025, 1, 4), 9, 3, 15),
    ];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    assert_eq!(line.amounts.valued_amount, dec!(17.63));
}

#[test]
fn r9_a_zero_billed_line_shows_the_rate_of_its_first_covered_day() {
    let versions = [apa_plan(1, day(2025, 1, 10), day(2025, 12, 31), 0)];
    let saad = saad(
        SAAD_A,
        vec![registration(
            AidType::Apa,
            SaadStatus::Habilite,
            vec![
                tariff(dec!(22.00), day(2024, 1, 1), Some(day(2025, 1, 10))),
                tariff(dec!(24.00), day(2025, 1, 11), None),
            ],
        )],
    );
    let interventions = [iv("a", day(2025, 1, 20), 9, 1, 60)];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    assert_eq!(line.amounts.billed_minutes, 0);
    assert_eq!(line.hourly_rate, dec!(22.00));
    assert!(!line.hourly_rate_is_average);
}

#[test]
fn close_recheck_rejects_days_without_a_version_or_of_another_saad() {
    let mut other = apa_plan(2, day(2025, 1, 20), day(2025, 12, 31), 600);
    other.saad_siret = Siret::parse(SAAD_B).unwrap();
    let versions = [apa_plan(1, day(2025, 1, 5), day(2025, 12, 31), 600), other];
    let saad = habilite_apa();
    let interventions = [
        iv("before", day(2025, 1, 2), 9, 1, 60),
        iv("ok", day(2025, 1, 6), 9, 2, 60),
        iv("moved", day(2025, 1, 25), 9, 3, 60),
    ];
    let line = last(&versions, &saad, &interventions, ym(2025, 1));
    let codes: Vec<_> = line.interventions.iter().map(|b| b.code).collect();
    assert_eq!(
        codes,
        [
            Some(RejectionCode::NoActivePlan),
            None,
            Some(RejectionCode::SaadNotAssigned)
        ]
    );
    // Allotment: only days 5–19 are this SAAD's: 600 × 15 / 31 = 290.3 → 290.
    assert_eq!(line.allotted_minutes, 290);
    assert_eq!(line.amounts.billed_minutes, 60);
    assert_eq!(line.amounts.rejected_minutes, 120);
    assert_eq!(line.overrun_minutes, 0);
}

#[test]
fn close_recheck_applies_late_events_with_r5_boundaries() {
    let versions = [apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 6000)];
    let saad = habilite_apa();
    let events = [
        Event {
            beneficiary_id: "B-1".to_owned(),
            kind: EventKind::Hospitalisation,
            start: day(2025, 1, 5),
            end: Some(day(2025, 1, 8)),
            note: None,
        },
        Event {
            beneficiary_id: "B-1".to_owned(),
            kind: EventKind::Death,
            start: day(2025, 1, 20),
            end: None,
            note: None,
        },
        Event {
            beneficiary_id: "B-1".to_owned(),
            kind: EventKind::Aggravation,
            start: day(2025, 1, 1),
            end: None,
            note: None,
        },
    ];
    let interventions = [
        iv("leave", day(2025, 1, 5), 9, 1, 60),
        iv("away", day(2025, 1, 6), 9, 2, 60),
        iv("back", day(2025, 1, 8), 9, 3, 60),
        iv("death-day", day(2025, 1, 20), 9, 4, 60),
        iv("after", day(2025, 1, 21), 9, 5, 60),
    ];
    let line = run(&versions, &saad, &interventions, &events, &[], ym(2025, 1))
        .pop()
        .unwrap();
    let codes: Vec<_> = line.interventions.iter().map(|b| b.code).collect();
    assert_eq!(
        codes,
        [
            None,
            Some(RejectionCode::BeneficiaryAbsent),
            None,
            None,
            Some(RejectionCode::BeneficiaryDeceased)
        ]
    );
    assert_eq!(line.amounts.billed_minutes, 180);
}

#[test]
fn r9_regularisation_is_the_difference_with_everything_already_invoiced() {
    let recomputed = LineAmounts {
        billed_minutes: 600,
        rejected_minutes: 0,
        valued_amount: dec!(240.00),
        participation_amount: dec!(40.00),
        amount_due: dec!(200.00),
    };
    let proforma = LineAmounts {
        billed_minutes: 660,
        rejected_minutes: 30,
        valued_amount: dec!(264.00),
        participation_amount: dec!(44.00),
        amount_due: dec!(220.00),
    };
    let earlier = LineAmounts {
        billed_minutes: -30,
        rejected_minutes: 0,
        valued_amount: dec!(-12.00),
        participation_amount: dec!(-2.00),
        amount_due: dec!(-10.00),
    };
    let delta = regularisation_delta(&recomputed, &[proforma, earlier]);
    assert_eq!(delta.billed_minutes, -30);
    assert_eq!(delta.rejected_minutes, -30);
    assert_eq!(delta.amount_due, dec!(-10.00));
    assert_eq!(delta.valued_amount, dec!(-12.00));
    assert_eq!(regularisation_delta(&recomputed, &[]), recomputed);
}

#[test]
fn reconcile_month_groups_lines_per_saad_and_aid_type() {
    let saad_a = habilite_apa();
    let mut plan_b = apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600);
    plan_b.plan_ref = "P-2".to_owned();
    plan_b.saad_siret = Siret::parse(SAAD_B).unwrap();
    let saad_b = saad(
        SAAD_B,
        vec![registration(
            AidType::Apa,
            SaadStatus::Habilite,
            vec![tariff(dec!(24.00), day(2024, 1, 1), None)],
        )],
    );
    let plan_a = [apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600)];
    let plan_b = [plan_b];
    let idle = {
        let mut p = apa_plan(1, day(2025, 1, 1), day(2025, 12, 31), 600);
        p.plan_ref = "P-3".to_owned();
        [p]
    };
    let ivs_a = [iv("a", day(2025, 2, 2), 9, 1, 60)];
    let ivs_b = [
        iv("b1", day(2025, 2, 2), 9, 1, 30),
        iv("b0", day(2025, 1, 2), 9, 1, 30),
    ];
    let input = |versions, saad, interventions| PlanInput {
        versions,
        saad,
        interventions,
        events: &[],
        authorisations: &[],
    };
    let groups = reconcile_month(
        [
            input(&plan_a[..], &saad_a, &ivs_a[..]),
            input(&plan_b[..], &saad_b, &ivs_b[..]),
            input(&idle[..], &saad_a, &[]),
        ],
        ym(2025, 2),
        params(),
    )
    .unwrap();
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].saad_siret.as_str(), SAAD_A);
    assert_eq!(groups[0].lines.len(), 1);
    assert_eq!(groups[0].totals.amount_due, dec!(24.00));
    assert_eq!(groups[1].lines[0].month, ym(2025, 2));
    assert_eq!(groups[1].totals.billed_minutes, 30);
    assert_eq!(groups[1].lines[0].carry_in_minutes, 570);
}

// ---------------------------------------------------------------- properties

fn arbitrary_plan() -> impl Strategy<Value = (Vec<PlanVersion>, Saad)> {
    let version = (
        1u32..=12,
        1u32..=28,
        0u32..120,
        0u32..3000,
        0u32..=3,
        any::<bool>(),
    );
    (
        proptest::collection::vec(version, 1..4),
        any::<bool>(),
        0u32..=20,
    )
        .prop_map(|(raw, autorise, plan_rate_cents_extra)| {
            let versions = raw
                .into_iter()
                .enumerate()
                .map(
                    |(index, (month, dom, length, minutes, share, other_saad))| {
                        let from = day(2025, month, dom);
                        let to = from + chrono::Days::new(u64::from(length));
                        let mut v = apa_plan(u32::try_from(index).unwrap() + 1, from, to, minutes);
                        v.participation_rate = Some(Decimal::new(i64::from(share) * 12_345, 5));
                        v.hourly_rate =
                            dec!(23.00) + Decimal::new(i64::from(plan_rate_cents_extra), 1);
                        if other_saad && index > 0 {
                            v.saad_siret = Siret::parse(SAAD_B).unwrap();
                        }
                        v
                    },
                )
                .collect();
            let status = if autorise {
                SaadStatus::Autorise
            } else {
                SaadStatus::Habilite
            };
            let saad = saad(
                SAAD_A,
                vec![registration(
                    AidType::Apa,
                    status,
                    vec![
                        tariff(dec!(22.37), day(2024, 1, 1), Some(day(2025, 2, 14))),
                        tariff(dec!(24.13), day(2025, 2, 15), None),
                    ],
                )],
            );
            (versions, saad)
        })
}

fn arbitrary_interventions() -> impl Strategy<Value = Vec<BillableIntervention>> {
    let one = (
        1u32..=4,
        1u32..=28,
        0u32..24,
        0i64..40,
        0i64..=16,
        any::<bool>(),
    );
    proptest::collection::vec(one, 0..60).prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(
                |(index, (month, dom, hour, sequence, quarters, corrected))| {
                    let mut i = iv(
                        &format!("L{index}"),
                        day(2025, month, dom),
                        hour,
                        sequence,
                        quarters * 15,
                    );
                    i.corrected = corrected;
                    i
                },
            )
            .collect()
    })
}

fn shuffled_pair() -> impl Strategy<Value = (Vec<BillableIntervention>, Vec<BillableIntervention>)>
{
    arbitrary_interventions().prop_flat_map(|list| (Just(list.clone()), Just(list).prop_shuffle()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn r7_r9_invariants_hold_for_any_plan(
        (versions, saad) in arbitrary_plan(),
        (interventions, shuffled) in shuffled_pair(),
        authorised in 0u32..200,
        shuffled_versions_seed in any::<bool>(),
    ) {
        let authorisations = [OverrunAuthorisation {
            plan_ref: "P-1".to_owned(),
            month: ym(2025, 2),
            minutes: authorised,
        }];
        let events = [Event {
            beneficiary_id: "B-1".to_owned(),
            kind: EventKind::Absence,
            start: day(2025, 3, 3),
            end: Some(day(2025, 3, 9)),
            note: None,
        }];
        let months = run(&versions, &saad, &interventions, &events, &authorisations, ym(2025, 4));
        for (index, line) in months.iter().enumerate() {
            let rounded: i64 = interventions
                .iter()
                .filter(|i| YearMonth::of(i.day) == line.month)
                .map(|i| i.rounded_minutes)
                .sum();
            prop_assert_eq!(line.amounts.billed_minutes + line.amounts.rejected_minutes, rounded);
            prop_assert!(line.amounts.billed_minutes <= line.available_minutes);
            prop_assert!(line.carry_in_minutes >= 0 && line.carry_out_minutes >= 0);
            prop_assert_eq!(
                line.amounts.participation_amount + line.amounts.amount_due,
                line.amounts.valued_amount
            );
            prop_assert!(line.amounts.amount_due <= line.amounts.valued_amount);
            let per_intervention: i64 = line.interventions.iter().map(|b| b.billed_minutes).sum();
            prop_assert_eq!(per_intervention, line.amounts.billed_minutes);
            if let Some(next) = months.get(index + 1) {
                prop_assert_eq!(next.carry_in_minutes, line.carry_out_minutes);
            }
        }
        // The order interventions (and versions) arrive in changes nothing.
        let mut versions_reordered = versions.clone();
        if shuffled_versions_seed {
            versions_reordered.reverse();
        }
        let again = run(&versions_reordered, &saad, &shuffled, &events, &authorisations, ym(2025, 4));
        prop_assert_eq!(months, again);
    }
}
