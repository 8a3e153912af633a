//! PostgreSQL backend: production, several gateway processes on one
//! database.
//!
//! Instants are `timestamptz`, money `NUMERIC(14,2)`, rates `NUMERIC(8,5)`,
//! all bound natively. Bulk writes use `UNNEST` over arrays (one statement
//! per table per delivery). Ingestion takes a transaction-scoped advisory
//! lock (`pg_advisory_xact_lock`) so that overlap checks and acceptance
//! sequences see every earlier commit, whichever process made it. The
//! queries themselves are in `shared.rs`, compiled here with this module's
//! types.

use sqlx::Postgres;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use super::StoreConfig;
use super::pg_copy::{copy_in, copy_row};
use super::rows::{CurrentRow, VersionBatch, VersionRow, statement_chunks};

type Db = Postgres;
type DbRow = sqlx::postgres::PgRow;
type Conn = PgConnection;
type BackendStore = PgStore;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// `column = ANY(list)`, the list bound as a `text[]` ([`list_param`]):
/// an index scan per element, never a re-evaluated function scan.
macro_rules! in_list {
    ($column:literal, $param:literal) => {
        concat!($column, " = ANY(", $param, "::text[])")
    };
}

/// The rows of a list parameter as a table `j` with one column `value`,
/// to drive a join (see the SQLite twin: there the join order matters).
macro_rules! list_rows {
    ($param:literal) => {
        concat!("unnest(", $param, "::text[]) AS j(value)")
    };
}

/// The rows of a subquery as ONE value: a JSON array of rows, each a JSON
/// array of the columns `$cols` (in order), from `$from` (`FROM … WHERE …`):
/// several results in one round trip (see `IngestTx::load_pool`).
macro_rules! json_rows {
    ($cols:expr, $from:expr) => {
        concat!(
            "(SELECT COALESCE(json_agg(json_build_array(",
            $cols,
            ")), '[]'::json)::text ",
            $from,
            ")"
        )
    };
}

/// A decimal column as JSON text (a JSON number would go through a float).
macro_rules! dec_text {
    ($col:literal) => {
        concat!($col, "::text")
    };
}

/// A list parameter for [`in_list!`]: a text array.
fn list_param<'a>(items: impl IntoIterator<Item = &'a str>) -> StoreResult<Vec<String>> {
    Ok(items.into_iter().map(str::to_owned).collect())
}

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) financer_id: String,
    pub(crate) group: super::group::GroupCommitter,
    lock_timeout: std::time::Duration,
    stats: std::sync::Arc<StatsRefresh>,
    legacy_raw: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Keeps the planner's statistics of the tables the hot paths read current.
///
/// Every delivery looks rows up by (SAAD, line id), (beneficiary, start),
/// plan and alias. With statistics that predate a table's growth (or none:
/// a fresh database), PostgreSQL believes a SAAD has a handful of rows and
/// reads all of them instead of probing the index: seen in the load test,
/// 14–700 ms per query at 250 000 rows instead of 2 ms, and 19 s per
/// 2 000-line part of a large file on tables never analysed. Autovacuum
/// normally re-analyses, but it may be off (as on the development machine)
/// or lag behind a bulk load, so the gateway analyses these tables itself,
/// by autovacuum's rule: a table whose rows changed since its last analysis
/// (by any process: `pg_stat_user_tables.n_mod_since_analyze`) more than
/// 200 + 10 % of its size, or that was never analysed. The check runs every
/// [`STATS_CHECK_EVERY`] and at once after this process stored
/// [`ANALYZE_MIN_ROWS`] interventions; one check at a time per process.
#[derive(Debug, Default)]
struct StatsRefresh {
    /// Interventions stored since the last check.
    since: std::sync::atomic::AtomicU64,
    /// Wakes the checker early.
    nudge: tokio::sync::Notify,
}

/// Stored interventions that make the statistics check run at once.
const ANALYZE_MIN_ROWS: u64 = 1_000;

/// How often the statistics check runs otherwise.
const STATS_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The tables whose statistics the gateway keeps (a fixed list: their names
/// are written into the `ANALYZE` statement).
const KEPT_TABLES: [&str; 9] = [
    "intervention_versions",
    "current_interventions",
    "receipts",
    "plan_versions",
    "beneficiary_aliases",
    "events",
    "saads",
    "saad_aid_types",
    "saad_tariffs",
];

/// Analyses the kept tables that need it (see [`StatsRefresh`]); returns
/// their names.
async fn refresh_statistics(pool: &PgPool) -> StoreResult<Vec<String>> {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT s.relname::text FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid \
         WHERE s.schemaname = current_schema() AND s.relname = ANY($1) AND s.n_mod_since_analyze > 0 \
         AND (c.reltuples < 0 OR s.n_mod_since_analyze >= 200 + c.reltuples / 10) ORDER BY 1",
    )
    .bind(KEPT_TABLES.as_slice())
    .fetch_all(pool)
    .await?;
    let names: Vec<&str> = KEPT_TABLES
        .iter()
        .copied()
        .filter(|t| stale.iter().any(|s| s == t))
        .collect();
    if !names.is_empty() {
        sqlx::query(&format!("ANALYZE {}", names.join(", ")))
            .persistent(false)
            .execute(pool)
            .await?;
        tracing::debug!(tables = ?names, "tables analysed");
    }
    Ok(stale)
}

