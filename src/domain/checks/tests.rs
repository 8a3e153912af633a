//! Unit tests of the ingestion rules, named after the rule they show.

use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal_macros::dec;

use super::*;
use crate::domain::ingest::{AcceptedIntervention, PriorIntervention, RawStamp, Side};
use crate::domain::model::{Event, MessageProblem, PlanVersion, Saad};
use crate::domain::time::Stamp;
use crate::domain::types::{AidType, WorkerId};

// ---------------------------------------------------------------- fixtures

/// The project's real charter (`charter/`), loaded once.
pub(super) fn params() -> Parameters {
    static CHARTER: OnceLock<Parameters> = OnceLock::new();
    CHARTER
        .get_or_init(|| crate::charter::load_dir(&crate::charter::default_dir()).unwrap())
        .clone()
}

pub(super) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

pub(super) fn at(text: &str) -> Stamp {
    Stamp::parse(text).unwrap()
}

pub(super) fn instant(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

pub(super) fn saad_a() -> Siret {
    Siret::parse("73282932000074").unwrap()
}

pub(super) fn saad_b() -> Siret {
    Siret::parse("00000000000018").unwrap()
}

pub(super) fn plan(plan_ref: &str, beneficiary: &str, saad: &Siret) -> PlanVersion {
    PlanVersion {
        plan_ref: plan_ref.to_owned(),
        version: 1,
        beneficiary_id: beneficiary.to_owned(),
        saad_siret: saad.clone(),
        aid_type: AidType::Apa,
        gir: Some(2),
        household: None,
        valid_from: day(2024, 1, 1),
        valid_to: day(2024, 12, 31),
        monthly_minutes: 1800,
        hourly_rate: dec!(24.58),
        participation_rate: Some(dec!(0.1)),
        coverage_rate: None,
        monthly_amount: dec!(800),
        respite_exemption: false,
        household_ref: None,
    }
}

fn saad_record(declarative: bool) -> Saad {
    Saad {
        siret: saad_a(),
        name: "Aide à domicile du Clunisois".to_owned(),
        iban: "FR7630006000011234567890189".to_owned(),
        bic: "AGRIFRPP".to_owned(),
        declarative,
        finess: None,
        legal_category: None,
        account_holder: None,
        address: None,
        aid_types: Vec::new(),
    }
}

/// The clock is 2024-03-15 12:00 in France; SAAD A has plan P1 (B1) and
/// P2 (B2), SAAD B has plan Q1 (B9), all APA for 2024.
pub(super) fn context() -> IngestContext {
    IngestContext {
        now: instant("2024-03-15T12:00:00+01:00"),
        saad: None,
        plans: vec![
            plan("P1", "B1", &saad_a()),
            plan("P2", "B2", &saad_a()),
            plan("Q1", "B9", &saad_b()),
        ],
        aliases: Vec::new(),
        events: Vec::new(),
        priors: Vec::new(),
        neighbours: Vec::new(),
        next_sequence: 100,
    }
}

/// A raw-only line of plan P1 for B1 by worker W1 on 2024-03-14.
pub(super) fn line(id: &str, start: &str, end: &str) -> InterventionSubmission {
    InterventionSubmission {
        line_id: id.to_owned(),
        plan_ref: Some("P1".to_owned()),
        beneficiary_id: "B1".to_owned(),
        worker_id: Some(WorkerId::parse("W1").unwrap()),
        aid_type: Some("APA".to_owned()),
        raw_start: Some(at(&format!("2024-03-14T{start}"))),
        raw_end: Some(at(&format!("2024-03-14T{end}"))),
        ..InterventionSubmission::default()
    }
}

fn corrected(mut line: InterventionSubmission, reason: Option<&str>) -> InterventionSubmission {
    line.corrected_start = line.raw_start.take();
    line.corrected_end = line.raw_end.take();
    line.correction_reason = reason.map(str::to_owned);
    line
}

fn neighbour(
    line_id: &str,
    beneficiary: &str,
    worker: &str,
    start: &str,
    end: &str,
) -> AcceptedIntervention {
    AcceptedIntervention {
        saad_siret: saad_a().as_str().to_owned(),
        line_id: line_id.to_owned(),
        beneficiary_id: beneficiary.to_owned(),
        worker_id: Some(WorkerId::parse(worker).unwrap()),
        period: resolve_period(
            at(&format!("2024-03-14T{start}")),
            at(&format!("2024-03-14T{end}")),
        )
        .unwrap(),
        shared_time: false,
        plan_ref: "P9".to_owned(),
        sequence: 1,
        rounded_minutes: 60,
        corrected: false,
    }
}

pub(super) fn run(ctx: &IngestContext, lines: &[InterventionSubmission]) -> IngestResult {
    check_delivery(ctx, &params(), &saad_a(), lines).unwrap()
}

fn one(ctx: &IngestContext, line: InterventionSubmission) -> (LineOutcome, IngestResult) {
    let result = run(ctx, &[line]);
    (result.outcomes[0].clone(), result)
}

fn accepted(outcome: &LineOutcome) {
    assert_eq!(outcome.status, LineStatus::Accepted, "{outcome:?}");
    assert!(outcome.reasons.is_empty(), "{outcome:?}");
}

fn rejected_for(outcome: &LineOutcome, expected: &[RejectionCode]) {
    assert_eq!(outcome.status, LineStatus::Rejected, "{outcome:?}");
    assert_eq!(outcome.reasons, expected, "{outcome:?}");
}

use RejectionCode as R;

// ---------------------------------------------------------------- R1

#[test]
fn r1_rounding_examples_of_the_charter_52_53_67_68() {
    for (end, counted, rounded) in [
        ("09:52:00", 52, 45),
        ("09:53:00", 53, 60),
        ("10:07:00", 67, 60),
        ("10:08:59", 68, 75),
    ] {
        let (outcome, result) = one(&context(), line("L1", "09:00:40", end));
        accepted(&outcome);
        assert_eq!(outcome.counted_minutes, counted);
        assert_eq!(outcome.rounded_minutes, rounded);
        assert_eq!(result.accepted[0].rounded_minutes, rounded);
    }
}

#[test]
fn r1_under_eight_minutes_is_accepted_with_zero_and_listed_as_information() {
    let (outcome, result) = one(&context(), line("L1", "09:00:00", "09:07:00"));
    accepted(&outcome);
    assert_eq!(outcome.counted_minutes, 7);
    assert_eq!(outcome.rounded_minutes, 0);
    assert!(
        outcome
            .warnings
            .iter()
            .any(|w| w.starts_with("SHORT_INTERVENTION"))
    );
    assert_eq!(
        result.accepted.len(),
        1,
        "a short intervention is still accepted"
    );
    let (eight, _) = one(&context(), line("L1", "09:00:00", "09:08:00"));
    assert_eq!(eight.rounded_minutes, 15);
}

#[test]
fn r1_an_end_not_after_the_start_is_an_invalid_period() {
    let outcome = one(&context(), line("L1", "10:00:00", "10:00:30")).0;
    rejected_for(&outcome, &[R::InvalidPeriod]);
    let outcome = one(&context(), line("L1", "10:00:00", "09:00:00")).0;
    rejected_for(&outcome, &[R::InvalidPeriod]);
}

#[test]
fn r1_a_local_time_in_the_spring_gap_is_an_invalid_period() {
    let mut ctx = context();
    ctx.now = instant("2024-04-01T12:00:00+02:00");
    let mut spring = line("L1", "00:00:00", "00:00:00");
    spring.raw_start = Some(at("2024-03-31T02:30:00"));
    spring.raw_end = Some(at("2024-03-31T04:00:00"));
    rejected_for(&one(&ctx, spring).0, &[R::InvalidPeriod]);
}

#[test]
fn r1_longer_than_24_hours_is_an_invalid_period_and_exactly_24_hours_is_not() {
    let mut too_long = line("L1", "08:00:00", "08:00:00");
    too_long.raw_start = Some(at("2024-03-13T08:00:00"));
    too_long.raw_end = Some(at("2024-03-14T08:01:00"));
    rejected_for(&one(&context(), too_long.clone()).0, &[R::InvalidPeriod]);
    too_long.raw_end = Some(at("2024-03-14T08:00:00"));
    let outcome = one(&context(), too_long).0;
    accepted(&outcome);
    assert_eq!(outcome.counted_minutes, 1440);
}

#[test]
fn r1_a_counted_end_more_than_5_minutes_after_the_clock_is_in_the_future() {
    let mut ctx = context();
    ctx.now = instant("2024-03-14T10:00:00+01:00");
    rejected_for(
        &one(&ctx, line("L1", "09:00:00", "10:06:00")).0,
        &[R::InTheFuture],
    );
    accepted(&one(&ctx, line("L1", "09:00:00", "10:05:00")).0);
}

// ---------------------------------------------------------------- R2

fn stored(line_id: &str, side: Side, stamp: &str, received: &str) -> RawStamp {
    let _ = line_id;
    RawStamp {
        side,
        stamp: at(stamp),
        received_at: instant(received),
    }
}

#[test]
fn r2_a_raw_side_that_differs_from_the_stored_one_is_raw_immutable() {
    let mut ctx = context();
    ctx.priors.push(PriorIntervention {
        line_id: "L1".to_owned(),
        raw: vec![stored(
            "L1",
            Side::Start,
            "2024-03-14T09:00:00",
            "2024-03-14T09:00:05Z",
        )],
        ..PriorIntervention::default()
    });
    let (outcome, result) = one(&ctx, line("L1", "08:30:00", "10:00:00"));
    rejected_for(&outcome, &[R::RawImmutable]);
    // The new end side is evidence and is stored; the contradicting start is not.
    assert_eq!(result.new_raw.len(), 1);
    assert_eq!(result.new_raw[0].1.side, Side::End);
    // The same instant written with an offset is not a change.
    let mut same = line("L1", "08:30:00", "10:00:00");
    same.raw_start = Some(at("2024-03-14T08:00:00Z"));
    accepted(&one(&ctx, same).0);
}

#[test]
fn r2_without_correction_both_raw_stamps_are_required() {
    let mut missing = line("L1", "09:00:00", "10:00:00");
    missing.raw_end = None;
    rejected_for(&one(&context(), missing).0, &[R::TimestampMissing]);
    let mut both = line("L1", "09:00:00", "10:00:00");
    both.raw_start = None;
    both.raw_end = None;
    rejected_for(&one(&context(), both).0, &[R::TimestampMissing]);
}

#[test]
fn r2_corrected_timestamps_without_a_reason_are_correction_reason_missing() {
    let outcome = one(
        &context(),
        corrected(line("L1", "09:00:00", "10:00:00"), None),
    )
    .0;
    rejected_for(&outcome, &[R::CorrectionReasonMissing]);
    let outcome = one(
        &context(),
        corrected(line("L1", "09:00:00", "10:00:00"), Some(" ")),
    )
    .0;
    rejected_for(&outcome, &[R::CorrectionReasonMissing]);
}

#[test]
fn r2_corrected_timestamps_with_an_unknown_reason_are_correction_reason_unknown() {
    let outcome = one(
        &context(),
        corrected(line("L1", "09:00:00", "10:00:00"), Some("BECAUSE")),
    )
    .0;
    rejected_for(&outcome, &[R::CorrectionReasonUnknown]);
}

#[test]
fn r2_corrected_timestamps_with_a_valid_reason_count() {
    let mut correction = line("L1", "09:00:00", "10:00:00");
    correction.corrected_start = Some(at("2024-03-14T08:45:00"));
    correction.correction_reason = Some("LATE_OR_EARLY".to_owned());
    let outcome = one(&context(), correction).0;
    accepted(&outcome);
    assert_eq!(outcome.counted_minutes, 75);
    let counted = outcome.counted.unwrap();
    assert!(counted.corrected);
    assert_eq!(counted.reason, Some(CorrectionReason::LateOrEarly));
}

#[test]
fn r2_a_correction_of_one_side_takes_the_other_from_raw_or_is_timestamp_missing() {
    let mut correction = line("L1", "09:00:00", "10:00:00");
    correction.raw_end = None;
    correction.corrected_start = Some(at("2024-03-14T08:45:00"));
    correction.correction_reason = Some("FORGOTTEN".to_owned());
    rejected_for(
        &one(&context(), correction.clone()).0,
        &[R::TimestampMissing],
    );
    correction.corrected_end = Some(at("2024-03-14T10:00:00"));
    accepted(&one(&context(), correction).0);
}

#[test]
fn r2_a_declarative_line_without_timesheet_is_timesheet_missing() {
    let mut declared = corrected(line("L1", "09:00:00", "10:00:00"), None);
    declared.declarative = Some(true);
    rejected_for(&one(&context(), declared.clone()).0, &[R::TimesheetMissing]);
    declared.timesheet_ref = Some("FEUILLE-2024-03-014".to_owned());
    let outcome = one(&context(), declared).0;
    accepted(&outcome);
    let counted = outcome.counted.unwrap();
    assert!(counted.corrected && counted.declarative);
}

#[test]
fn r2_a_declarative_saad_sets_the_default_of_lines_without_the_flag() {
    let mut ctx = context();
    ctx.saad = Some(saad_record(true));
    let declared = corrected(line("L1", "09:00:00", "10:00:00"), None);
    rejected_for(&one(&ctx, declared.clone()).0, &[R::TimesheetMissing]);
    let mut explicit = declared;
    explicit.declarative = Some(false);
    rejected_for(&one(&ctx, explicit).0, &[R::CorrectionReasonMissing]);
}

#[test]
fn r2_raw_stamps_of_a_rejected_line_are_stored_with_their_first_reception() {
    let ctx = context();
    let mut bad = line("L1", "09:00:00", "10:00:00");
    bad.plan_ref = Some("NOPE".to_owned());
    let (outcome, result) = one(&ctx, bad);
    rejected_for(&outcome, &[R::UnknownPlan]);
    assert_eq!(result.new_raw.len(), 2);
    assert!(
        result
            .new_raw
            .iter()
            .all(|(id, raw)| id == "L1" && raw.received_at == ctx.now)
    );
    assert_eq!(outcome.raw_received_at, Some(ctx.now));
    assert!(result.accepted.is_empty());
}

#[test]
fn r2_identical_resend_of_an_accepted_line_is_idempotent_and_never_overlaps_itself() {
    let first_ctx = context();
    let first = run(&first_ctx, &[line("L1", "09:00:00", "10:00:00")]);
    accepted(&first.outcomes[0]);
    let mut ctx = context();
    ctx.now = instant("2024-03-20T12:00:00+01:00");
    ctx.priors.push(PriorIntervention {
        line_id: "L1".to_owned(),
        raw: first.new_raw.iter().map(|(_, raw)| raw.clone()).collect(),
        accepted: Some(first.accepted[0].clone()),
        accepted_fingerprint: Some(first.fingerprints[0].1.clone()),
    });
    ctx.neighbours.push(first.accepted[0].clone());
    let again = run(&ctx, &[line("L1", "09:00:00", "10:00:00")]);
    accepted(&again.outcomes[0]);
    assert_eq!(
        again.outcomes[0].rounded_minutes,
        first.outcomes[0].rounded_minutes
    );
    assert_eq!(again.outcomes[0].counted, first.outcomes[0].counted);
    assert!(again.accepted.is_empty(), "nothing stored twice");
    assert!(again.new_raw.is_empty());
    // Twice in the same delivery: one accepted version only.
    let twice = run(
        &context(),
        &[
            line("L1", "09:00:00", "10:00:00"),
            line("L1", "09:00:00", "10:00:00"),
        ],
    );
    accepted(&twice.outcomes[0]);
    accepted(&twice.outcomes[1]);
    assert_eq!(twice.accepted.len(), 1);
}

#[test]
fn r2_a_correction_added_later_to_a_stored_raw_only_line_counts_and_keeps_the_raw_evidence() {
    let mut ctx = context();
    ctx.now = instant("2024-03-25T12:00:00+01:00");
    ctx.priors.push(PriorIntervention {
        line_id: "L1".to_owned(),
        raw: vec![
            stored(
                "L1",
                Side::Start,
                "2024-03-14T09:00:00",
                "2024-03-14T10:00:00+01:00",
            ),
            stored(
                "L1",
                Side::End,
                "2024-03-14T10:00:00",
                "2024-03-14T10:00:00+01:00",
            ),
        ],
        ..PriorIntervention::default()
    });
    let mut correction = InterventionSubmission {
        corrected_end: Some(at("2024-03-14T10:30:00")),
        correction_reason: Some("DEVICE_FAILURE".to_owned()),
        ..line("L1", "09:00:00", "10:00:00")
    };
    correction.raw_start = None;
    correction.raw_end = None;
    let (outcome, result) = one(&ctx, correction);
    accepted(&outcome);
    assert_eq!(
        outcome.counted_minutes, 90,
        "start from stored raw, end corrected"
    );
    assert!(result.new_raw.is_empty());
    assert_eq!(
        outcome.raw_received_at,
        Some(instant("2024-03-14T10:00:00+01:00"))
    );
}

#[test]
fn r2_a_later_rejected_version_leaves_the_earlier_accepted_one() {
    let first = run(&context(), &[line("L1", "09:00:00", "10:00:00")]);
    let mut ctx = context();
    ctx.priors.push(PriorIntervention {
        line_id: "L1".to_owned(),
        raw: first.new_raw.iter().map(|(_, raw)| raw.clone()).collect(),
        accepted: Some(first.accepted[0].clone()),
        accepted_fingerprint: Some(first.fingerprints[0].1.clone()),
    });
    let later = corrected(line("L1", "09:00:00", "11:00:00"), Some("UNHEARD_OF"));
    let result = run(&ctx, &[later]);
    rejected_for(&result.outcomes[0], &[R::CorrectionReasonUnknown]);
    assert!(result.accepted.is_empty());
    assert!(result.withdrawn.is_empty());
    assert!(result.fingerprints.is_empty());
}

// ---------------------------------------------------------------- R3

fn raw_prior(received: &str) -> PriorIntervention {
    PriorIntervention {
        line_id: "L1".to_owned(),
        raw: vec![
            stored("L1", Side::Start, "2024-03-14T09:00:00", received),
            stored("L1", Side::End, "2024-03-14T10:00:00", received),
        ],
        ..PriorIntervention::default()
    }
}

#[test]
fn r3_exactly_48_hours_after_the_raw_end_is_still_on_time() {
    let mut ctx = context();
    ctx.now = instant("2024-03-16T10:00:59+01:00");
    accepted(&one(&ctx, line("L1", "09:00:00", "10:00:00")).0);
}

#[test]
fn r3_raw_only_data_received_more_than_48_hours_after_the_raw_end_are_late() {
    let mut ctx = context();
    ctx.now = instant("2024-03-16T10:01:00+01:00");
    rejected_for(
        &one(&ctx, line("L1", "09:00:00", "10:00:00")).0,
        &[R::LateTransmission],
    );
    let outcome = receipt_reasons(&one(&ctx, line("L1", "09:00:00", "10:00:00")).0, &params());
    assert!(outcome[0].message.contains("48 heures"));
}

#[test]
fn r3_corrected_and_declarative_data_are_not_subject_to_the_delay() {
    let mut ctx = context();
    ctx.now = instant("2024-03-30T10:00:00+01:00");
    let mut correction = line("L1", "09:00:00", "10:00:00");
    correction.corrected_start = Some(at("2024-03-14T09:00:00"));
    correction.correction_reason = Some("LATE_OR_EARLY".to_owned());
    accepted(&one(&ctx, correction).0);
    let mut declared = corrected(line("L2", "09:00:00", "10:00:00"), None);
    declared.declarative = Some(true);
    declared.timesheet_ref = Some("TS-1".to_owned());
    accepted(&one(&ctx, declared).0);
}

#[test]
fn r3_received_at_is_the_first_reception_of_the_raw_end_even_by_a_rejected_line() {
    let mut ctx = context();
    ctx.now = instant("2024-03-30T10:00:00+01:00");
    ctx.priors.push(raw_prior("2024-03-14T10:05:00+01:00"));
    let (outcome, result) = one(&ctx, line("L1", "09:00:00", "10:00:00"));
    accepted(&outcome);
    assert_eq!(
        outcome.raw_received_at,
        Some(instant("2024-03-14T10:05:00+01:00"))
    );
    assert!(result.new_raw.is_empty());
}

// ---------------------------------------------------------------- R4

#[test]
fn r4_an_unknown_plan_reference_is_unknown_plan() {
    let mut unknown = line("L1", "09:00:00", "10:00:00");
    unknown.plan_ref = Some("NOPE".to_owned());
    rejected_for(&one(&context(), unknown).0, &[R::UnknownPlan]);
}

#[test]
fn r4_another_saads_plan_is_unknown_plan_and_leaks_nothing() {
    let mut theirs = line("L1", "09:00:00", "10:00:00");
    theirs.plan_ref = Some("Q1".to_owned());
    theirs.beneficiary_id = "B9".to_owned();
    let outcome = one(&context(), theirs).0;
    rejected_for(&outcome, &[R::UnknownPlan]);
    assert_eq!(outcome.plan_ref, None);
    assert_eq!(outcome.beneficiary_id, None);
}

#[test]
fn r4_a_day_outside_every_version_is_no_active_plan() {
    let mut ctx = context();
    ctx.plans[0].valid_to = day(2024, 3, 13);
    rejected_for(
        &one(&ctx, line("L1", "09:00:00", "10:00:00")).0,
        &[R::NoActivePlan],
    );
}

#[test]
fn r4_the_version_in_force_assigned_to_another_saad_is_saad_not_assigned() {
    let mut ctx = context();
    let mut handed_over = plan("P1", "B1", &saad_b());
    handed_over.version = 2;
    handed_over.valid_from = day(2024, 3, 1);
    ctx.plans.push(handed_over);
    rejected_for(
        &one(&ctx, line("L1", "09:00:00", "10:00:00")).0,
        &[R::SaadNotAssigned],
    );
    // Before the hand-over the plan was this SAAD's.
    let mut ctx = context();
    ctx.now = instant("2024-02-20T12:00:00+01:00");
    let mut earlier = line("L1", "09:00:00", "10:00:00");
    earlier.raw_start = Some(at("2024-02-19T09:00:00"));
    earlier.raw_end = Some(at("2024-02-19T10:00:00"));
    accepted(&one(&ctx, earlier).0);
}

#[test]
fn r4_an_aid_type_different_from_the_plans_or_unknown_is_aid_type_mismatch() {
    let mut other = line("L1", "09:00:00", "10:00:00");
    other.aid_type = Some("PCH".to_owned());
    rejected_for(&one(&context(), other.clone()).0, &[R::AidTypeMismatch]);
    other.aid_type = Some("XYZ".to_owned());
    rejected_for(&one(&context(), other).0, &[R::AidTypeMismatch]);
}

#[test]
fn r4_the_first_id_on_an_accepted_line_becomes_the_alias_and_any_other_is_unknown_beneficiary() {
    let mut own_id = line("L1", "09:00:00", "10:00:00");
    own_id.beneficiary_id = "SAAD-CLIENT-17".to_owned();
    let (outcome, result) = one(&context(), own_id);
    accepted(&outcome);
    assert_eq!(
        outcome.beneficiary_id.as_deref(),
        Some("B1"),
        "the financer's id"
    );
    assert_eq!(
        result.new_aliases,
        vec![BeneficiaryAlias {
            plan_ref: "P1".to_owned(),
            alias_id: "SAAD-CLIENT-17".to_owned(),
            beneficiary_id: "B1".to_owned(),
        }]
    );
    let mut ctx = context();
    ctx.aliases = result.new_aliases;
    let mut other = line("L2", "11:00:00", "12:00:00");
    other.beneficiary_id = "SAAD-CLIENT-18".to_owned();
    rejected_for(&one(&ctx, other).0, &[R::UnknownBeneficiary]);
    let mut same_alias = line("L3", "11:00:00", "12:00:00");
    same_alias.beneficiary_id = "SAAD-CLIENT-17".to_owned();
    let (outcome, result) = one(&ctx, same_alias);
    accepted(&outcome);
    assert!(result.new_aliases.is_empty());
    accepted(&one(&ctx, line("L4", "13:00:00", "14:00:00")).0);
}

#[test]
fn r4_an_alias_recorded_earlier_in_the_same_delivery_binds_later_lines() {
    let mut first = line("L1", "09:00:00", "10:00:00");
    first.beneficiary_id = "X-1".to_owned();
    let mut second = line("L2", "11:00:00", "12:00:00");
    second.beneficiary_id = "X-2".to_owned();
    let result = run(&context(), &[first, second]);
    accepted(&result.outcomes[0]);
    rejected_for(&result.outcomes[1], &[R::UnknownBeneficiary]);
    assert_eq!(result.new_aliases.len(), 1);
}

#[test]
fn r4_without_a_plan_reference_exactly_one_plan_of_this_saad_must_match() {
    let mut no_ref = line("L1", "09:00:00", "10:00:00");
    no_ref.plan_ref = None;
    let outcome = one(&context(), no_ref.clone()).0;
    accepted(&outcome);
    assert_eq!(outcome.plan_ref.as_deref(), Some("P1"));
    // Two APA plans of this SAAD for B1 on that day: ambiguous.
    let mut ctx = context();
    ctx.plans.push(plan("P3", "B1", &saad_a()));
    rejected_for(&one(&ctx, no_ref.clone()).0, &[R::UnknownPlan]);
    // Another SAAD's beneficiary is never matched.
    no_ref.beneficiary_id = "B9".to_owned();
    rejected_for(&one(&context(), no_ref).0, &[R::UnknownPlan]);
}

// ---------------------------------------------------------------- R5

fn event(kind: EventKind, start: NaiveDate, end: Option<NaiveDate>) -> Event {
    Event {
        beneficiary_id: "B1".to_owned(),
        kind,
        start,
        end,
        note: None,
    }
}

fn on(date: u32) -> InterventionSubmission {
    let mut l = line("L1", "09:00:00", "10:00:00");
    l.raw_start = Some(at(&format!("2024-03-{date:02}T09:00:00")));
    l.raw_end = Some(at(&format!("2024-03-{date:02}T10:00:00")));
    // Corrected, so that the 48 h rule does not interfere with the days.
    corrected(l, Some("FORGOTTEN"))
}

fn late_clock() -> IngestContext {
    let mut ctx = context();
    ctx.now = instant("2024-03-14T12:00:00+01:00");
    ctx
}

#[test]
fn r5_after_a_death_interventions_are_beneficiary_deceased_and_the_day_itself_is_paid() {
    let mut ctx = late_clock();
    ctx.events
        .push(event(EventKind::Death, day(2024, 3, 13), None));
    accepted(&one(&ctx, on(13)).0);
    rejected_for(&one(&ctx, on(14)).0, &[R::BeneficiaryDeceased]);
}

#[test]
fn r5_after_entering_an_establishment_interventions_are_beneficiary_in_establishment() {
    let mut ctx = late_clock();
    ctx.events
        .push(event(EventKind::EstablishmentEntry, day(2024, 3, 13), None));
    accepted(&one(&ctx, on(13)).0);
    rejected_for(&one(&ctx, on(14)).0, &[R::BeneficiaryInEstablishment]);
}

#[test]
fn r5_during_a_hospitalisation_interventions_are_beneficiary_absent_but_leaving_and_return_days_are_paid()
 {
    let mut ctx = late_clock();
    ctx.events.push(event(
        EventKind::Hospitalisation,
        day(2024, 3, 10),
        Some(day(2024, 3, 12)),
    ));
    accepted(&one(&ctx, on(10)).0);
    rejected_for(&one(&ctx, on(11)).0, &[R::BeneficiaryAbsent]);
    accepted(&one(&ctx, on(12)).0);
    // An absence without an end yet: every day after its start.
    let mut ctx = late_clock();
    ctx.events
        .push(event(EventKind::Absence, day(2024, 3, 12), None));
    accepted(&one(&ctx, on(12)).0);
    rejected_for(&one(&ctx, on(14)).0, &[R::BeneficiaryAbsent]);
}

#[test]
fn r5_other_event_kinds_and_other_beneficiaries_do_not_stop_payment() {
    let mut ctx = late_clock();
    ctx.events
        .push(event(EventKind::SaadChange, day(2024, 3, 1), None));
    ctx.events
        .push(event(EventKind::NonEffectivity, day(2024, 3, 1), None));
    let mut elsewhere = event(EventKind::Death, day(2024, 3, 1), None);
    elsewhere.beneficiary_id = "B2".to_owned();
    ctx.events.push(elsewhere);
    accepted(&one(&ctx, on(14)).0);
}

// ---------------------------------------------------------------- R6

#[test]
fn r6_two_interventions_of_the_same_beneficiary_overlapping_is_overlap_beneficiary() {
    let mut ctx = context();
    ctx.neighbours
        .push(neighbour("OTHER", "B1", "W7", "09:30:00", "10:30:00"));
    rejected_for(
        &one(&ctx, line("L1", "09:00:00", "10:00:00")).0,
        &[R::OverlapBeneficiary],
    );
    // Touching is not overlapping.
    accepted(&one(&ctx, line("L1", "08:30:00", "09:30:00")).0);
    accepted(&one(&ctx, line("L1", "10:30:59", "11:00:00")).0);
}

#[test]
fn r6_a_worker_at_two_beneficiaries_at_the_same_time_is_overlap_worker() {
    let mut ctx = context();
    ctx.neighbours
        .push(neighbour("OTHER", "B2", "W1", "09:30:00", "10:30:00"));
    rejected_for(
        &one(&ctx, line("L1", "09:00:00", "10:00:00")).0,
        &[R::OverlapWorker],
    );
    // Worker ids are scoped by SAAD.
    let mut ctx = context();
    let mut elsewhere = neighbour("OTHER", "B2", "W1", "09:30:00", "10:30:00");
    elsewhere.saad_siret = saad_b().as_str().to_owned();
    ctx.neighbours.push(elsewhere);
    accepted(&one(&ctx, line("L1", "09:00:00", "10:00:00")).0);
}

#[test]
fn r6_counted_timestamps_corrected_with_shared_time_are_exempt_from_overlap_worker() {
    let mut ctx = context();
    ctx.neighbours
        .push(neighbour("OTHER", "B2", "W1", "09:30:00", "10:30:00"));
    let shared = corrected(line("L1", "09:00:00", "10:00:00"), Some("SHARED_TIME"));
    let (outcome, result) = one(&ctx, shared);
    accepted(&outcome);
    assert!(result.accepted[0].shared_time);
    // Not from the beneficiary overlap.
    ctx.neighbours
        .push(neighbour("THIRD", "B1", "W8", "09:30:00", "10:30:00"));
    let shared = corrected(line("L1", "09:00:00", "10:00:00"), Some("SHARED_TIME"));
    rejected_for(&one(&ctx, shared).0, &[R::OverlapBeneficiary]);
}

#[test]
fn r6_a_later_line_of_the_same_delivery_overlaps_the_lines_accepted_before_it() {
    let mut other_worker = line("L2", "09:30:00", "10:30:00");
    other_worker.worker_id = Some(WorkerId::parse("W2").unwrap());
    let mut other_beneficiary = line("L3", "09:45:00", "10:15:00");
    other_beneficiary.plan_ref = Some("P2".to_owned());
    other_beneficiary.beneficiary_id = "B2".to_owned();
    let result = run(
        &context(),
        &[
            line("L1", "09:00:00", "10:00:00"),
            other_worker,
            other_beneficiary,
        ],
    );
    accepted(&result.outcomes[0]);
    rejected_for(&result.outcomes[1], &[R::OverlapBeneficiary]);
    rejected_for(&result.outcomes[2], &[R::OverlapWorker]);
    assert_eq!(result.accepted.len(), 1);
    assert_eq!(result.accepted[0].sequence, 100);
}

// ---------------------------------------------------------------- messages, order, actions

#[test]
fn an_unusable_line_is_invalid_message_with_the_readers_problem() {
    let mut unusable = line("L1", "09:00:00", "10:00:00");
    unusable.raw_end = None;
    unusable.problem = Some(MessageProblem {
        message: "unreadable date '2024-13-45T10:00'".to_owned(),
        path: "/CrossIndustryDespatchAdvice[1]/.../EndDateTime".to_owned(),
        line: 42,
        column: 7,
    });
    let (outcome, result) = one(&context(), unusable);
    rejected_for(&outcome, &[R::InvalidMessage]);
    let reasons = receipt_reasons(&outcome, &params());
    assert!(
        reasons[0].message.contains("unreadable date"),
        "{reasons:?}"
    );
    assert!(
        reasons[0].message.contains("line 42, column 7"),
        "{reasons:?}"
    );
    assert_eq!(
        result.new_raw.len(),
        1,
        "the readable start is still evidence"
    );
}

#[test]
fn every_failing_reason_is_listed_in_rule_order() {
    let mut ctx = context();
    ctx.now = instant("2024-03-20T12:00:00+01:00");
    ctx.events
        .push(event(EventKind::Death, day(2024, 3, 1), None));
    ctx.neighbours
        .push(neighbour("OTHER", "B1", "W7", "09:30:00", "10:30:00"));
    let mut bad = line("L1", "09:00:00", "10:00:00");
    bad.aid_type = Some("PCH".to_owned());
    let outcome = one(&ctx, bad).0;
    rejected_for(
        &outcome,
        &[
            R::LateTransmission,
            R::AidTypeMismatch,
            R::BeneficiaryDeceased,
            R::OverlapBeneficiary,
        ],
    );
    let reasons = receipt_reasons(&outcome, &params());
    assert!(
        reasons
            .iter()
            .all(|r| !r.message.is_empty() && r.message != r.code.code())
    );
}

#[test]
fn a_reason_message_is_the_charters_french_text_or_else_the_code() {
    assert!(reason_message(RejectionCode::LateTransmission, &params()).contains("48 heures"));
    let empty = Parameters::default();
    assert_eq!(
        reason_message(RejectionCode::AidTypeMismatch, &empty),
        "AID_TYPE_MISMATCH"
    );
}

#[test]
fn hor_stamps_only_is_accepted_with_zero_and_stores_the_raw_evidence_only() {
    let mut hor = line("L1", "09:00:00", "10:00:00");
    hor.action = LineAction::StampsOnly;
    let (outcome, result) = one(&context(), hor);
    accepted(&outcome);
    assert_eq!(outcome.rounded_minutes, 0);
    assert!(!outcome.warnings.is_empty());
    assert_eq!(result.new_raw.len(), 2);
    assert!(result.accepted.is_empty() && result.fingerprints.is_empty());
}

#[test]
fn sup_withdraws_a_known_intervention_and_is_rejected_for_an_unknown_one() {
    let first = run(&context(), &[line("L1", "09:00:00", "10:00:00")]);
    let mut ctx = context();
    ctx.priors.push(PriorIntervention {
        line_id: "L1".to_owned(),
        raw: first.new_raw.iter().map(|(_, raw)| raw.clone()).collect(),
        accepted: Some(first.accepted[0].clone()),
        accepted_fingerprint: Some(first.fingerprints[0].1.clone()),
    });
    let mut sup = line("L1", "09:00:00", "10:00:00");
    sup.action = LineAction::Withdraw;
    // After the withdrawal the slot is free again in the same delivery.
    let result = run(&ctx, &[sup.clone(), line("L2", "09:00:00", "10:00:00")]);
    accepted(&result.outcomes[0]);
    assert_eq!(result.outcomes[0].rounded_minutes, 0);
    assert_eq!(result.withdrawn, vec!["L1".to_owned()]);
    accepted(&result.outcomes[1]);
    sup.line_id = "NEVER-SEEN".to_owned();
    let (outcome, result) = one(&context(), sup);
    rejected_for(&outcome, &[R::InvalidMessage]);
    assert!(result.withdrawn.is_empty());
}

#[test]
fn accepted_versions_take_sequences_in_line_order() {
    let result = run(
        &context(),
        &[
            line("L1", "09:00:00", "10:00:00"),
            line("L2", "10:00:00", "11:00:00"),
        ],
    );
    let sequences: Vec<i64> = result.accepted.iter().map(|a| a.sequence).collect();
    assert_eq!(sequences, vec![100, 101]);
    assert_eq!(result.fingerprints.len(), 2);
}

#[test]
fn a_line_without_worker_id_gets_a_warning_and_skips_the_worker_check() {
    let mut ctx = context();
    ctx.neighbours
        .push(neighbour("OTHER", "B2", "W1", "09:30:00", "10:30:00"));
    let mut anonymous = line("L1", "09:00:00", "10:00:00");
    anonymous.worker_id = None;
    let outcome = one(&ctx, anonymous).0;
    accepted(&outcome);
    assert!(outcome.warnings.iter().any(|w| w.contains("worker")));
}

#[test]
fn the_correction_rate_counts_corrected_and_declarative_interventions() {
    let mut a = neighbour("A", "B1", "W1", "09:00:00", "10:00:00");
    let b = neighbour("B", "B1", "W1", "11:00:00", "12:00:00");
    a.corrected = true;
    let rate = correction_rate([&a, &b, &b, &b]);
    assert_eq!(
        rate,
        CorrectionRate {
            corrected: 1,
            total: 4
        }
    );
    assert_eq!(rate.ratio(), Some(dec!(0.25)));
    assert_eq!(correction_rate([]).ratio(), None);
}

#[test]
fn fingerprints_compare_instants_not_spellings() {
    let a = line("L1", "09:00:00", "10:00:00");
    let mut b = a.clone();
    b.raw_start = Some(at("2024-03-14T08:00:00Z"));
    b.warnings.push("reader warning".to_owned());
    assert_eq!(
        submission_fingerprint(&a, false),
        submission_fingerprint(&b, false)
    );
    assert_ne!(
        submission_fingerprint(&a, false),
        submission_fingerprint(&a, true)
    );
}

#[test]
fn r4_the_financers_id_of_another_beneficiary_of_this_saad_is_never_an_alias() {
    let mut wrong = line("L1", "09:00:00", "10:00:00");
    wrong.beneficiary_id = "B2".to_owned();
    let (outcome, result) = one(&context(), wrong);
    rejected_for(&outcome, &[R::UnknownBeneficiary]);
    assert!(result.new_aliases.is_empty());
}

#[test]
fn r4_an_intervention_belongs_to_the_day_of_its_counted_start_even_past_midnight() {
    let mut ctx = context();
    ctx.plans[0].valid_to = day(2024, 3, 13);
    let mut night = line("L1", "23:00:00", "23:00:00");
    night.raw_start = Some(at("2024-03-13T23:00:00"));
    night.raw_end = Some(at("2024-03-14T01:00:00"));
    let outcome = one(&ctx, night).0;
    accepted(&outcome);
    assert_eq!(outcome.counted.unwrap().period.day(), day(2024, 3, 13));
}

#[test]
fn r6_a_new_version_never_overlaps_the_version_it_replaces() {
    let first = run(&context(), &[line("L1", "09:00:00", "10:00:00")]);
    let mut ctx = context();
    ctx.priors.push(PriorIntervention {
        line_id: "L1".to_owned(),
        raw: first.new_raw.iter().map(|(_, raw)| raw.clone()).collect(),
        accepted: Some(first.accepted[0].clone()),
        accepted_fingerprint: Some(first.fingerprints[0].1.clone()),
    });
    ctx.neighbours.push(first.accepted[0].clone());
    ctx.next_sequence = 200;
    let longer = InterventionSubmission {
        corrected_end: Some(at("2024-03-14T10:30:00")),
        correction_reason: Some("LATE_OR_EARLY".to_owned()),
        ..line("L1", "09:00:00", "10:00:00")
    };
    let result = run(&ctx, &[longer, line("L2", "10:15:00", "11:00:00")]);
    accepted(&result.outcomes[0]);
    assert_eq!(result.outcomes[0].counted_minutes, 90);
    assert_eq!(result.accepted[0].sequence, 200);
    // The old 09:00-10:00 version is gone: 10:15 now overlaps the new one.
    rejected_for(&result.outcomes[1], &[R::OverlapBeneficiary]);
}

#[test]
fn hor_with_a_raw_side_differing_from_the_stored_one_is_raw_immutable() {
    let mut ctx = context();
    ctx.priors.push(raw_prior("2024-03-14T10:05:00+01:00"));
    let mut hor = line("L1", "09:00:00", "10:10:00");
    hor.action = LineAction::StampsOnly;
    let (outcome, result) = one(&ctx, hor);
    rejected_for(&outcome, &[R::RawImmutable]);
    assert!(result.new_raw.is_empty());
}

#[test]
fn r1_an_intervention_across_the_autumn_change_counts_real_elapsed_minutes() {
    let mut ctx = context();
    ctx.now = instant("2024-10-27T12:00:00+01:00");
    let mut night = line("L1", "00:00:00", "00:00:00");
    night.raw_start = Some(at("2024-10-27T01:30:00"));
    night.raw_end = Some(at("2024-10-27T03:30:00"));
    let outcome = one(&ctx, night).0;
    accepted(&outcome);
    assert_eq!(outcome.counted_minutes, 180);
    assert_eq!(outcome.rounded_minutes, 180);
}
