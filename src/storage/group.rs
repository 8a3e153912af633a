//! Group commit of ingestion: concurrent deliveries share one transaction.
//!
//! One transaction per delivery costs a commit (and, on PostgreSQL, a WAL
//! flush) per request, which caps real-time single-intervention posts far
//! below what the HTTP layer serves. Here a delivery is queued; a drainer
//! task (at most one per store, started on demand, gone when the queue is
//! empty) takes every queued delivery (up to [`MAX_GROUP_LINES`] lines), opens
//! ONE ingestion transaction (the same lock as [`super::Store::begin_ingest`]),
//! and runs it in waves (`run_wave`): one context load for the wave's
//! deliveries (a [`super::ContextPool`]), the deliveries judged one after
//! another in arrival order, each on the context it would have had alone
//! after the ones before it (the pool applies each judged delivery before
//! the next is judged), then one bulk write of the wave in a savepoint. A
//! delivery that fails (judge error, storage refusal) gets its own error;
//! the others go on. Then the transaction commits, and only then is any
//! delivery of the group answered: nothing is acknowledged before it is
//! durable. If the commit fails, every delivery of the group gets the error
//! (none was stored).
//!
//! The queue is bounded ([`QueueBound`]): when it already holds that many
//! deliveries or lines, a new delivery is refused at once
//! ([`GroupError::Overloaded`], 503 with `Retry-After` over HTTP) instead
//! of waiting behind a backlog that only grows: under a sustained overload
//! the clients hear it within milliseconds, the server's memory stays
//! bounded, and nothing refused was acknowledged. A delivery that finds the
//! queue empty is always taken, whatever its size.
//!
//! Idempotency is unchanged: the receipt row is claimed first under the
//! unique key (SAAD, transmission id), so a second copy in the same group
//! sees the first one's row (same transaction) and a copy racing from another
//! process blocks on it.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::{
    AuditEntry, CommitOutcome, ContextRequest, DeliveryCommit, GroupWrite, IngestTx, Store,
    StoreError,
};
use crate::domain::ingest::{IngestContext, IngestResult};
use crate::domain::model::InterventionSubmission;

/// A group stops taking deliveries once it holds this many lines (one big
/// delivery still goes alone, whatever its size).
pub const MAX_GROUP_LINES: usize = 20_000;

/// How many deliveries, and lines, may wait for the group committer.
///
/// The defaults hold about one second of real-time posts (single-line
/// deliveries, a few thousand per second at best on two cores) and about
/// five seconds of batch files (1 000-line deliveries, ~10 000 lines per
/// second), a backlog a client's retry after one second absorbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBound {
    /// Most deliveries queued (not counting the group being stored).
    pub deliveries: usize,
    /// Most lines queued (a delivery counts at least one; a delivery read
    /// in parts counts its first part).
    pub lines: usize,
}

impl Default for QueueBound {
    fn default() -> Self {
        Self {
            deliveries: 2_048,
            lines: 50_000,
        }
    }
}

/// What waits in the group committer's queue at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueLength {
    /// Deliveries queued (not counting the group being stored).
    pub deliveries: usize,
    /// Their lines (each delivery counting at least one).
    pub lines: usize,
}

/// Why a judge refused to produce a result (the service's own error).
pub type JudgeError = Box<dyn std::error::Error + Send + Sync>;

/// What a judge produced: the checks' result and the receipt to store.
#[derive(Debug)]
pub struct Judged {
    /// The checks' decision.
    pub result: IngestResult,
    /// The receipt, stored and returned on every re-send.
    pub receipt_json: String,
}

/// Judges a delivery on its context (pure: the checks and the receipt). It
/// may run more than once (the last run is the one written): a delivery
/// judged in a wave whose write fails is judged again on its own.
pub type Judge = Box<
    dyn Fn(&IngestContext, &[InterventionSubmission]) -> Result<Judged, JudgeError> + Send + Sync,
>;