impl PgStore {
    /// What an ingestion transaction calls after its commit: counts the
    /// interventions it stored (see [`Self::note_stored`]).
    fn after_commit_hook(&self) -> AfterCommit {
        let store = self.clone();
        std::sync::Arc::new(move |rows| store.note_stored(rows))
    }

    /// Counts `rows` interventions stored; wakes the statistics check when
    /// enough accumulated (see [`StatsRefresh`]).
    pub(crate) fn note_stored(&self, rows: u64) {
        use std::sync::atomic::Ordering;
        let since = self.stats.since.fetch_add(rows, Ordering::Relaxed) + rows;
        if since >= ANALYZE_MIN_ROWS {
            self.stats.nudge.notify_one();
        }
    }

    /// The statistics check of this store, until the store is dropped.
    fn keep_statistics(pool: PgPool, stats: std::sync::Weak<StatsRefresh>) {
        tokio::spawn(async move {
            loop {
                let Some(keeper) = stats.upgrade() else {
                    return;
                };
                let _ = tokio::time::timeout(STATS_CHECK_EVERY, keeper.nudge.notified()).await;
                keeper.since.store(0, std::sync::atomic::Ordering::Relaxed);
                drop(keeper);
                if pool.is_closed() {
                    return;
                }
                if let Err(error) = refresh_statistics(&pool).await {
                    tracing::debug!(%error, "statistics check failed");
                }
            }
        });
    }

    /// Connects a pool of `config.max_connections`.
    pub async fn connect(config: &StoreConfig) -> StoreResult<Self> {
        let options: PgConnectOptions = config.url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await?;
        let stats: std::sync::Arc<StatsRefresh> = std::sync::Arc::default();
        Self::keep_statistics(pool.clone(), std::sync::Arc::downgrade(&stats));
        Ok(Self {
            pool,
            financer_id: config.financer_id.clone(),
            group: super::group::GroupCommitter::new(config.ingest_queue),
            lock_timeout: config.busy_timeout,
            stats,
            legacy_raw: legacy_raw_unknown(),
        })
    }

    /// After the migrations: the tables the hot paths read get planner
    /// statistics if they never had any, or are out of date (see
    /// [`StatsRefresh`]).
    async fn after_migrate(&self) -> StoreResult<()> {
        refresh_statistics(&self.pool).await.map(|_| ())
    }

    /// The pool (tests use it to try raw SQL against the schema).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }

