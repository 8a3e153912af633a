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
use super::rows::{CurrentRow, RawRow, VersionRow};

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

/// A list parameter for [`in_list!`]: a JSON array of strings.
fn list_param<'a>(items: impl IntoIterator<Item = &'a str>) -> StoreResult<String> {
    super::rows::json_list(items)
}

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    pub(crate) financer_id: String,
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
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            financer_id: config.financer_id.clone(),
        })
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
        })
    }
}

fn ts(instant: DateTime<Utc>) -> String {
    instant.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
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

/// Rows are shipped to SQLite as one JSON array of arrays per statement and
/// unpacked with `json_each` (the SQLite counterpart of PostgreSQL's
/// `UNNEST`): one bound parameter instead of one per value, so no bind limit
/// and no per-value copies. Chunked to bound memory.
const ROWS_PER_STATEMENT: usize = 10_000;

fn json_rows<T>(rows: &[T], row: impl Fn(&T) -> serde_json::Value) -> StoreResult<String> {
    Ok(serde_json::to_string(
        &rows.iter().map(row).collect::<Vec<_>>(),
    )?)
}

async fn insert_raw(
    conn: &mut Conn,
    financer_id: &str,
    saad_siret: &str,
    transmission_id: &str,
    rows: &[RawRow],
) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let data = json_rows(chunk, |r| {
            serde_json::json!([r.line_id, r.side, r.stamp, ts(r.received_at)])
        })?;
        sqlx::query(
            "INSERT INTO raw_stamps (financer_id, saad_siret, transmission_id, line_id, side, stamp, received_at) \
             SELECT $1, $2, $3, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3 \
             FROM json_each($4) AS j WHERE true \
             ON CONFLICT (financer_id, saad_siret, line_id, side) DO NOTHING",
        )
        .bind(financer_id)
        .bind(saad_siret)
        .bind(transmission_id)
        .bind(data)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn insert_versions(
    conn: &mut Conn,
    financer_id: &str,
    saad_siret: &str,
    transmission_id: &str,
    received_at: DateTime<Utc>,
    rows: &[VersionRow],
) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let data = json_rows(chunk, |r| {
            serde_json::json!([
                r.id,
                r.line_id,
                r.line_no,
                r.action,
                r.status,
                r.reasons,
                r.warnings,
                r.plan_ref,
                r.beneficiary_id,
                r.worker_id,
                r.counted_start.map(ts),
                r.counted_end.map(ts),
                r.counted_minutes,
                r.rounded_minutes,
                r.corrected,
                r.declarative,
                r.correction_reason,
                r.corrected_start,
                r.corrected_end,
                r.timesheet_ref,
                r.raw_received_at.map(ts),
                r.sequence,
                r.month,
                r.fingerprint
            ])
        })?;
        sqlx::query(
            "INSERT INTO intervention_versions (financer_id, saad_siret, transmission_id, received_at, id, line_id, \
             line_no, action, status, reasons, warnings, plan_ref, beneficiary_id, worker_id, counted_start, \
             counted_end, counted_minutes, rounded_minutes, corrected, declarative, correction_reason, \
             corrected_start, corrected_end, timesheet_ref, raw_received_at, sequence, month, fingerprint) \
             SELECT $1, $2, $3, $4, v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6, v ->> 7, \
             v ->> 8, v ->> 9, v ->> 10, v ->> 11, v ->> 12, v ->> 13, v ->> 14, v ->> 15, v ->> 16, v ->> 17, \
             v ->> 18, v ->> 19, v ->> 20, v ->> 21, v ->> 22, v ->> 23 \
             FROM (SELECT value AS v FROM json_each($5))",
        )
        .bind(financer_id)
        .bind(saad_siret)
        .bind(transmission_id)
        .bind(ts(received_at))
        .bind(data)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn upsert_current(
    conn: &mut Conn,
    financer_id: &str,
    saad_siret: &str,
    rows: &[CurrentRow],
) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let data = json_rows(chunk, |r| {
            serde_json::json!([
                r.line_id,
                r.version_id,
                r.sequence,
                r.plan_ref,
                r.beneficiary_id,
                r.worker_id,
                ts(r.counted_start),
                ts(r.counted_end),
                r.rounded_minutes,
                r.corrected,
                r.shared_time,
                r.fingerprint
            ])
        })?;
        sqlx::query(
            "INSERT INTO current_interventions (financer_id, saad_siret, line_id, version_id, sequence, plan_ref, \
             beneficiary_id, worker_id, counted_start, counted_end, rounded_minutes, corrected, shared_time, \
             fingerprint) \
             SELECT $1, $2, v ->> 0, v ->> 1, v ->> 2, v ->> 3, v ->> 4, v ->> 5, v ->> 6, v ->> 7, v ->> 8, \
             v ->> 9, v ->> 10, v ->> 11 FROM (SELECT value AS v FROM json_each($3)) WHERE true \
             ON CONFLICT (financer_id, saad_siret, line_id) DO UPDATE SET version_id = excluded.version_id, \
             sequence = excluded.sequence, plan_ref = excluded.plan_ref, beneficiary_id = excluded.beneficiary_id, \
             worker_id = excluded.worker_id, counted_start = excluded.counted_start, \
             counted_end = excluded.counted_end, rounded_minutes = excluded.rounded_minutes, \
             corrected = excluded.corrected, shared_time = excluded.shared_time, fingerprint = excluded.fingerprint",
        )
        .bind(financer_id)
        .bind(saad_siret)
        .bind(data)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

include!("shared.rs");
include!("shared_close.rs");
