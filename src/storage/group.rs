//! Group commit of ingestion: concurrent deliveries share one transaction.
//!
//! One transaction per delivery costs a commit (and, on PostgreSQL, a WAL
//! flush) per request, which caps real-time single-intervention posts far
//! below what the HTTP layer serves. Here a delivery is queued; a drainer
//! task (at most one per store, started on demand, gone when the queue is
//! empty) takes every queued delivery (up to [`MAX_GROUP_LINES`] lines), opens
//! ONE ingestion transaction (the same lock as [`super::Store::begin_ingest`]),
//! and for each delivery in arrival order: `SAVEPOINT`, load its context
//! (which sees the deliveries before it in the group), judge it, write it,
//! `RELEASE`. A delivery that fails (judge error, storage refusal) is rolled
//! back to its savepoint and answered with its error; the others go on. Then
//! the transaction commits, and only then is any delivery of the group
//! answered: nothing is acknowledged before it is durable. If the commit
//! fails, every delivery of the group gets the error (none was stored).
//!
//! Idempotency is unchanged: the receipt row is claimed first under the
//! unique key (SAAD, transmission id), so a second copy in the same group
//! sees the first one's row (same transaction) and a copy racing from another
//! process blocks on it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

use super::{AuditEntry, CommitOutcome, DeliveryCommit, IngestTx, Store, StoreError};
use crate::domain::ingest::{IngestContext, IngestResult};
use crate::domain::model::InterventionSubmission;

/// A group stops taking deliveries once it holds this many lines (one big
/// delivery still goes alone, whatever its size).
pub const MAX_GROUP_LINES: usize = 20_000;

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

/// Judges a delivery on its context (pure: the checks and the receipt).
pub type Judge =
    Box<dyn FnOnce(&IngestContext, &[InterventionSubmission]) -> Result<Judged, JudgeError> + Send>;

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
}

type Reply = oneshot::Sender<Result<CommitOutcome, GroupError>>;

struct Queued {
    delivery: GroupedDelivery,
    reply: Reply,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Queued>,
    draining: bool,
}

/// The per-store queue (cheap to clone: shared state).
#[derive(Clone, Default)]
pub struct GroupCommitter {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for GroupCommitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommitter").finish_non_exhaustive()
    }
}

impl GroupCommitter {
    /// Queues a delivery and waits for its group to commit.
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
                    let size = next.delivery.lines.len().max(1);
                    if !group.is_empty() && lines + size > MAX_GROUP_LINES {
                        break;
                    }
                    lines += size;
                    if let Some(job) = state.queue.pop_front() {
                        group.push(job);
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
    let mut answers: Vec<(Reply, Result<CommitOutcome, GroupError>)> =
        Vec::with_capacity(group.len());
    let mut stored_any = false;
    let mut stored_lines: u64 = 0;
    for Queued { delivery, reply } in group {
        let lines = u64::try_from(delivery.lines.len()).unwrap_or(u64::MAX);
        let outcome = match tx.savepoint().await {
            Ok(()) => match one_delivery(&mut tx, delivery, &mut timings).await {
                Ok(outcome) => tx
                    .release_savepoint()
                    .await
                    .map(|()| outcome)
                    .map_err(GroupError::from),
                Err(error) => match tx.rollback_to_savepoint().await {
                    Ok(()) => Err(error),
                    Err(broken) => Err(broken.into()),
                },
            },
            Err(error) => Err(error.into()),
        };
        if matches!(outcome, Ok(CommitOutcome::Stored)) {
            stored_any = true;
            stored_lines = stored_lines.saturating_add(lines);
        }
        answers.push((reply, outcome));
    }
    let before_commit = std::time::Instant::now();
    let committed = if stored_any {
        tx.finish().await
    } else {
        tx.rollback().await
    };
    tracing::debug!(
        deliveries,
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
            for (reply, outcome) in answers {
                let _ = reply.send(outcome);
            }
        }
        Err(error) => {
            // Nothing of the group is stored: nobody is told otherwise.
            for (reply, outcome) in answers {
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
    context: std::time::Duration,
    judge: std::time::Duration,
    write: std::time::Duration,
}

async fn one_delivery(
    tx: &mut IngestTx,
    delivery: GroupedDelivery,
    timings: &mut Timings,
) -> Result<CommitOutcome, GroupError> {
    let GroupedDelivery {
        saad_siret,
        transmission_id,
        body_hash,
        lines,
        now,
        judge,
        audit,
    } = delivery;
    let mut phase = std::time::Instant::now();
    let context = tx.load_context(&saad_siret, &lines, now).await?;
    timings.context += phase.elapsed();
    phase = std::time::Instant::now();
    // A judge that panics fails its own delivery, not the group.
    let judged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| judge(&context, &lines)))
        .map_err(|_| GroupError::Judge("the checks failed unexpectedly (panic)".into()))?
        .map_err(GroupError::Judge)?;
    drop(context);
    timings.judge += phase.elapsed();
    phase = std::time::Instant::now();
    let outcome = tx
        .write(DeliveryCommit {
            saad_siret: &saad_siret,
            transmission_id: &transmission_id,
            body_hash: &body_hash,
            receipt_json: &judged.receipt_json,
            lines: &lines,
            result: &judged.result,
            now,
        })
        .await?;
    if let (CommitOutcome::Stored, Some(mut entry)) = (&outcome, audit) {
        let rejected = judged
            .result
            .outcomes
            .iter()
            .filter(|o| o.status == crate::domain::model::LineStatus::Rejected)
            .count();
        entry.detail = Some(format!("{} lines, {rejected} rejected", lines.len()));
        tx.append_audit(&entry).await?;
    }
    timings.write += phase.elapsed();
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
