//! The ingestion rules R1–R6 (../shared/spec/rules.md) as pure functions.
//!
//! [`check_delivery`] judges the lines of one delivery in order against an
//! [`IngestContext`] loaded by storage, and returns an [`IngestResult`] for
//! storage to write in one transaction. Each later line sees the lines
//! accepted before it in the same delivery (R6: "later" is the acceptance
//! sequence, then the line order within a transmission).
//!
//! This module performs no I/O and must not import actix, sqlx, tokio or
//! quick_xml: the clock is `ctx.now`, parameters come in as values. The
//! conventions it implements are documented in `docs/rules-ingestion.md`.

mod fingerprint;
mod index;
mod plan_match;
mod selection;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Europe::Paris;
use rust_decimal::Decimal;
use serde::Serialize;

use super::ingest::{
    AcceptedIntervention, BeneficiaryAlias, IngestContext, IngestResult, PriorIntervention,
    RawStamp,
};
use super::model::{Counted, InterventionSubmission, LineAction, LineOutcome, LineStatus};
use super::params::{ParameterError, Parameters};
use super::time::{Period, PeriodError, resolve_period, truncate_to_minute};
use super::types::{CorrectionReason, EventKind, RejectionCode, Siret};

pub use fingerprint::submission_fingerprint;
use index::{Aliases, EventIndex, PlanIndex, Pool};
use plan_match::{PlanMatch, match_plan};
use selection::{RawEvidence, SelectedStamps, raw_evidence, select_stamps};

/// Prefix of the warning that carries the reader's description of an
/// unusable line (`INVALID_MESSAGE`), so that [`receipt_reasons`] can give
/// it as the reason's message.
pub const INVALID_MESSAGE_WARNING_PREFIX: &str = "INVALID_MESSAGE: ";

/// Judges the lines of one delivery, in order (R1–R6).
///
/// `saad_siret` is the SAAD of the token that posts the delivery (the
/// message's own SAAD has already been checked against it, rules.md
/// "ESPPADOM mapping"); `ctx.saad`, when present, gives its declarative
/// default (R2). Every line gets one [`LineOutcome`], in the order received;
/// a rejected line lists every failing reason in rule order (R6, last
/// paragraph).
///
/// # Errors
///
/// [`ParameterError`] when the charter lacks a value the rules need: the
/// R1/R3 limits on the day of reception (the day of `ctx.now` in France),
/// or the R1 rounding rule on the day of an accepted intervention. That is a
/// configuration fault, not a fault of the SAAD's data.
pub fn check_delivery(
    ctx: &IngestContext,
    params: &Parameters,
    saad_siret: &Siret,
    lines: &[InterventionSubmission],
) -> Result<IngestResult, ParameterError> {
    let mut delivery = Delivery::start(ctx, params, saad_siret)?;
    for line in lines {
        delivery.judge(line)?;
    }
    Ok(delivery.finish())
}

/// The French message of a rejection code, from `charter/rejection-codes.toml`
/// (loaded into `params`); the code itself when the charter has no text for
/// it (a receipt reason is `{code, message}` and must never be empty).
pub fn reason_message(code: RejectionCode, params: &Parameters) -> String {
    params
        .rejection_text(code)
        .map(|text| text.message.clone())
        .unwrap_or_else(|| code.code().to_owned())
}

/// A receipt reason (api.md "Receipt": `reasons: [{code, message}]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptReason {
    /// The rejection code.
    pub code: RejectionCode,
    /// A plain French sentence; for `INVALID_MESSAGE`, the reader's
    /// description of what was unusable and where.
    pub message: String,
}