/// One delivery handed to the group committer.
pub struct GroupedDelivery {
    /// The posting SAAD.
    pub saad_siret: String,
    /// Transmission id (idempotency key).
    pub transmission_id: String,
    /// Hash of the request body.
    pub body_hash: String,
    /// The submitted lines.
    pub lines: Vec<InterventionSubmission>,
    /// Gateway clock at reception.
    pub now: DateTime<Utc>,
    /// The checks, run inside the transaction on the loaded context.
    pub judge: Judge,
    /// The audit row of the request, written in the same transaction when
    /// the delivery is stored (its `detail` is filled with the line counts).
    /// A replay writes nothing here: the caller audits it.
    pub audit: Option<AuditEntry>,
    /// The later parts of a delivery too large to hold at once (`lines` is
    /// then its first part); `None` for a delivery held whole.
    pub later: Option<LaterParts>,
}

/// The later parts of a delivery ingested as it is read (a large ESPPADOM
/// file): the group committer judges and writes it part by part in ONE
/// transaction, each part on the context its earlier parts left (as if
/// they were earlier deliveries: `tests/deliveries_in_parts.rs` checks the
/// outcome is the same as the whole delivery's), with the receipt's lines
/// stored part by part (`receipt_parts`). Nothing is stored unless the
/// whole delivery was read ([`Part::End`]). Such a delivery is a group of
/// its own.
pub struct LaterParts {
    /// The next parts, then [`Part::End`]; a channel closed before `End`
    /// means the delivery could not be read to its end.
    pub parts: tokio::sync::mpsc::Receiver<Part>,
    /// The receipt up to its `"lines":[`, from the whole delivery's totals.
    pub prefix: ReceiptPrefix,
}

/// Writes a receipt's beginning, up to `"lines":[`, from its totals.
pub type ReceiptPrefix = Box<dyn Fn(&PartsTotals) -> Result<String, JudgeError> + Send + Sync>;

/// One more part of a delivery read in parts.
#[derive(Debug)]
pub enum Part {
    /// The next lines, in order.
    Lines(Vec<InterventionSubmission>),
    /// The delivery was read to its end.
    End,
}

/// The totals of a delivery stored in parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartsTotals {
    /// Lines.
    pub lines: usize,
    /// Accepted lines.
    pub accepted: usize,
    /// Rejected lines.
    pub rejected: usize,
    /// Parts (receipt parts stored).
    pub parts: i64,
}

/// Why a grouped delivery was not stored.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// The judge refused (nothing of this delivery was written).
    #[error("{0}")]
    Judge(JudgeError),
    /// Storage refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A delivery read in parts could not be read to its end (nothing of it
    /// was stored; the reader knows why).
    #[error("the delivery could not be read to its end; nothing of it was stored")]
    Unfinished,
    /// The queue was full ([`QueueBound`]): the delivery was not taken
    /// (nothing of it was stored); the client sends it again later.
    #[error(
        "ingestion queue full ({deliveries} deliveries, {lines} lines waiting); nothing of this delivery was stored"
    )]
    Overloaded {
        /// Deliveries waiting when it was refused.
        deliveries: usize,
        /// Lines waiting when it was refused.
        lines: usize,
    },
}

type Reply = oneshot::Sender<Result<CommitOutcome, GroupError>>;

struct Queued {
    delivery: GroupedDelivery,
    reply: Reply,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    /// Lines of the queued deliveries (each counting at least one).
    queued_lines: usize,
    draining: bool,
}

/// A delivery's weight in the queue.
fn queue_lines(delivery: &GroupedDelivery) -> usize {
    delivery.lines.len().max(1)
}

/// The per-store queue (cheap to clone: shared state).
#[derive(Clone, Default)]
pub struct GroupCommitter {
    state: Arc<Mutex<State>>,
    bound: QueueBound,
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter").finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// An empty queue with this bound.
    pub(crate) fn new(bound: QueueBound) -> Self {
        Self {
            state: Arc::default(),
            bound,
        }
    }

    /// What waits now (an observation: it may change at once).
    pub(crate) fn length(&self) -> QueueLength {
        match self.state.lock() {
            Ok(state) => QueueLength {
                deliveries: state.queue.len(),
                lines: state.queued_lines,
            },
            Err(_) => QueueLength::default(),
        }
    }

