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
use super::rows::{CurrentRow, RawRow, VersionRow};

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

/// A list parameter for [`in_list!`]: a text array.
fn list_param<'a>(items: impl IntoIterator<Item = &'a str>) -> StoreResult<Vec<String>> {
    Ok(items.into_iter().map(str::to_owned).collect())
}

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
    pub(crate) financer_id: String,
    lock_timeout: std::time::Duration,
}

impl PgStore {
    /// Connects a pool of `config.max_connections`.
    pub async fn connect(config: &StoreConfig) -> StoreResult<Self> {
        let options: PgConnectOptions = config.url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            financer_id: config.financer_id.clone(),
            lock_timeout: config.busy_timeout,
        })
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
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
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

async fn insert_raw(
    conn: &mut Conn,
    financer_id: &str,
    saad_siret: &str,
    transmission_id: &str,
    rows: &[RawRow],
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let line_ids: Vec<&str> = rows.iter().map(|r| r.line_id.as_str()).collect();
    let sides: Vec<&str> = rows.iter().map(|r| r.side).collect();
    let stamps: Vec<&str> = rows.iter().map(|r| r.stamp.as_str()).collect();
    let received: Vec<DateTime<Utc>> = rows.iter().map(|r| r.received_at).collect();
    sqlx::query(
        "INSERT INTO raw_stamps (line_id, side, stamp, received_at, financer_id, saad_siret, transmission_id) \
         SELECT u.*, $1, $2, $3 FROM UNNEST($4::text[], $5::text[], $6::text[], $7::timestamptz[]) AS u \
         ON CONFLICT (financer_id, saad_siret, line_id, side) DO NOTHING",
    )
    .bind(financer_id)
    .bind(saad_siret)
    .bind(transmission_id)
    .bind(line_ids)
    .bind(sides)
    .bind(stamps)
    .bind(received)
    .execute(&mut *conn)
    .await?;
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
    if rows.is_empty() {
        return Ok(());
    }
    fn col<'a, T>(rows: &'a [VersionRow], f: impl Fn(&'a VersionRow) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    sqlx::query(
        "INSERT INTO intervention_versions (id, line_id, line_no, action, status, reasons, warnings, plan_ref, \
         beneficiary_id, worker_id, counted_start, counted_end, counted_minutes, rounded_minutes, corrected, \
         declarative, correction_reason, corrected_start, corrected_end, timesheet_ref, raw_received_at, sequence, \
         month, fingerprint, financer_id, saad_siret, transmission_id, received_at) \
         SELECT u.*, $1, $2, $3, $4 FROM UNNEST($5::bigint[], $6::text[], $7::bigint[], $8::text[], $9::text[], \
         $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::timestamptz[], \
         $17::bigint[], $18::bigint[], $19::boolean[], $20::boolean[], $21::text[], $22::text[], $23::text[], \
         $24::text[], $25::timestamptz[], $26::bigint[], $27::text[], $28::text[]) AS u",
    )
    .bind(financer_id)
    .bind(saad_siret)
    .bind(transmission_id)
    .bind(received_at)
    .bind(col(rows, |r| r.id))
    .bind(col(rows, |r| r.line_id.as_str()))
    .bind(col(rows, |r| r.line_no))
    .bind(col(rows, |r| r.action))
    .bind(col(rows, |r| r.status))
    .bind(col(rows, |r| r.reasons.as_str()))
    .bind(col(rows, |r| r.warnings.as_str()))
    .bind(col(rows, |r| r.plan_ref.as_deref()))
    .bind(col(rows, |r| r.beneficiary_id.as_deref()))
    .bind(col(rows, |r| r.worker_id.as_deref()))
    .bind(col(rows, |r| r.counted_start))
    .bind(col(rows, |r| r.counted_end))
    .bind(col(rows, |r| r.counted_minutes))
    .bind(col(rows, |r| r.rounded_minutes))
    .bind(col(rows, |r| r.corrected))
    .bind(col(rows, |r| r.declarative))
    .bind(col(rows, |r| r.correction_reason.as_deref()))
    .bind(col(rows, |r| r.corrected_start.as_deref()))
    .bind(col(rows, |r| r.corrected_end.as_deref()))
    .bind(col(rows, |r| r.timesheet_ref.as_deref()))
    .bind(col(rows, |r| r.raw_received_at))
    .bind(col(rows, |r| r.sequence))
    .bind(col(rows, |r| r.month.as_str()))
    .bind(col(rows, |r| r.fingerprint.as_deref()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn upsert_current(
    conn: &mut Conn,
    financer_id: &str,
    saad_siret: &str,
    rows: &[CurrentRow],
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    fn col<'a, T>(rows: &'a [CurrentRow], f: impl Fn(&'a CurrentRow) -> T) -> Vec<T> {
        rows.iter().map(f).collect()
    }
    sqlx::query(
        "INSERT INTO current_interventions (line_id, version_id, sequence, plan_ref, beneficiary_id, worker_id, \
         counted_start, counted_end, rounded_minutes, corrected, shared_time, fingerprint, financer_id, saad_siret) \
         SELECT u.*, $1, $2 FROM UNNEST($3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], \
         $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::boolean[], $13::boolean[], $14::text[]) AS u \
         ON CONFLICT (financer_id, saad_siret, line_id) DO UPDATE SET version_id = EXCLUDED.version_id, \
         sequence = EXCLUDED.sequence, plan_ref = EXCLUDED.plan_ref, beneficiary_id = EXCLUDED.beneficiary_id, \
         worker_id = EXCLUDED.worker_id, counted_start = EXCLUDED.counted_start, \
         counted_end = EXCLUDED.counted_end, rounded_minutes = EXCLUDED.rounded_minutes, \
         corrected = EXCLUDED.corrected, shared_time = EXCLUDED.shared_time, fingerprint = EXCLUDED.fingerprint",
    )
    .bind(financer_id)
    .bind(saad_siret)
    .bind(col(rows, |r| r.line_id.as_str()))
    .bind(col(rows, |r| r.version_id))
    .bind(col(rows, |r| r.sequence))
    .bind(col(rows, |r| r.plan_ref.as_str()))
    .bind(col(rows, |r| r.beneficiary_id.as_str()))
    .bind(col(rows, |r| r.worker_id.as_deref()))
    .bind(col(rows, |r| r.counted_start))
    .bind(col(rows, |r| r.counted_end))
    .bind(col(rows, |r| r.rounded_minutes))
    .bind(col(rows, |r| r.corrected))
    .bind(col(rows, |r| r.shared_time))
    .bind(col(rows, |r| r.fingerprint.as_deref()))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

include!("shared.rs");
include!("shared_close.rs");
