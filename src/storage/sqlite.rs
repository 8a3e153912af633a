//! SQLite backend: the embedded default (one gateway process per file).
//!
//! WAL journal, `synchronous = NORMAL`, a busy timeout, foreign keys on;
//! every write transaction starts with `BEGIN IMMEDIATE` so that the write
//! lock is taken up front (no deadlock-prone upgrade from a read lock) and
//! ingestion is serialised. Instants are stored as fixed-width RFC 3339 UTC
//! text (`2024-01-12T08:00:00.000000Z`) so that text order is time order;
//! decimals as their canonical text. The queries themselves are in
//! `shared.rs`, compiled here with this module's types.

use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection};

use super::StoreConfig;
use super::rows::{CurrentRow, VersionBatch, VersionRow, statement_chunks};

type Db = Sqlite;
type DbRow = sqlx::sqlite::SqliteRow;
type Conn = SqliteConnection;
type BackendStore = SqliteStore;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// `column IN list`, the list bound as a JSON array of strings
/// ([`list_param`]); SQLite materialises the subquery once.
macro_rules! in_list {
    ($column:literal, $param:literal) => {
        concat!($column, " IN (SELECT value FROM json_each(", $param, "))")
    };
}

/// The rows of a list parameter as a table `j` with one column `value`,
/// to drive a join: `FROM list_rows!("$2") CROSS JOIN t WHERE t.c = j.value`.
/// SQLite keeps the order of a CROSS JOIN, so the list is read first and
/// each element is one index probe; with `c IN (SELECT value FROM
/// json_each(…))` and a range on another column, its planner (no
/// statistics on `json_each`) may scan the whole table instead.
macro_rules! list_rows {
    ($param:literal) => {
        concat!("json_each(", $param, ") AS j")
    };
}

/// The rows of a subquery as ONE value: a JSON array of rows, each a JSON
/// array of the columns `$cols` (in order), from `$from` (`FROM … WHERE …`).
/// sqlx's SQLite driver hands each row from its worker thread through a
/// channel: one value instead of many rows (see `IngestTx::load_pool`).
macro_rules! json_rows {
    ($cols:expr, $from:expr) => {
        concat!(
            "(SELECT json_group_array(json_array(",
            $cols,
            ")) ",
            $from,
            ")"
        )
    };
}

/// A decimal column as JSON text (SQLite stores decimals as text already).
macro_rules! dec_text {
    ($col:literal) => {
        $col
    };
}

/// A list parameter for [`in_list!`]: a JSON array of strings.
fn list_param<'a>(items: impl IntoIterator<Item = &'a str>) -> StoreResult<String> {
    super::rows::json_list(items)
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    pub(crate) financer_id: String,
    pub(crate) group: super::group::GroupCommitter,
    legacy_raw: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file of `config.url`.
    pub async fn connect(config: &StoreConfig) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str(&config.url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(config.busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    // When a COMMIT fails (SQLITE_FULL on a full disk),
                    // SQLite has already rolled back but sqlx keeps its
                    // transaction depth at 1: that connection would refuse
                    // every later transaction. A plain deferred BEGIN (no
                    // lock, no I/O) tells a sound connection from a stuck
                    // one; a stuck one is closed instead of reused.
                    // `begin_with` refuses a connection whose depth is not 0.
                    match sqlx::Connection::begin_with(&mut *conn, "BEGIN").await {
                        Ok(tx) => {
                            tx.rollback().await?;
                            Ok(true)
                        }
                        Err(_) => Ok(false),
                    }
                })
            })
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            financer_id: config.financer_id.clone(),
            group: super::group::GroupCommitter::new(config.ingest_queue),
            legacy_raw: legacy_raw_unknown(),
        })
    }

    /// Nothing to do after the migrations (SQLite's planner needs no
    /// statistics for the ingestion queries, see docs/storage.md).
    async fn after_migrate(&self) -> StoreResult<()> {
        Ok(())
    }

    /// The pool (tests use it to try raw SQL against the schema).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) async fn begin_ingest(&self) -> StoreResult<IngestTx> {
        Ok(IngestTx {
            tx: self.begin_write().await?,
            financer_id: self.financer_id.clone(),
            high_water: None,
            legacy_raw: self.legacy_raw.load(std::sync::atomic::Ordering::Relaxed),
            written: 0,
            written_at_savepoint: 0,
            after_commit: None,
        })
    }
}