    /// Queues a delivery and waits for its group to commit; refuses it at
    /// once ([`GroupError::Overloaded`]) when the queue is full.
    pub(crate) async fn submit(
        &self,
        store: &Store,
        delivery: GroupedDelivery,
    ) -> Result<CommitOutcome, GroupError> {
        let (reply, answer) = oneshot::channel();
        let start_drainer = {
            let mut state = self
                .state
                .lock()
                .map_err(|_| StoreError::other("group commit queue poisoned"))?;
            let size = queue_lines(&delivery);
            let full = state.queue.len() >= self.bound.deliveries
                || state.queued_lines.saturating_add(size) > self.bound.lines;
            if full && !state.queue.is_empty() {
                return Err(GroupError::Overloaded {
                    deliveries: state.queue.len(),
                    lines: state.queued_lines,
                });
            }
            state.queued_lines += size;
            state.queue.push_back(Queued { delivery, reply });
            !std::mem::replace(&mut state.draining, true)
        };
        if start_drainer {
            // A task of its own: the requests' futures may be dropped (client
            // gone) without stopping the group they are part of.
            let committer = self.clone();
            let store = store.clone();
            tokio::spawn(async move { committer.drain(store).await });
        }
        answer
            .await
            .map_err(|_| StoreError::other("the group commit task ended without answering"))?
    }

    /// Runs groups until the queue is empty.
    async fn drain(self, store: Store) {
        let _guard = DrainGuard(self.clone());
        loop {
            let group = {
                let Ok(mut state) = self.state.lock() else {
                    return;
                };
                if state.queue.is_empty() {
                    state.draining = false;
                    return;
                }
                let mut group = Vec::new();
                let mut lines = 0usize;
                while let Some(next) = state.queue.front() {
                    let size = queue_lines(&next.delivery);
                    let in_parts = next.delivery.later.is_some();
                    if !group.is_empty() && (in_parts || lines + size > MAX_GROUP_LINES) {
                        break;
                    }
                    lines += size;
                    state.queued_lines = state.queued_lines.saturating_sub(size);
                    if let Some(job) = state.queue.pop_front() {
                        group.push(job);
                    }
                    if in_parts {
                        break;
                    }
                }
                group
            };
            run_group(&store, group).await;
        }
    }
}

/// If a drainer dies by a panic, the queue must not wait for it forever:
/// every queued delivery is answered with an error (nothing of them was
/// stored) and the next submission starts a new drainer. The group that was
/// running is rolled back (its transaction is dropped) and its callers see
/// their reply channel closed: an error, never an acknowledgement.
struct DrainGuard(GroupCommitter);

impl Drop for DrainGuard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let mut state = match self.0.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        };
        state.draining = false;
        state.queued_lines = 0;
        for job in state.queue.drain(..) {
            let _ = job.reply.send(Err(StoreError::other(
                "the group commit task failed; nothing of this delivery was stored",
            )
            .into()));
        }
    }
}

