//! Property tests of the ingestion rules (R1 rounding, R6 order and overlaps).

use chrono::{Duration, NaiveDate};
use proptest::prelude::*;

use super::tests::{at, context, day, instant, params, plan, run, saad_a, saad_b};
use super::*;
use crate::domain::ingest::AcceptedIntervention;
use crate::domain::model::{Event, PlanVersion};
use crate::domain::time::Stamp;
use crate::domain::types::WorkerId;

/// A local stamp `minutes` after 2024-03-14 00:00 (no DST change near).
fn minutes_after_midnight(minutes: i64) -> Stamp {
    let base = at("2024-03-14T00:00:00").paris_wall_clock();
    Stamp::Local(base + Duration::minutes(minutes))
}

fn worker(choice: u8) -> Option<WorkerId> {
    match choice {
        0 => WorkerId::parse("W1").ok(),
        1 => WorkerId::parse("W2").ok(),
        _ => None,
    }
}

prop_compose! {
    fn a_line()(
        id in 0u8..6,
        start in 0i64..1400,
        duration in -5i64..200,
        plan_choice in 0u8..5,
        beneficiary_choice in 0u8..6,
        worker_choice in 0u8..3,
        correction in 0u8..5,
        action in 0u8..12,
    ) -> InterventionSubmission {
        let plan_ref = match plan_choice {
            0 => Some("P1"),
            1 => Some("P2"),
            2 => None,
            3 => Some("Q1"),
            _ => Some("NOPE"),
        };
        // Mostly the plan's own beneficiary, sometimes a SAAD alias or the
        // other beneficiary.
        let beneficiary = match (beneficiary_choice, plan_choice) {
            (0..=3, 1) => "B2",
            (0..=3, 3) => "B9",
            (0..=3, _) | (5, 1) => "B1",
            (4, _) => "OWN-7",
            _ => "B2",
        };
        let mut line = InterventionSubmission {
            line_id: format!("L{id}"),
            plan_ref: plan_ref.map(str::to_owned),
            beneficiary_id: beneficiary.to_owned(),
            worker_id: worker(worker_choice),
            aid_type: Some("APA".to_owned()),
            raw_start: Some(minutes_after_midnight(start)),
            raw_end: Some(minutes_after_midnight(start + duration)),
            action: match action {
                0 => LineAction::StampsOnly,
                1 => LineAction::Withdraw,
                _ => LineAction::Count,
            },
            ..InterventionSubmission::default()
        };
        match correction {
            1 => {
                line.corrected_start = line.raw_start;
                line.correction_reason = Some("SHARED_TIME".to_owned());
            }
            2 => {
                line.corrected_end = line.raw_end;
                line.correction_reason = Some("FORGOTTEN".to_owned());
            }
            3 => {
                line.corrected_end = line.raw_end;
            }
            4 => {
                line.corrected_start = line.raw_start.take();
                line.corrected_end = line.raw_end.take();
                line.declarative = Some(true);
                line.timesheet_ref = Some("TS".to_owned());
            }
            _ => {}
        }
        line
    }
}

prop_compose! {
    fn a_neighbour()(
        index in 0u32..1000,
        ours in any::<bool>(),
        beneficiary_choice in 0u8..2,
        worker_choice in 0u8..3,
        start in 0i64..1400,
        duration in 1i64..180,
        shared_time in any::<bool>(),
    ) -> AcceptedIntervention {
        let start_stamp = minutes_after_midnight(start);
        let end_stamp = minutes_after_midnight(start + duration);
        let period = resolve_period(start_stamp, end_stamp).unwrap_or(Period {
            start: instant("2024-03-14T00:00:00Z"),
            end: instant("2024-03-14T01:00:00Z"),
        });
        AcceptedIntervention {
            saad_siret: if ours { saad_a() } else { saad_b() }.as_str().to_owned(),
            line_id: format!("N{index}"),
            beneficiary_id: ["B1", "B2"][usize::from(beneficiary_choice)].to_owned(),
            worker_id: worker(worker_choice),
            period,
            shared_time,
            plan_ref: "P0".to_owned(),
            sequence: i64::from(index),
            rounded_minutes: 60,
            corrected: shared_time,
        }
    }
}

fn a_day() -> impl Strategy<Value = NaiveDate> {
    (10u32..20).prop_map(|d| day(2024, 3, d))
}

prop_compose! {
    fn an_event()(
        kind in proptest::sample::select(EventKind::ALL),
        beneficiary_choice in 0u8..2,
        start in a_day(),
        length in proptest::option::of(0i64..6),
    ) -> Event {
        Event {
            beneficiary_id: ["B1", "B2"][usize::from(beneficiary_choice)].to_owned(),
            kind,
            start,
            end: length.map(|l| start + Duration::days(l)),
            note: None,
        }
    }
}