/// An instant as stored: `%Y-%m-%dT%H:%M:%S%.6fZ` (UTC, microseconds), which
/// sorts as text in time order. Written without a format string: parsing
/// one for each of the millions of stamps a month stores showed in profiles.
fn ts(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::corrupt(format!("instant '{text}'")))
}

fn get_ts(row: &DbRow, column: &str) -> StoreResult<DateTime<Utc>> {
    parse_ts(&get::<String>(row, column)?)
}

fn get_ts_opt(row: &DbRow, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    get::<Option<String>>(row, column)?
        .map(|t| parse_ts(&t))
        .transpose()
}

fn dec(value: Decimal) -> String {
    value.to_string()
}

fn parse_dec(text: &str) -> StoreResult<Decimal> {
    Decimal::from_str(text).map_err(|_| StoreError::corrupt(format!("decimal '{text}'")))
}

fn get_dec(row: &DbRow, column: &str) -> StoreResult<Decimal> {
    parse_dec(&get::<String>(row, column)?)
}

fn get_dec_opt(row: &DbRow, column: &str) -> StoreResult<Option<Decimal>> {
    get::<Option<String>>(row, column)?
        .map(|t| parse_dec(&t))
        .transpose()
}

/// SQLite's bound-variable limit (`SQLITE_MAX_VARIABLE_NUMBER`, 32 766
/// since 3.32): bulk inserts are multi-row `INSERT … VALUES (…), (…)` in
/// chunks of at most this many bound values.
const MAX_BINDS: usize = 32_766;

/// Rows per multi-row INSERT for a table of `columns` columns: as many as
/// the bind limit allows, at most 1 000 (beyond that, longer statements stop
/// paying: the per-statement cost is already amortised).
fn rows_per_statement(columns: usize) -> usize {
    (MAX_BINDS / columns).clamp(1, 1_000)
}

const VERSION_COLUMNS: &str = "INSERT INTO intervention_versions (financer_id, saad_siret, transmission_id, \
     received_at, id, line_id, line_no, action, status, reasons, warnings, plan_ref, beneficiary_id, worker_id, \
     counted_start, counted_end, counted_minutes, rounded_minutes, corrected, declarative, correction_reason, \
     corrected_start, corrected_end, timesheet_ref, raw_received_at, sequence, month, fingerprint, raw_start, \
     raw_start_received_at, raw_end, raw_end_received_at) ";