/// One shared transaction for `group`; answers every delivery after the commit.
async fn run_group(store: &Store, group: Vec<Queued>) {
    let started = std::time::Instant::now();
    let deliveries = group.len();
    let mut timings = Timings::default();
    let mut tx = match store.begin_ingest().await {
        Ok(tx) => tx,
        Err(error) => {
            for job in group {
                let _ = job.reply.send(Err(replicate(&error).into()));
            }
            return;
        }
    };
    let mut answers: Vec<(Reply, Result<CommitOutcome, GroupError>, u64)> =
        Vec::with_capacity(group.len());
    let mut pending: VecDeque<Queued> = group.into();
    while let Some(front) = pending.front() {
        timings.waves += 1;
        if front.delivery.later.is_some() {
            if let Some(Queued { delivery, reply }) = pending.pop_front() {
                let outcome = in_parts(&mut tx, delivery, &mut timings).await;
                let lines = match &outcome {
                    Ok((_, totals)) => u64::try_from(totals.lines).unwrap_or(u64::MAX),
                    Err(_) => 0,
                };
                answers.push((reply, outcome.map(|(o, _)| o), lines));
            }
            continue;
        }
        run_wave(&mut tx, &mut pending, &mut answers, &mut timings).await;
    }
    let stored_lines: u64 = answers
        .iter()
        .filter(|(_, outcome, _)| matches!(outcome, Ok(CommitOutcome::Stored)))
        .map(|(_, _, lines)| *lines)
        .fold(0, u64::saturating_add);
    let stored_any = answers
        .iter()
        .any(|(_, outcome, _)| matches!(outcome, Ok(CommitOutcome::Stored)));
    let before_commit = std::time::Instant::now();
    let committed = if stored_any {
        tx.finish().await
    } else {
        tx.rollback().await
    };
    tracing::debug!(
        deliveries,
        waves = timings.waves,
        lines = stored_lines,
        total = ?started.elapsed(),
        context = ?timings.context,
        judge = ?timings.judge,
        write = ?timings.write,
        commit = ?before_commit.elapsed(),
        "ingestion group"
    );
    match committed {
        Ok(()) => {
            for (reply, outcome, _) in answers {
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            // Nothing of the group is stored: nobody is told otherwise.
            for (reply, outcome, _) in answers {
                let answer = match outcome {
                    Ok(_) => Err(replicate(&error).into()),
                    Err(own) => Err(own),
                };
                let _ = reply.send(answer);
            }
        }
    }
}

/// Where a group's time went (debug log `ingestion group`).
#[derive(Default)]
struct Timings {
    waves: u32,
    context: std::time::Duration,
    judge: std::time::Duration,
    write: std::time::Duration,
}

/// How many deliveries at the front of `pending` may share the next wave:
/// up to the first that repeats the (SAAD, transmission id) of an earlier
/// one (its answer depends on whether the earlier one is stored, which the
/// wave's write decides).
fn wave_candidates(pending: &VecDeque<Queued>) -> usize {
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (index, queued) in pending.iter().enumerate() {
        let key = (
            queued.delivery.saad_siret.as_str(),
            queued.delivery.transmission_id.as_str(),
        );
        if !seen.insert(key) {
            return index;
        }
    }
    pending.len()
}

/// One judged delivery of a wave, waiting for the wave's write.
struct Ready {
    reply: Reply,
    delivery: GroupedDelivery,
    judged: Judged,
}

/// Takes deliveries off the front of `pending` and judges them one after
/// another on ONE context load, the pool, to which each judged delivery is
/// applied before the next is judged (`storage::context_pool`): each
/// delivery is judged on exactly the context it would have had alone after
/// the deliveries before it. A delivery already stored is answered with its
/// first receipt; one whose context needs rows the pool did not read stays
/// pending for the next wave. Then the wave is written with one statement
/// per table, in one savepoint. If the wave's load fails, the first
/// delivery runs alone (its own error); if the wave's write fails, it is
/// rolled back and each judged delivery runs alone again (context, checks,
/// write) in its own savepoint, so a failure stays with its delivery.
async fn run_wave(
    tx: &mut IngestTx,
    pending: &mut VecDeque<Queued>,
    answers: &mut Vec<(Reply, Result<CommitOutcome, GroupError>, u64)>,
    timings: &mut Timings,
) {
    let mut phase = std::time::Instant::now();
    let loaded = match tx.savepoint().await {
        Ok(()) => {
            let candidates = wave_candidates(pending);
            let requests: Vec<ContextRequest<'_>> = pending
                .iter()
                .take(candidates)
                .map(|q| request_of(&q.delivery))
                .collect();
            let keys: Vec<(&str, &str)> = pending
                .iter()
                .take(candidates)
                .map(|q| {
                    (
                        q.delivery.saad_siret.as_str(),
                        q.delivery.transmission_id.as_str(),
                    )
                })
                .collect();
            let loaded = match tx.stored_receipts(&keys).await {
                Ok(receipts) => tx.load_pool(&requests).await.map(|pool| (pool, receipts)),
                Err(error) => Err(error),
            };
            match loaded {
                Ok(loaded) => Some(loaded),
                Err(_) => {
                    // Nothing was written in this savepoint: a broken
                    // transaction shows on the single delivery below.
                    let _ = tx.rollback_to_savepoint().await;
                    None
                }
            }
        }
        Err(_) => None,
    };
    timings.context += phase.elapsed();
    let Some((mut pool, stored)) = loaded else {
        run_front_alone(tx, pending, answers, timings).await;
        return;
    };

    phase = std::time::Instant::now();
    let mut ready: Vec<Ready> = Vec::new();
    let mut taken = 0usize;
    let mut next_sequence = pool.next_sequence;
    for stored in stored {
        let Some(front) = pending.front() else { break };
        let context = match stored {
            // Stored before this wave: its first receipt, nothing judged
            // (a judged copy would take acceptance sequences for nothing).
            Some(_) => None,
            None => match pool.context_for(&request_of(&front.delivery), next_sequence) {
                Some(context) => Some(context),
                // Needs what the pool did not read: next wave.
                None => break,
            },
        };
        let Some(Queued { delivery, reply }) = pending.pop_front() else {
            break;
        };
        taken += 1;
        let lines = line_count(&delivery);
        let Some(context) = context else {
            if let Some(stored) = stored {
                answers.push((reply, Ok(stored.outcome()), lines));
            }
            continue;
        };
        match run_judge(&delivery.judge, &context, &delivery.lines) {
            Ok(judged) => {
                drop(context);
                pool.apply(&delivery.saad_siret, &judged.result);
                next_sequence = judged
                    .result
                    .accepted
                    .iter()
                    .map(|a| a.sequence + 1)
                    .fold(next_sequence, i64::max);
                ready.push(Ready {
                    reply,
                    delivery,
                    judged,
                });
            }
            Err(error) => answers.push((reply, Err(error), lines)),
        }
    }
    drop(pool);
    timings.judge += phase.elapsed();
    if taken == 0 {
        // Cannot happen (the pool was read for the front delivery); never
        // loop on it.
        let _ = tx.rollback_to_savepoint().await;
        run_front_alone(tx, pending, answers, timings).await;
        return;
    }

    phase = std::time::Instant::now();
    let together = {
        let audits: Vec<Option<AuditEntry>> = ready
            .iter()
            .map(|r| {
                r.delivery
                    .audit
                    .clone()
                    .map(|entry| audited(entry, &r.delivery, &r.judged))
            })
            .collect();
        let writes: Vec<GroupWrite<'_>> = ready
            .iter()
            .zip(&audits)
            .map(|(r, audit)| GroupWrite {
                delivery: commit_of(&r.delivery, &r.judged),
                audit: audit.as_ref(),
            })
            .collect();
        tx.write_many(&writes).await
    };
    match together {
        Ok(true) => match tx.release_savepoint().await {
            Ok(()) => {
                for r in ready {
                    let lines = line_count(&r.delivery);
                    answers.push((r.reply, Ok(CommitOutcome::Stored), lines));
                }
            }
            Err(error) => {
                for r in ready {
                    let lines = line_count(&r.delivery);
                    answers.push((r.reply, Err(replicate(&error).into()), lines));
                }
            }
        },
        _ => {
            // One by one, each judged again on its own context (a judged
            // result may rest on an earlier delivery of the wave that is
            // not stored after all), each in its own savepoint.
            let undone = tx.rollback_to_savepoint().await;
            for r in ready {
                let lines = line_count(&r.delivery);
                let outcome = match &undone {
                    Ok(()) => alone(tx, r.delivery, timings).await,
                    Err(error) => Err(replicate(error).into()),
                };
                answers.push((r.reply, outcome, lines));
            }
        }
    }
    timings.write += phase.elapsed();
}

/// The front delivery of `pending` on its own (its own load, its own error).
async fn run_front_alone(
    tx: &mut IngestTx,
    pending: &mut VecDeque<Queued>,
    answers: &mut Vec<(Reply, Result<CommitOutcome, GroupError>, u64)>,
    timings: &mut Timings,
) {
    if let Some(Queued { delivery, reply }) = pending.pop_front() {
        let lines = line_count(&delivery);
        let outcome = alone(tx, delivery, timings).await;
        answers.push((reply, outcome, lines));
    }
}

fn request_of(delivery: &GroupedDelivery) -> ContextRequest<'_> {
    ContextRequest {
        saad_siret: &delivery.saad_siret,
        lines: &delivery.lines,
        now: delivery.now,
    }
}