/// The `{code, message}` reasons of a receipt line, in the outcome's order.
///
/// The message is [`reason_message`], except for `INVALID_MESSAGE`, whose
/// message is the reader's problem (element path, line and column), kept in
/// the outcome's warnings behind [`INVALID_MESSAGE_WARNING_PREFIX`].
pub fn receipt_reasons(outcome: &LineOutcome, params: &Parameters) -> Vec<ReceiptReason> {
    outcome
        .reasons
        .iter()
        .map(|&code| {
            let problem = (code == RejectionCode::InvalidMessage)
                .then(|| {
                    outcome
                        .warnings
                        .iter()
                        .find_map(|w| w.strip_prefix(INVALID_MESSAGE_WARNING_PREFIX))
                })
                .flatten();
            ReceiptReason {
                code,
                message: problem
                    .map(str::to_owned)
                    .unwrap_or_else(|| reason_message(code, params)),
            }
        })
        .collect()
}

/// A SAAD's correction rate for a month (R2, last bullet; charter 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CorrectionRate {
    /// Interventions whose counted timestamps are corrected or declarative.
    pub corrected: u64,
    /// All interventions considered.
    pub total: u64,
}

impl CorrectionRate {
    /// `corrected ÷ total` as an exact decimal; `None` when there is no
    /// intervention (a rate of nothing is undefined, not zero).
    pub fn ratio(&self) -> Option<Decimal> {
        if self.total == 0 {
            return None;
        }
        Decimal::from(self.corrected).checked_div(Decimal::from(self.total))
    }
}

/// Counts the correction rate over `interventions`. The caller passes the
/// interventions *invoiced* for one SAAD and month (charter 4.3: only
/// invoiced data count); this function only counts.
pub fn correction_rate<'a>(
    interventions: impl IntoIterator<Item = &'a AcceptedIntervention>,
) -> CorrectionRate {
    let mut rate = CorrectionRate {
        corrected: 0,
        total: 0,
    };
    for intervention in interventions {
        rate.total += 1;
        if intervention.corrected {
            rate.corrected += 1;
        }
    }
    rate
}

/// R1 rounding of a duration in whole minutes with the rule in force on
/// `day` (`step × floor((d + pivot) / step)`).
///
/// # Errors
///
/// [`ParameterError`] when the charter has no rounding rule for `day`.
pub fn rounded_minutes(
    params: &Parameters,
    day: NaiveDate,
    minutes: i64,
) -> Result<i64, ParameterError> {
    Ok(params.rounding_at(day)?.round(minutes))
}

/// The limits of R1 and R3, taken on the day of reception.
#[derive(Debug, Clone, Copy)]
struct Limits {
    max_minutes: i64,
    future_tolerance: Duration,
    transmission_delay: Duration,
}

/// The state of a delivery being judged: what the context said, updated by
/// each line accepted so far.
struct Delivery<'a> {
    ctx: &'a IngestContext,
    params: &'a Parameters,
    saad: &'a Siret,
    declarative_default: bool,
    limits: Limits,
    plans: PlanIndex<'a>,
    events: EventIndex<'a>,
    /// What is stored for each line id, updated as lines are judged.
    priors: BTreeMap<String, PriorIntervention>,
    /// Accepted interventions a line may overlap (R6).
    pool: Pool,
    /// This SAAD's aliases, recorded and new.
    aliases: Aliases,
    next_sequence: i64,
    outcomes: Vec<LineOutcome>,
    new_raw: Vec<(String, RawStamp)>,
    new_aliases: Vec<BeneficiaryAlias>,
    /// Versions accepted by this delivery and their fingerprints, by line id
    /// (a later accepted version of the same line replaces the earlier).
    accepted: BTreeMap<String, (AcceptedIntervention, String)>,
    /// Line ids withdrawn, with the index of the line that withdrew them.
    withdrawn: BTreeMap<String, usize>,
}

/// What the R1–R6 checks found for a counted line.
struct Judgement {
    reasons: Vec<RejectionCode>,
    warnings: Vec<String>,
    counted: Option<Counted>,
    plan: PlanMatch,
    raw: RawEvidence,
}