async fn insert_versions(
    conn: &mut Conn,
    financer_id: &str,
    batches: &[VersionBatch<'_>],
) -> StoreResult<()> {
    let received: Vec<String> = batches.iter().map(|b| ts(b.received_at)).collect();
    let rows: Vec<(&VersionBatch<'_>, &str, &VersionRow)> = batches
        .iter()
        .zip(&received)
        .flat_map(|(b, at)| b.rows.iter().map(move |r| (b, at.as_str(), r)))
        .collect();
    for chunk in statement_chunks(&rows, rows_per_statement(32)) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(VERSION_COLUMNS);
        insert.push_values(chunk, |mut b, (batch, received_at, r)| {
            b.push_bind(financer_id)
                .push_bind(batch.saad_siret)
                .push_bind(batch.transmission_id)
                .push_bind(*received_at)
                .push_bind(r.id)
                .push_bind(r.line_id.as_str())
                .push_bind(r.line_no)
                .push_bind(r.action)
                .push_bind(r.status)
                .push_bind(r.reasons.as_str())
                .push_bind(r.warnings.as_str())
                .push_bind(r.plan_ref.as_deref())
                .push_bind(r.beneficiary_id.as_deref())
                .push_bind(r.worker_id.as_deref())
                .push_bind(r.counted_start.map(ts))
                .push_bind(r.counted_end.map(ts))
                .push_bind(r.counted_minutes)
                .push_bind(r.rounded_minutes)
                .push_bind(r.corrected)
                .push_bind(r.declarative)
                .push_bind(r.correction_reason.as_deref())
                .push_bind(r.corrected_start.as_deref())
                .push_bind(r.corrected_end.as_deref())
                .push_bind(r.timesheet_ref.as_deref())
                .push_bind(r.raw_received_at.map(ts))
                .push_bind(r.sequence)
                .push_bind(r.month.as_str())
                .push_bind(r.fingerprint.as_deref())
                .push_bind(r.raw_start.as_deref())
                .push_bind(r.raw_start_received_at.map(ts))
                .push_bind(r.raw_end.as_deref())
                .push_bind(r.raw_end_received_at.map(ts));
        });
        insert.build().persistent(true).execute(&mut *conn).await?;
    }
    Ok(())
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
    for chunk in statement_chunks(&rows, rows_per_statement(14)) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO current_interventions (financer_id, saad_siret, line_id, version_id, sequence, plan_ref, \
             beneficiary_id, worker_id, counted_start, counted_end, rounded_minutes, corrected, shared_time, \
             fingerprint) ",
        );
        insert.push_values(chunk, |mut b, (saad_siret, r)| {
            b.push_bind(financer_id)
                .push_bind(*saad_siret)
                .push_bind(r.line_id.as_str())
                .push_bind(r.version_id)
                .push_bind(r.sequence)
                .push_bind(r.plan_ref.as_str())
                .push_bind(r.beneficiary_id.as_str())
                .push_bind(r.worker_id.as_deref())
                .push_bind(ts(r.counted_start))
                .push_bind(ts(r.counted_end))
                .push_bind(r.rounded_minutes)
                .push_bind(r.corrected)
                .push_bind(r.shared_time)
                .push_bind(r.fingerprint.as_deref());
        });
        insert.push(
            " ON CONFLICT (financer_id, saad_siret, line_id) DO UPDATE SET version_id = excluded.version_id, \
             sequence = excluded.sequence, plan_ref = excluded.plan_ref, beneficiary_id = excluded.beneficiary_id, \
             worker_id = excluded.worker_id, counted_start = excluded.counted_start, \
             counted_end = excluded.counted_end, rounded_minutes = excluded.rounded_minutes, \
             corrected = excluded.corrected, shared_time = excluded.shared_time, fingerprint = excluded.fingerprint",
        );
        insert.build().persistent(true).execute(&mut *conn).await?;
    }
    Ok(())
}

include!("shared.rs");
include!("shared_close.rs");

#[cfg(test)]
mod instant_text_tests {
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn stored_instants_keep_the_format_of_the_existing_rows(
            seconds in 0i64..253_402_300_799, micros in 0u32..1_000_000
        ) {
            let instant: DateTime<Utc> = Utc.timestamp_opt(seconds, micros * 1_000).single().expect("instant");
            prop_assert_eq!(super::ts(instant), instant.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
        }
    }
}

#[cfg(test)]
mod month_read_tests {
    use crate::storage::{Store, StoreConfig};

    /// The month close's read (issue #9): SQLite answers each page from
    /// the index alone, in its order, without a look-up of every row in
    /// the table (migration `20261205000001_close_covering_index`). Fails
    /// if the page reads a column the index does not carry.
    #[tokio::test]
    async fn the_month_close_reads_a_page_from_a_covering_index_in_its_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let Store::Sqlite(store) = Store::open(&StoreConfig::new(url)).await.expect("open") else {
            panic!("a sqlite:// URL opens SQLite");
        };
        // EXPLAIN QUERY PLAN rows: (id, parent, unused, detail).
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&format!(
            "EXPLAIN QUERY PLAN {}",
            super::SqliteStore::MONTH_PAGE_SQL
        ))
        .bind("default")
        .bind("2023-12-31T23:00:00.000000Z")
        .bind("2024-01-31T23:00:00.000000Z")
        .bind(i64::MIN)
        .bind(10_000_i64)
        .fetch_all(store.pool())
        .await
        .expect("query plan");
        let plan: Vec<String> = plan.into_iter().map(|(_, _, _, detail)| detail).collect();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING COVERING INDEX current_interventions_start")),
            "{plan:?}"
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{plan:?}"
        );
    }
}