/// A delivery read in parts, in its own savepoint (see [`LaterParts`]).
async fn in_parts(
    tx: &mut IngestTx,
    mut delivery: GroupedDelivery,
    timings: &mut Timings,
) -> Result<(CommitOutcome, PartsTotals), GroupError> {
    tx.savepoint().await?;
    let outcome = write_in_parts(tx, &mut delivery, timings).await;
    match outcome {
        Ok(done) => {
            tx.release_savepoint().await?;
            Ok(done)
        }
        Err(error) => match tx.rollback_to_savepoint().await {
            Ok(()) => Err(error),
            Err(broken) => Err(broken.into()),
        },
    }
}

async fn write_in_parts(
    tx: &mut IngestTx,
    delivery: &mut GroupedDelivery,
    timings: &mut Timings,
) -> Result<(CommitOutcome, PartsTotals), GroupError> {
    let mut totals = PartsTotals::default();
    let key = [(
        delivery.saad_siret.as_str(),
        delivery.transmission_id.as_str(),
    )];
    if let Some(stored) = tx.stored_receipts(&key).await?.pop().flatten() {
        return Ok((stored.outcome(), totals));
    }
    let Some(mut later) = delivery.later.take() else {
        return Err(StoreError::other("a delivery in parts without its later parts").into());
    };
    let mut lines = std::mem::take(&mut delivery.lines);
    loop {
        let mut phase = std::time::Instant::now();
        let request = ContextRequest {
            saad_siret: &delivery.saad_siret,
            lines: &lines,
            now: delivery.now,
        };
        let pool = tx.load_pool(&[request]).await?;
        let context = pool
            .context_for(&request, pool.next_sequence)
            .ok_or_else(|| StoreError::other("a part is not covered by its own context load"))?;
        drop(pool);
        timings.context += phase.elapsed();
        phase = std::time::Instant::now();
        let judged = run_judge(&delivery.judge, &context, &lines)?;
        drop(context);
        timings.judge += phase.elapsed();
        phase = std::time::Instant::now();
        totals.parts += 1;
        let commit = DeliveryCommit {
            saad_siret: &delivery.saad_siret,
            transmission_id: &delivery.transmission_id,
            body_hash: &delivery.body_hash,
            receipt_json: &judged.receipt_json,
            lines: &lines,
            result: &judged.result,
            now: delivery.now,
        };
        let first_line_no = i64::try_from(totals.lines)
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        tx.write_part(commit, totals.parts, first_line_no).await?;
        timings.write += phase.elapsed();
        totals.lines += lines.len();
        let rejected = judged
            .result
            .outcomes
            .iter()
            .filter(|o| o.status == crate::domain::model::LineStatus::Rejected)
            .count();
        totals.rejected += rejected;
        totals.accepted += judged.result.outcomes.len() - rejected;
        drop(judged);
        lines = match later.parts.recv().await {
            Some(Part::Lines(next)) => next,
            Some(Part::End) => break,
            None => return Err(GroupError::Unfinished),
        };
    }
    let prefix = (later.prefix)(&totals).map_err(GroupError::Judge)?;
    let claimed = tx
        .claim_receipt_in_parts(
            &delivery.saad_siret,
            &delivery.transmission_id,
            &delivery.body_hash,
            &prefix,
            totals.lines,
            totals.parts,
            delivery.now,
        )
        .await?;
    if !claimed {
        // Stored meanwhile by another process: this copy is undone; a
        // re-send gets the stored receipt.
        return Err(StoreError::Conflict(format!(
            "transmission '{}' was stored by another request meanwhile; send it again to get its receipt",
            delivery.transmission_id
        ))
        .into());
    }
    if let Some(mut entry) = delivery.audit.clone() {
        entry.detail = Some(format!(
            "{} lines, {} rejected",
            totals.lines, totals.rejected
        ));
        tx.append_audit(&entry).await?;
    }
    Ok((CommitOutcome::Stored, totals))
}