impl<'a> Delivery<'a> {
    fn start(
        ctx: &'a IngestContext,
        params: &'a Parameters,
        saad: &'a Siret,
    ) -> Result<Self, ParameterError> {
        let reception_day = ctx.now.with_timezone(&Paris).date_naive();
        let limits = Limits {
            max_minutes: params.max_intervention_minutes(reception_day)?,
            future_tolerance: Duration::minutes(params.future_tolerance_minutes(reception_day)?),
            transmission_delay: Duration::minutes(
                params.transmission_delay_minutes(reception_day)?,
            ),
        };
        let mut priors = BTreeMap::new();
        for prior in &ctx.priors {
            priors
                .entry(prior.line_id.clone())
                .or_insert_with(|| prior.clone());
        }
        let mut pool = Pool::default();
        for neighbour in &ctx.neighbours {
            pool.insert(neighbour.clone());
        }
        for accepted in ctx.priors.iter().filter_map(|p| p.accepted.as_ref()) {
            if !pool.contains(&accepted.saad_siret, &accepted.line_id) {
                pool.insert(accepted.clone());
            }
        }
        Ok(Self {
            ctx,
            params,
            saad,
            declarative_default: ctx.saad.as_ref().is_some_and(|s| s.declarative),
            limits,
            plans: PlanIndex::new(&ctx.plans),
            events: EventIndex::new(&ctx.events),
            priors,
            pool,
            aliases: Aliases::new(&ctx.aliases),
            next_sequence: ctx.next_sequence,
            outcomes: Vec::new(),
            new_raw: Vec::new(),
            new_aliases: Vec::new(),
            accepted: BTreeMap::new(),
            withdrawn: BTreeMap::new(),
        })
    }

    /// The result for storage: accepted versions in sequence order,
    /// withdrawals in line order.
    fn finish(self) -> IngestResult {
        let mut accepted: Vec<(AcceptedIntervention, String)> =
            self.accepted.into_values().collect();
        accepted.sort_by_key(|(version, _)| version.sequence);
        let mut withdrawn: Vec<(String, usize)> = self.withdrawn.into_iter().collect();
        withdrawn.sort_by_key(|(_, index)| *index);
        IngestResult {
            outcomes: self.outcomes,
            new_raw: self.new_raw,
            fingerprints: accepted
                .iter()
                .map(|(version, fingerprint)| (version.line_id.clone(), fingerprint.clone()))
                .collect(),
            accepted: accepted.into_iter().map(|(version, _)| version).collect(),
            withdrawn: withdrawn.into_iter().map(|(line_id, _)| line_id).collect(),
            new_aliases: self.new_aliases,
        }
    }

    fn judge(&mut self, line: &InterventionSubmission) -> Result<(), ParameterError> {
        let outcome = if let Some(problem) = &line.problem {
            let raw = self.raw_of(line);
            self.store_new_raw(&line.line_id, &raw);
            let mut outcome = self.blank_outcome(line, LineStatus::Rejected);
            outcome.reasons = vec![RejectionCode::InvalidMessage];
            outcome.warnings.push(format!(
                "{INVALID_MESSAGE_WARNING_PREFIX}{} ({}, line {}, column {})",
                problem.message, problem.path, problem.line, problem.column
            ));
            outcome.raw_received_at = raw.received_at();
            outcome
        } else {
            match line.action {
                LineAction::Count => self.judge_count(line)?,
                LineAction::StampsOnly => self.judge_stamps_only(line),
                LineAction::Withdraw => self.judge_withdraw(line),
            }
        };
        self.outcomes.push(outcome);
        Ok(())
    }

    fn blank_outcome(&self, line: &InterventionSubmission, status: LineStatus) -> LineOutcome {
        LineOutcome {
            line_id: line.line_id.clone(),
            status,
            reasons: Vec::new(),
            warnings: line.warnings.clone(),
            counted: None,
            counted_minutes: 0,
            rounded_minutes: 0,
            plan_ref: None,
            beneficiary_id: None,
            raw_received_at: None,
            sequence: None,
            fingerprint: None,
        }
    }

    fn raw_of(&self, line: &InterventionSubmission) -> RawEvidence {
        raw_evidence(
            line.raw_start,
            line.raw_end,
            self.priors.get(&line.line_id),
            self.ctx.now,
        )
    }