prop_compose! {
    fn a_plan_version()(
        first in any::<bool>(),
        version in 2u32..5,
        ours in 0u8..4,
        from in a_day(),
        length in 0i64..20,
    ) -> PlanVersion {
        let saad = if ours == 0 { saad_b() } else { saad_a() };
        let mut v = if first { plan("P1", "B1", &saad) } else { plan("P2", "B2", &saad) };
        v.version = version;
        v.valid_from = from;
        v.valid_to = from + Duration::days(length);
        v
    }
}

/// The parts of a context the property permutes.
#[derive(Debug, Clone)]
struct Parts {
    plans: Vec<PlanVersion>,
    events: Vec<Event>,
    neighbours: Vec<AcceptedIntervention>,
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        proptest::collection::vec(a_plan_version(), 0..4),
        proptest::collection::vec(an_event(), 0..4),
        proptest::collection::vec(a_neighbour(), 0..8),
    )
        .prop_map(|(extra, events, neighbours)| {
            let mut plans = context().plans;
            plans.extend(extra);
            Parts {
                plans,
                events,
                neighbours,
            }
        })
}

fn context_of(parts: &Parts) -> IngestContext {
    IngestContext {
        plans: parts.plans.clone(),
        events: parts.events.clone(),
        neighbours: parts.neighbours.clone(),
        ..context()
    }
}

/// The same parts, each vector shuffled.
fn parts_and_shuffled() -> impl Strategy<Value = (Parts, Parts)> {
    parts().prop_flat_map(|parts| {
        let original = parts.clone();
        (
            Just(parts.plans).prop_shuffle(),
            Just(parts.events).prop_shuffle(),
            Just(parts.neighbours).prop_shuffle(),
        )
            .prop_map(move |(plans, events, neighbours)| {
                (
                    original.clone(),
                    Parts {
                        plans,
                        events,
                        neighbours,
                    },
                )
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn r1_rounded_minutes_follow_the_charter_formula_and_stay_within_7_minutes(
        minutes in 8i64..100_000,
    ) {
        let rounded = rounded_minutes(&params(), day(2024, 3, 14), minutes).unwrap_or(-1);
        prop_assert_eq!(rounded, 15 * ((minutes + 7) / 15));
        prop_assert!((rounded - minutes).abs() <= 7);
    }

    #[test]
    fn r1_an_accepted_line_is_rounded_by_the_charter_formula(minutes in 1i64..=1440) {
        let line = InterventionSubmission {
            raw_start: Some(at("2024-03-14T08:00:00")),
            raw_end: Some(Stamp::Local(
                at("2024-03-14T08:00:00").paris_wall_clock() + Duration::minutes(minutes),
            )),
            ..super::tests::line("L1", "00:00:00", "00:00:00")
        };
        let result = run(&context(), &[line]);
        let outcome = &result.outcomes[0];
        prop_assert_eq!(outcome.status, LineStatus::Accepted);
        prop_assert_eq!(outcome.counted_minutes, minutes);
        prop_assert_eq!(outcome.rounded_minutes, 15 * ((minutes + 7) / 15));
        prop_assert_eq!(
            outcome.warnings.iter().any(|w| w.starts_with("SHORT_INTERVENTION")),
            minutes < 8
        );
    }

    #[test]
    fn r6_outcomes_do_not_depend_on_the_order_of_plans_events_or_neighbours(
        (original, shuffled) in parts_and_shuffled(),
        lines in proptest::collection::vec(a_line(), 1..8),
    ) {
        let first = run(&context_of(&original), &lines);
        let second = run(&context_of(&shuffled), &lines);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn r6_accepted_interventions_of_a_beneficiary_never_overlap(
        parts in parts(),
        lines in proptest::collection::vec(a_line(), 1..10),
    ) {
        let ctx = context_of(&parts);
        let result = run(&ctx, &lines);
        for (index, new) in result.accepted.iter().enumerate() {
            for other in result.accepted.iter().skip(index + 1).chain(&ctx.neighbours) {
                let clash = other.beneficiary_id == new.beneficiary_id
                    && other.period.overlaps(&new.period);
                prop_assert!(!clash, "{new:?} overlaps {other:?}");
            }
        }
    }

    #[test]
    fn a_rejected_line_has_a_reason_and_an_accepted_line_none(
        parts in parts(),
        lines in proptest::collection::vec(a_line(), 1..10),
    ) {
        let result = run(&context_of(&parts), &lines);
        prop_assert_eq!(result.outcomes.len(), lines.len());
        for outcome in &result.outcomes {
            match outcome.status {
                LineStatus::Accepted => prop_assert!(outcome.reasons.is_empty()),
                LineStatus::Rejected => {
                    prop_assert!(!outcome.reasons.is_empty());
                    prop_assert_eq!(outcome.rounded_minutes, 0);
                    let mut sorted = outcome.reasons.clone();
                    sorted.sort();
                    sorted.dedup();
                    prop_assert_eq!(&sorted, &outcome.reasons, "rule order, no repeats");
                }
            }
        }
    }
}