fn line_count(delivery: &GroupedDelivery) -> u64 {
    u64::try_from(delivery.lines.len()).unwrap_or(u64::MAX)
}

/// A delivery on its own, in its own savepoint: context, checks, write.
async fn alone(
    tx: &mut IngestTx,
    delivery: GroupedDelivery,
    timings: &mut Timings,
) -> Result<CommitOutcome, GroupError> {
    tx.savepoint().await?;
    let outcome = one_delivery(tx, delivery, timings).await;
    close_savepoint(tx, outcome).await
}

/// Keeps what a delivery wrote since its savepoint if it succeeded, undoes
/// it otherwise (the delivery keeps its own error).
async fn close_savepoint(
    tx: &mut IngestTx,
    outcome: Result<CommitOutcome, GroupError>,
) -> Result<CommitOutcome, GroupError> {
    match outcome {
        Ok(outcome) => {
            tx.release_savepoint().await?;
            Ok(outcome)
        }
        Err(error) => match tx.rollback_to_savepoint().await {
            Ok(()) => Err(error),
            Err(broken) => Err(broken.into()),
        },
    }
}

async fn one_delivery(
    tx: &mut IngestTx,
    delivery: GroupedDelivery,
    timings: &mut Timings,
) -> Result<CommitOutcome, GroupError> {
    let mut phase = std::time::Instant::now();
    let context = tx
        .load_context(&delivery.saad_siret, &delivery.lines, delivery.now)
        .await?;
    timings.context += phase.elapsed();
    phase = std::time::Instant::now();
    let judged = run_judge(&delivery.judge, &context, &delivery.lines)?;
    drop(context);
    timings.judge += phase.elapsed();
    phase = std::time::Instant::now();
    let audit = delivery
        .audit
        .clone()
        .map(|entry| audited(entry, &delivery, &judged));
    let outcome = write_judged(tx, &delivery, &judged, audit.as_ref()).await;
    timings.write += phase.elapsed();
    outcome
}