    /// Records raw sides received for the first time (R3: even when the
    /// line is rejected), never a side that contradicts a stored one.
    fn store_new_raw(&mut self, line_id: &str, raw: &RawEvidence) {
        let new_sides: Vec<RawStamp> = raw.new_sides().collect();
        if new_sides.is_empty() {
            return;
        }
        let prior = self.prior_mut(line_id);
        for side in &new_sides {
            prior.raw.push(side.clone());
        }
        for side in new_sides {
            self.new_raw.push((line_id.to_owned(), side));
        }
    }

    fn prior_mut(&mut self, line_id: &str) -> &mut PriorIntervention {
        self.priors
            .entry(line_id.to_owned())
            .or_insert_with(|| PriorIntervention {
                line_id: line_id.to_owned(),
                ..PriorIntervention::default()
            })
    }

    /// `HOR`: stamps stored as evidence, nothing counted (ESPPADOM mapping).
    fn judge_stamps_only(&mut self, line: &InterventionSubmission) -> LineOutcome {
        let raw = self.raw_of(line);
        self.store_new_raw(&line.line_id, &raw);
        let mut outcome = self.blank_outcome(line, LineStatus::Accepted);
        outcome.raw_received_at = raw.received_at();
        if raw.immutable_violated {
            outcome.status = LineStatus::Rejected;
            outcome.reasons.push(RejectionCode::RawImmutable);
        } else {
            outcome.warnings.push(
                "HOR: time-stamps stored as evidence; nothing is counted until a later message \
                 for this intervention brings a retained period"
                    .to_owned(),
            );
        }
        outcome
    }

    /// `SUP`: the SAAD withdraws an intervention it sent before.
    fn judge_withdraw(&mut self, line: &InterventionSubmission) -> LineOutcome {
        let mut outcome = self.blank_outcome(line, LineStatus::Accepted);
        let saad = self.saad.as_str().to_owned();
        let Some(prior) = self.priors.get_mut(&line.line_id) else {
            outcome.status = LineStatus::Rejected;
            outcome.reasons.push(RejectionCode::InvalidMessage);
            outcome.warnings.push(format!(
                "{INVALID_MESSAGE_WARNING_PREFIX}SUP: no intervention '{}' of this SAAD is known, \
                 there is nothing to withdraw",
                line.line_id
            ));
            return outcome;
        };
        if let Some(previous) = prior.accepted.take() {
            outcome.plan_ref = Some(previous.plan_ref);
            outcome.beneficiary_id = Some(previous.beneficiary_id);
            outcome
                .warnings
                .push("SUP: the intervention is withdrawn and no longer counts".to_owned());
        } else {
            outcome.warnings.push(
                "SUP: the intervention had no accepted version; nothing counts for it".to_owned(),
            );
        }
        prior.accepted_fingerprint = None;
        self.pool.remove(&saad, &line.line_id);
        self.accepted.remove(&line.line_id);
        let index = self.outcomes.len();
        self.withdrawn.entry(line.line_id.clone()).or_insert(index);
        outcome
    }