    pub(crate) async fn begin_ingest(&self) -> StoreResult<IngestTx> {
        let mut tx = self.pool.begin().await?;
        // Wait for the lock no longer than a SQLite writer would (then 503).
        // Generic plans for the ingestion statements: the context load is
        // one statement of a dozen subqueries, whose planning cost more than
        // its execution (about 2 ms) when PostgreSQL kept planning it anew
        // for each group; its lists drive index probes whatever their length.
        sqlx::query(
            "SELECT set_config('lock_timeout', $1, true), \
             set_config('plan_cache_mode', 'force_generic_plan', true)",
        )
        .bind(format!("{}ms", self.lock_timeout.as_millis()))
        .execute(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(rows::ingest_lock_key())
            .execute(&mut *tx)
            .await?;
        Ok(IngestTx {
            tx,
            financer_id: self.financer_id.clone(),
            high_water: None,
            legacy_raw: self.legacy_raw.load(std::sync::atomic::Ordering::Relaxed),
            written: 0,
            written_at_savepoint: 0,
            after_commit: Some(self.after_commit_hook()),
        })
    }
}

fn ts(instant: DateTime<Utc>) -> DateTime<Utc> {
    instant
}

fn get_ts(row: &DbRow, column: &str) -> StoreResult<DateTime<Utc>> {
    get(row, column)
}

fn get_ts_opt(row: &DbRow, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    get(row, column)
}

fn dec(value: Decimal) -> Decimal {
    value
}

fn get_dec(row: &DbRow, column: &str) -> StoreResult<Decimal> {
    get(row, column)
}

fn get_dec_opt(row: &DbRow, column: &str) -> StoreResult<Option<Decimal>> {
    get(row, column)
}

/// Version rows go in with `COPY … FROM STDIN` (text format): the fastest
/// bulk path PostgreSQL has, faster than `INSERT … SELECT FROM UNNEST`.
async fn insert_versions(
    conn: &mut Conn,
    financer_id: &str,
    batches: &[VersionBatch<'_>],
) -> StoreResult<()> {
    let rows: Vec<(&VersionBatch<'_>, &VersionRow)> = batches
        .iter()
        .flat_map(|b| b.rows.iter().map(move |r| (b, r)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    copy_in(
        conn,
        "COPY intervention_versions (financer_id, saad_siret, transmission_id, received_at, id, line_id, \
             line_no, action, status, reasons, warnings, plan_ref, beneficiary_id, worker_id, counted_start, \
             counted_end, counted_minutes, rounded_minutes, corrected, declarative, correction_reason, \
             corrected_start, corrected_end, timesheet_ref, raw_received_at, sequence, month, fingerprint, \
             raw_start, raw_start_received_at, raw_end, raw_end_received_at) FROM STDIN",
        rows,
        |buffer, (batch, r)| {
        copy_row(
            buffer,
            &[
                &financer_id,
                &batch.saad_siret,
                &batch.transmission_id,
                &batch.received_at,
                &r.id,
                &r.line_id,
                &r.line_no,
                &r.action,
                &r.status,
                &r.reasons,
                &r.warnings,
                &r.plan_ref.as_deref(),
                &r.beneficiary_id.as_deref(),
                &r.worker_id.as_deref(),
                &r.counted_start.as_ref(),
                &r.counted_end.as_ref(),
                &r.counted_minutes,
                &r.rounded_minutes,
                &r.corrected,
                &r.declarative,
                &r.correction_reason.as_deref(),
                &r.corrected_start.as_deref(),
                &r.corrected_end.as_deref(),
                &r.timesheet_ref.as_deref(),
                &r.raw_received_at.as_ref(),
                &r.sequence.as_ref(),
                &r.month,
                &r.fingerprint.as_deref(),
                &r.raw_start.as_deref(),
                &r.raw_start_received_at.as_ref(),
                &r.raw_end.as_deref(),
                &r.raw_end_received_at.as_ref(),
            ],
        );
        },
        "bulk insert failed",
    )
    .await
}

async fn upsert_current(
    conn: &mut Conn,
    financer_id: &str,
    deliveries: &[(&str, &[CurrentRow])],
) -> StoreResult<()> {
    let rows: Vec<(&str, &CurrentRow)> = deliveries
        .iter()
        .flat_map(|(saad, rows)| rows.iter().map(move |r| (*saad, r)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    fn col<'a, T>(
        rows: &[(&'a str, &'a CurrentRow)],
        f: impl Fn(&'a str, &'a CurrentRow) -> T,
    ) -> Vec<T> {
        rows.iter().map(|(saad, r)| f(saad, r)).collect()
    }
    sqlx::query(
        "INSERT INTO current_interventions (saad_siret, line_id, version_id, sequence, plan_ref, beneficiary_id, \
         worker_id, counted_start, counted_end, rounded_minutes, corrected, shared_time, fingerprint, financer_id) \
         SELECT u.*, $1 FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], \
         $8::text[], $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::boolean[], $13::boolean[], \
         $14::text[]) AS u \
         ON CONFLICT (financer_id, saad_siret, line_id) DO UPDATE SET version_id = EXCLUDED.version_id, \
         sequence = EXCLUDED.sequence, plan_ref = EXCLUDED.plan_ref, beneficiary_id = EXCLUDED.beneficiary_id, \
         worker_id = EXCLUDED.worker_id, counted_start = EXCLUDED.counted_start, \
         counted_end = EXCLUDED.counted_end, rounded_minutes = EXCLUDED.rounded_minutes, \
         corrected = EXCLUDED.corrected, shared_time = EXCLUDED.shared_time, fingerprint = EXCLUDED.fingerprint",
    )
    .bind(financer_id)
    .bind(col(&rows, |saad, _| saad))
    .bind(col(&rows, |_, r| r.line_id.as_str()))
    .bind(col(&rows, |_, r| r.version_id))
    .bind(col(&rows, |_, r| r.sequence))
    .bind(col(&rows, |_, r| r.plan_ref.as_str()))
    .bind(col(&rows, |_, r| r.beneficiary_id.as_str()))
    .bind(col(&rows, |_, r| r.worker_id.as_deref()))
    .bind(col(&rows, |_, r| r.counted_start))
    .bind(col(&rows, |_, r| r.counted_end))
    .bind(col(&rows, |_, r| r.rounded_minutes))
    .bind(col(&rows, |_, r| r.corrected))
    .bind(col(&rows, |_, r| r.shared_time))
    .bind(col(&rows, |_, r| r.fingerprint.as_deref()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

include!("shared.rs");
include!("shared_close.rs");