/// Runs the checks; a judge that panics fails its own delivery, not the group.
fn run_judge(
    judge: &Judge,
    context: &IngestContext,
    lines: &[InterventionSubmission],
) -> Result<Judged, GroupError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| judge(context, lines)))
        .map_err(|_| GroupError::Judge("the checks failed unexpectedly (panic)".into()))?
        .map_err(GroupError::Judge)
}

/// What storage writes for a judged delivery.
fn commit_of<'a>(delivery: &'a GroupedDelivery, judged: &'a Judged) -> DeliveryCommit<'a> {
    DeliveryCommit {
        saad_siret: &delivery.saad_siret,
        transmission_id: &delivery.transmission_id,
        body_hash: &delivery.body_hash,
        receipt_json: &judged.receipt_json,
        lines: &delivery.lines,
        result: &judged.result,
        now: delivery.now,
    }
}

/// The request's audit row with the delivery's line counts.
fn audited(mut entry: AuditEntry, delivery: &GroupedDelivery, judged: &Judged) -> AuditEntry {
    let rejected = judged
        .result
        .outcomes
        .iter()
        .filter(|o| o.status == crate::domain::model::LineStatus::Rejected)
        .count();
    entry.detail = Some(format!(
        "{} lines, {rejected} rejected",
        delivery.lines.len()
    ));
    entry
}

/// Writes one judged delivery and, when stored, its audit row.
async fn write_judged(
    tx: &mut IngestTx,
    delivery: &GroupedDelivery,
    judged: &Judged,
    audit: Option<&AuditEntry>,
) -> Result<CommitOutcome, GroupError> {
    let outcome = tx.write(commit_of(delivery, judged)).await?;
    if let (CommitOutcome::Stored, Some(entry)) = (&outcome, audit) {
        tx.append_audit(entry).await?;
    }
    Ok(outcome)
}

/// The same failure for each delivery of a group (errors are not `Clone`).
fn replicate(error: &StoreError) -> StoreError {
    match error {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(what) => StoreError::Conflict(what.clone()),
        StoreError::Unavailable(cause) => {
            StoreError::Unavailable(sqlx::Error::Io(std::io::Error::other(cause.to_string())))
        }
        // A full disk must still read as one (507) for every delivery of
        // the group; other causes are kept as text.
        StoreError::Other { what, source } if is_disk_full(source.as_deref()) => {
            StoreError::Other {
                what: format!("group commit failed: {what}"),
                source: Some(Box::new(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    source.as_ref().map_or_else(String::new, |c| c.to_string()),
                )))),
            }
        }
        StoreError::Other { what, source } => StoreError::other(match source {
            Some(cause) => format!("group commit failed: {what}: {cause}"),
            None => format!("group commit failed: {what}"),
        }),
    }
}

/// Whether a storage failure's cause is a full disk: SQLite `SQLITE_FULL`
/// (primary code 13) or PostgreSQL `disk_full` (53100).
fn is_disk_full(cause: Option<&(dyn std::error::Error + Send + Sync + 'static)>) -> bool {
    let Some(sqlx::Error::Database(db)) = cause.and_then(|c| c.downcast_ref::<sqlx::Error>())
    else {
        return false;
    };
    let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
    code == "53100" || code.parse::<i64>().is_ok_and(|c| c & 0xff == 13)
}
