//! Open-loop (fixed offered rate, latency counted from each request's
//! scheduled time, so a slow server cannot hide queueing) and closed-loop
//! (as fast as N concurrent senders go) request drivers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

/// Latency percentiles and counts of one run, latencies in microseconds.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RunStats {
    pub offered_per_s: u64,
    pub seconds: f64,
    pub sent: u64,
    pub ok: u64,
    pub errors: u64,
    /// Not sent because too many requests were already in flight.
    pub dropped: u64,
    pub achieved_per_s: f64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub first_error: Option<String>,
    /// Errors by kind: the HTTP status (`503`, `429`…), `timeout`,
    /// `transport` (no answer: connection refused, reset…) or `unanswered`
    /// (still in flight when the drain ended).
    pub error_kinds: BTreeMap<String, u64>,
}

impl RunStats {
    fn from(
        offered: u64,
        elapsed: Duration,
        sent: u64,
        mut latencies: Vec<u64>,
        errors: u64,
        dropped: u64,
        first_error: Option<String>,
    ) -> Self {
        latencies.sort_unstable();
        let pick = |q: usize| -> u64 {
            if latencies.is_empty() {
                return 0;
            }
            let index = (latencies.len() * q).div_ceil(1000).saturating_sub(1);
            latencies[index.min(latencies.len() - 1)]
        };
        let ok = latencies.len() as u64;
        Self {
            offered_per_s: offered,
            seconds: elapsed.as_secs_f64(),
            sent,
            ok,
            errors,
            dropped,
            achieved_per_s: ok as f64 / elapsed.as_secs_f64().max(1e-9),
            p50_us: pick(500),
            p95_us: pick(950),
            p99_us: pick(990),
            max_us: latencies.last().copied().unwrap_or(0),
            first_error,
            error_kinds: BTreeMap::new(),
        }
    }