    fn judge_count(
        &mut self,
        line: &InterventionSubmission,
    ) -> Result<LineOutcome, ParameterError> {
        let declarative = line.declarative.unwrap_or(self.declarative_default);
        let fingerprint = submission_fingerprint(line, declarative);
        let judgement = self.run_checks(line, declarative);
        self.store_new_raw(&line.line_id, &judgement.raw);

        let mut outcome = self.blank_outcome(line, LineStatus::Rejected);
        outcome.warnings.extend(judgement.warnings);
        outcome.counted = judgement.counted;
        outcome.counted_minutes = judgement.counted.map_or(0, |c| c.period.minutes());
        outcome.plan_ref = judgement.plan.plan_ref.clone();
        outcome.beneficiary_id = judgement.plan.beneficiary_id.clone();
        outcome.raw_received_at = judgement.raw.received_at();

        let prior = self.priors.get(&line.line_id);
        let identical_previous = prior
            .filter(|p| p.accepted_fingerprint.as_deref() == Some(fingerprint.as_str()))
            .and_then(|p| p.accepted.as_ref());
        if let Some(previous) = identical_previous {
            // R2: re-sending identical content is idempotent; the accepted
            // version stays as it is (same sequence, same figures).
            outcome.status = LineStatus::Accepted;
            outcome.counted_minutes = previous.period.minutes();
            outcome.rounded_minutes = previous.rounded_minutes;
            outcome.plan_ref = Some(previous.plan_ref.clone());
            outcome.beneficiary_id = Some(previous.beneficiary_id.clone());
            outcome
                .warnings
                .push("identical to the version already accepted: nothing changed".to_owned());
            if previous.rounded_minutes == 0 {
                outcome.warnings.push(format!(
                    "{}: {}",
                    RejectionCode::ShortIntervention.code(),
                    reason_message(RejectionCode::ShortIntervention, self.params)
                ));
            }
            return Ok(outcome);
        }

        let mut reasons = judgement.reasons;
        reasons.sort();
        reasons.dedup();
        let (Some(counted), Some(plan_ref), Some(beneficiary_id), true) = (
            judgement.counted,
            judgement.plan.plan_ref,
            judgement.plan.beneficiary_id,
            reasons.is_empty(),
        ) else {
            if reasons.is_empty() {
                // Cannot happen: a line without counted data or plan has a
                // reason. Kept as a safety net so that a rejected line always
                // says why.
                reasons.push(RejectionCode::InvalidMessage);
                outcome.warnings.push(format!(
                    "{INVALID_MESSAGE_WARNING_PREFIX}the line could not be judged"
                ));
            }
            outcome.reasons = reasons;
            return Ok(outcome);
        };

        let rounded = rounded_minutes(self.params, counted.period.day(), counted.period.minutes())?;
        if rounded == 0 {
            outcome.warnings.push(format!(
                "{}: {}",
                RejectionCode::ShortIntervention.code(),
                reason_message(RejectionCode::ShortIntervention, self.params)
            ));
        }
        outcome.status = LineStatus::Accepted;
        outcome.rounded_minutes = rounded;

        let accepted = AcceptedIntervention {
            saad_siret: self.saad.as_str().to_owned(),
            line_id: line.line_id.clone(),
            beneficiary_id,
            worker_id: line.worker_id.clone(),
            period: counted.period,
            shared_time: counted.corrected && counted.reason == Some(CorrectionReason::SharedTime),
            plan_ref,
            sequence: self.next_sequence,
            rounded_minutes: rounded,
            corrected: counted.corrected,
        };
        self.next_sequence += 1;
        outcome.sequence = Some(accepted.sequence);
        outcome.fingerprint = Some(fingerprint.clone());
        if let Some(alias) = judgement.plan.new_alias {
            if self.aliases.insert(&alias) {
                self.new_aliases.push(alias);
            }
        }
        self.pool.remove(self.saad.as_str(), &line.line_id);
        self.pool.insert(accepted.clone());
        self.accepted.insert(
            line.line_id.clone(),
            (accepted.clone(), fingerprint.clone()),
        );
        self.withdrawn.remove(&line.line_id);
        let prior = self.prior_mut(&line.line_id);
        prior.accepted = Some(accepted);
        prior.accepted_fingerprint = Some(fingerprint);
        Ok(outcome)
    }

    /// R2 selection, then R1, R2, R3, R4, R5, R6 in that order.
    fn run_checks(&self, line: &InterventionSubmission, declarative: bool) -> Judgement {
        let mut reasons = Vec::new();
        let mut warnings = Vec::new();
        let raw = self.raw_of(line);
        if raw.immutable_violated {
            reasons.push(RejectionCode::RawImmutable);
        }
        let SelectedStamps {
            start,
            end,
            corrected,
            reason,
        } = select_stamps(line, declarative, &raw, &mut reasons, &mut warnings);

        // R1 validity.
        let period = match (start, end) {
            (Some(start), Some(end)) => match resolve_period(start, end) {
                Ok(period) => Some(period),
                Err(PeriodError::NonExistentLocalTime(_) | PeriodError::EndNotAfterStart) => {
                    reasons.push(RejectionCode::InvalidPeriod);
                    None
                }
            },
            _ => None,
        };
        if let Some(period) = period {
            if period.minutes() > self.limits.max_minutes {
                reasons.push(RejectionCode::InvalidPeriod);
            }
            if period.end > self.ctx.now + self.limits.future_tolerance {
                reasons.push(RejectionCode::InTheFuture);
            }
        }

        // R3 delay: raw-only counted data.
        if let (Some(period), false) = (period, corrected) {
            if let Some(received) = raw.end.as_ref().map(|side| side.received_at) {
                if is_late(received, period, self.limits.transmission_delay) {
                    reasons.push(RejectionCode::LateTransmission);
                }
            }
        }

        // R4 plan match, on the local day of the counted start.
        let day = start.map(|s| s.paris_day());
        let plan = match_plan(&self.plans, self.saad, &self.aliases, line, day);
        reasons.extend(plan.reasons.iter().copied());

        // R5 events.
        if let (Some(day), Some(beneficiary)) = (day, plan.beneficiary_id.as_deref()) {
            reasons.extend(self.event_reasons(beneficiary, day));
        }

        // R6 overlaps.
        if let (Some(period), Some(beneficiary)) = (period, plan.beneficiary_id.as_deref()) {
            let shared_time = corrected && reason == Some(CorrectionReason::SharedTime);
            reasons.extend(self.overlap_reasons(line, beneficiary, period, shared_time));
        }

        if line.worker_id.is_none() {
            warnings.push("no worker id: the worker-overlap check was skipped".to_owned());
        }
        Judgement {
            reasons,
            warnings,
            counted: period.map(|period| Counted {
                period,
                corrected,
                declarative,
                reason,
            }),
            plan,
            raw,
        }
    }

    /// R5: events that stop payment, whoever reported them.
    fn event_reasons(&self, beneficiary: &str, day: NaiveDate) -> Vec<RejectionCode> {
        let mut reasons = Vec::new();
        for event in self
            .events
            .of(beneficiary)
            .filter(|e| e.kind.stops_payment())
        {
            let code = match event.kind {
                EventKind::Death if day > event.start => Some(RejectionCode::BeneficiaryDeceased),
                EventKind::EstablishmentEntry if day > event.start => {
                    Some(RejectionCode::BeneficiaryInEstablishment)
                }
                EventKind::Hospitalisation | EventKind::Absence
                    if day > event.start && event.end.is_none_or(|end| day < end) =>
                {
                    Some(RejectionCode::BeneficiaryAbsent)
                }
                _ => None,
            };
            reasons.extend(code);
        }
        reasons
    }

    /// R6: overlaps with interventions already accepted (an intervention
    /// never overlaps itself: its own previous version is left out).
    fn overlap_reasons(
        &self,
        line: &InterventionSubmission,
        beneficiary: &str,
        period: Period,
        shared_time: bool,
    ) -> Vec<RejectionCode> {
        let saad = self.saad.as_str();
        let mut reasons = Vec::new();
        if self
            .pool
            .beneficiary_busy(beneficiary, &period, saad, &line.line_id)
        {
            reasons.push(RejectionCode::OverlapBeneficiary);
        }
        if let (Some(worker), false) = (line.worker_id.as_ref(), shared_time) {
            if self
                .pool
                .worker_busy(saad, worker, beneficiary, &period, &line.line_id)
            {
                reasons.push(RejectionCode::OverlapWorker);
            }
        }
        reasons
    }
}

/// R3: raw data received more than the tolerated delay after the raw end
/// (both at minute resolution; exactly the delay is on time).
fn is_late(received: DateTime<Utc>, period: Period, delay: Duration) -> bool {
    truncate_to_minute(received) - period.end > delay
}