    /// `503 ×12, timeout ×3`, or `none`.
    pub fn error_kinds_text(&self) -> String {
        if self.error_kinds.is_empty() {
            return "none".to_owned();
        }
        self.error_kinds
            .iter()
            .map(|(kind, n)| format!("{kind} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Every request answered 2xx, none dropped, p99 under `p99_limit`.
    pub fn sustained(&self, p99_limit: Duration) -> bool {
        self.errors == 0
            && self.dropped == 0
            && self.ok == self.sent
            && u128::from(self.p99_us) < p99_limit.as_micros()
    }
}

#[derive(Default)]
struct Shared {
    latencies: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
    /// Errors by kind (their sum is the error count).
    error_kinds: Mutex<BTreeMap<String, u64>>,
    in_flight: AtomicUsize,
}

impl Shared {
    /// The errors by kind, and their count.
    fn take_errors(&self) -> (BTreeMap<String, u64>, u64) {
        let kinds = std::mem::take(&mut *self.error_kinds.lock().expect("lock"));
        let count = kinds.values().sum();
        (kinds, count)
    }
}

fn transport_kind(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".to_owned()
    } else {
        "transport".to_owned()
    }
}

async fn send_one(request: reqwest::RequestBuilder, shared: &Shared, scheduled: Instant) {
    let outcome = match request.send().await {
        Ok(response) => {
            let status = response.status();
            match response.bytes().await {
                Ok(_) if status.is_success() => Ok(()),
                Ok(body) => Err((
                    status.as_u16().to_string(),
                    format!(
                        "{status} {}",
                        String::from_utf8_lossy(&body[..body.len().min(300)])
                    ),
                )),
                Err(e) => Err((transport_kind(&e), e.to_string())),
            }
        }
        Err(e) => Err((transport_kind(&e), e.to_string())),
    };
    let micros = u64::try_from(scheduled.elapsed().as_micros()).unwrap_or(u64::MAX);
    match outcome {
        Ok(()) => shared.latencies.lock().expect("lock").push(micros),
        Err((kind, message)) => {
            *shared
                .error_kinds
                .lock()
                .expect("lock")
                .entry(kind)
                .or_default() += 1;
            let mut first = shared.first_error.lock().expect("lock");
            if first.is_none() {
                *first = Some(message);
            }
        }
    }
    shared.in_flight.fetch_sub(1, Ordering::Relaxed);
}

/// Offers `rate` requests/s for `duration`: request `k` is due at
/// `start + k / rate` whatever happened to the earlier ones. `make(k)`
/// builds request `k` (`None`: nothing left to send). At most `max_in_flight`
/// outstanding requests; beyond that a due request is counted as dropped.
/// `before(k)` may give a step to finish before request `k` is built (the
/// real-time scenarios move the gateway's clock there); if it fails,
/// nothing more is sent and the failure is the run's first error.
/// Waits up to `drain` for the last answers.
pub async fn open_loop<F, B, Fut>(
    rate: u64,
    duration: Duration,
    max_in_flight: usize,
    drain: Duration,
    mut make: F,
    mut before: B,
) -> RunStats
where
    F: FnMut(u64) -> Option<reqwest::RequestBuilder>,
    B: FnMut(u64) -> Option<Fut>,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let shared = Arc::new(Shared::default());
    let total = rate * duration.as_secs();
    let start = Instant::now() + Duration::from_millis(20);
    let mut sent = 0u64;
    let mut dropped = 0u64;
    for k in 0..total {
        let due = start + Duration::from_nanos(k * 1_000_000_000 / rate.max(1));
        tokio::time::sleep_until(due.into()).await;
        if shared.in_flight.load(Ordering::Relaxed) >= max_in_flight {
            dropped += 1;
            continue;
        }
        if let Some(step) = before(k)
            && let Err(e) = step.await
        {
            *shared
                .error_kinds
                .lock()
                .expect("lock")
                .entry("set-up".to_owned())
                .or_default() += 1;
            shared.first_error.lock().expect("lock").get_or_insert(e);
            break;
        }
        let Some(request) = make(k) else { break };
        sent += 1;
        shared.in_flight.fetch_add(1, Ordering::Relaxed);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move { send_one(request, &shared, due).await });
    }
    let sending_ended = Instant::now();
    while shared.in_flight.load(Ordering::Relaxed) > 0 && sending_ended.elapsed() < drain {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = start.elapsed();
    let latencies = std::mem::take(&mut *shared.latencies.lock().expect("lock"));
    let (mut error_kinds, errors) = shared.take_errors();
    let unanswered = sent.saturating_sub(latencies.len() as u64 + errors);
    let first_error = shared.first_error.lock().expect("lock").clone();
    let mut stats = RunStats::from(
        rate,
        elapsed,
        sent,
        latencies,
        errors + unanswered,
        dropped,
        first_error,
    );
    if unanswered > 0 {
        error_kinds.insert("unanswered".to_owned(), unanswered);
    }
    stats.error_kinds = error_kinds;
    stats
}

/// `senders` concurrent loops, each sending `make(k)` and awaiting the
/// answer before the next, for `duration`.
pub async fn closed_loop<F>(senders: usize, duration: Duration, make: F) -> RunStats
where
    F: Fn(u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let shared = Arc::new(Shared::default());
    let make = Arc::new(make);
    let counter = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (shared, make, counter) =
            (Arc::clone(&shared), Arc::clone(&make), Arc::clone(&counter));
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let k = counter.fetch_add(1, Ordering::Relaxed) as u64;
                shared.in_flight.fetch_add(1, Ordering::Relaxed);
                send_one(make(k), &shared, Instant::now()).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = start.elapsed();
    let sent = counter.load(Ordering::Relaxed) as u64;
    let latencies = std::mem::take(&mut *shared.latencies.lock().expect("lock"));
    let (error_kinds, errors) = shared.take_errors();
    let first_error = shared.first_error.lock().expect("lock").clone();
    let mut stats = RunStats::from(0, elapsed, sent, latencies, errors, 0, first_error);
    stats.error_kinds = error_kinds;
    stats
}
