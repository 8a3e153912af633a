//! National scale without hours of seeding: the gateway stores a template
//! month through its API (a few SAADs, every line judged and written by the
//! gateway itself), then this module copies those rows in SQL for the other
//! SAADs, renaming what the generator names after the SAAD or the plan, so
//! the copies are exactly the rows the gateway would have written had it
//! received the other SAADs' files.
//!
//! SAAD `s` of copy `c` is template SAAD `s - c × T` (T template SAADs); its
//! plan `p` is the template's `p - c × T × 1 000`. What is renamed, by column
//! name, in every copied table:
//! - `siret`, `saad_siret`: the copy's SIRET (`payload::siret`, Luhn-valid);
//! - `plan_ref` (`PL-…`), `beneficiary_id` (`BEN-…`), `worker_id` (`W-…`),
//!   `line_id` (`2024-01-DD-…`): the number shifted by the copy's plan offset,
//!   as `payload` names them;
//! - `id` of a version, `version_id`, `withdrawn_version_id`: shifted past
//!   the template's highest version id; `sequence`: past its highest
//!   acceptance sequence, so ids and sequences stay unique and ordered.
//!
//! What is copied: the SAADs with their aid types and tariffs, the plans,
//! aliases, raw stamps, every intervention version and the current
//! interventions: what the close and the exports read, and the version
//! history that sizes the tables. Not copied: receipts, their parts and the
//! audit log (their text names the template's transmissions; no close or
//! export reads them), so those tables stay at the template's size.
//!
//! The gateway is stopped while rows are copied (it caches its highest
//! version id), and started again afterwards.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sqlx::{Connection, Executor};

use crate::Backend;
use crate::payload::{PLANS_PER_SAAD, siret};

/// Tables copied, parents first (foreign keys).
const TABLES: &[&str] = &[
    "saads",
    "saad_aid_types",
    "saad_tariffs",
    "plan_versions",
    "beneficiary_aliases",
    "raw_stamps",
    "intervention_versions",
    "current_interventions",
    "withdrawals",
];

/// Tables the template must leave empty: their rows name beneficiaries or
/// SAADs in a way the copy does not rename.
const MUST_BE_EMPTY: &[&str] = &["events", "overrun_authorisations", "saad_invoice_lines"];

/// What a copy took.
pub struct Cloned {
    pub copies: usize,
    pub rows: u64,
    pub time: Duration,
}

/// Copies the template's `template` SAADs into SAADs `template..saads`.
pub async fn clone_saads(
    backend: Backend,
    url: &str,
    template: usize,
    saads: usize,
) -> anyhow::Result<Cloned> {
    if template == 0 || saads % template != 0 {
        bail!("{saads} SAADs are not whole copies of a {template}-SAAD template");
    }
    let started = Instant::now();
    let copies = saads / template - 1;
    let rows = match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await?;
            conn.execute(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
            )
            .await?;
            let rows = copy_all::<sqlx::Sqlite>(&mut conn, backend, template, copies).await?;
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
            conn.close().await?;
            rows
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await?;
            let rows = copy_all::<sqlx::Postgres>(&mut conn, backend, template, copies).await?;
            // What autovacuum would do on a live server after such growth.
            conn.execute("ANALYZE").await?;
            conn.close().await?;
            rows
        }
    };
    Ok(Cloned {
        copies,
        rows,
        time: started.elapsed(),
    })
}

async fn copy_all<DB>(
    conn: &mut DB::Connection,
    backend: Backend,
    template: usize,
    copies: usize,
) -> anyhow::Result<u64>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
    for<'r> (String,): sqlx::FromRow<'r, DB::Row>,
{
    for table in MUST_BE_EMPTY {
        let n = count_rows::<DB>(conn, &[table]).await?;
        if n != 0 {
            bail!("the template has {n} rows in {table}, which the copy does not rename");
        }
    }
    let (max_id,): (i64,) =
        sqlx::query_as("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM intervention_versions")
            .fetch_one(&mut *conn)
            .await?;
    let (max_sequence,): (i64,) = sqlx::query_as(
        "SELECT CAST(COALESCE(MAX(sequence), 0) AS BIGINT) FROM intervention_versions",
    )
    .fetch_one(&mut *conn)
    .await?;
    conn.execute("DROP TABLE IF EXISTS loadgen_clone_map")
        .await?;
    conn.execute(
        "CREATE TABLE loadgen_clone_map (copy_no BIGINT NOT NULL, old_siret TEXT NOT NULL, \
         new_siret TEXT NOT NULL, plan_off BIGINT NOT NULL, id_off BIGINT NOT NULL, \
         seq_off BIGINT NOT NULL, PRIMARY KEY (copy_no, old_siret))",
    )
    .await?;
    let mut map = String::new();
    for c in 1..=copies {
        for s in 0..template {
            let s2 = s + c * template;
            if !map.is_empty() {
                map.push(',');
            }
            map.push_str(&format!(
                "({c}, '{}', '{}', {}, {}, {})",
                siret(s),
                siret(s2),
                c * template * PLANS_PER_SAAD,
                c as i64 * max_id,
                c as i64 * max_sequence
            ));
        }
        if c % 50 == 0 || c == copies {
            conn.execute(format!("INSERT INTO loadgen_clone_map VALUES {map}").as_str())
                .await?;
            map.clear();
        }
    }
    // Each table's INSERT … SELECT, with its columns renamed.
    let mut statements = Vec::new();
    for table in TABLES {
        let columns = columns::<DB>(conn, backend, table).await?;
        let siret_column = if columns.iter().any(|c| c == "saad_siret") {
            "saad_siret"
        } else if columns.iter().any(|c| c == "siret") {
            "siret"
        } else {
            bail!("{table} has no SIRET column to copy it by");
        };
        let select: Vec<String> = columns.iter().map(|c| renamed(backend, table, c)).collect();
        statements.push(format!(
            "INSERT INTO {table} ({}) SELECT {} FROM {table} t JOIN loadgen_clone_map m \
             ON m.old_siret = t.{siret_column} AND m.copy_no = $1",
            columns.join(", "),
            select.join(", ")
        ));
    }
    let before = count_rows::<DB>(conn, TABLES).await?;
    let started = Instant::now();
    for c in 1..=copies {
        let mut tx = conn.begin().await?;
        for statement in &statements {
            sqlx::query(statement.as_str())
                .bind(c as i64)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("copy {c}: {statement}"))?;
        }
        tx.commit().await?;
        if c % 10 == 0 || c == copies {
            eprintln!(
                "    copy {c}/{copies} in {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    conn.execute("DROP TABLE loadgen_clone_map").await?;
    let after = count_rows::<DB>(conn, TABLES).await?;
    Ok(after.saturating_sub(before))
}

/// Rows of `tables`, in all.
async fn count_rows<DB>(conn: &mut DB::Connection, tables: &[&str]) -> anyhow::Result<u64>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'r> (i64,): sqlx::FromRow<'r, DB::Row>,
{
    let mut total = 0u64;
    for table in tables {
        let (n,): (i64,) =
            sqlx::query_as(format!("SELECT CAST(COUNT(*) AS BIGINT) FROM {table}").as_str())
                .fetch_one(&mut *conn)
                .await
                .with_context(|| format!("counting {table}"))?;
        total += u64::try_from(n).unwrap_or(0);
    }
    Ok(total)
}

async fn columns<DB>(
    conn: &mut DB::Connection,
    backend: Backend,
    table: &str,
) -> anyhow::Result<Vec<String>>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    for<'r> (String,): sqlx::FromRow<'r, DB::Row>,
{
    let sql = match backend {
        Backend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
        Backend::Postgres => format!(
            "SELECT CAST(column_name AS TEXT) FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = '{table}' \
             ORDER BY ordinal_position"
        ),
    };
    let names: Vec<(String,)> = sqlx::query_as(sql.as_str()).fetch_all(&mut *conn).await?;
    if names.is_empty() {
        bail!("table {table} not found");
    }
    Ok(names.into_iter().map(|(n,)| n).collect())
}

/// The SELECT expression of `column` of `table` in a copy.
fn renamed(backend: Backend, table: &str, column: &str) -> String {
    let t = format!("t.{column}");
    match column {
        "siret" | "saad_siret" => "m.new_siret".into(),
        "plan_ref" => shifted(backend, &t, "PL-"),
        "beneficiary_id" => shifted(backend, &t, "BEN-"),
        "worker_id" => shifted(backend, &t, "W-"),
        "line_id" => {
            // 2024-01-DD-ppppppp
            let number = format!("CAST(substr({t}, 12) AS BIGINT) + m.plan_off");
            format!(
                "CASE WHEN {t} LIKE '____-__-__-%' THEN substr({t}, 1, 11) || {} ELSE {t} END",
                pad(backend, &number)
            )
        }
        "id" if table == "intervention_versions" => format!("{t} + m.id_off"),
        "version_id" | "withdrawn_version_id" => format!("{t} + m.id_off"),
        "sequence" => format!("{t} + m.seq_off"),
        _ => t,
    }
}

/// `prefix` followed by the 7-digit number after it, shifted by the copy's
/// plan offset (NULL and other values unchanged).
fn shifted(backend: Backend, t: &str, prefix: &str) -> String {
    let number = format!(
        "CAST(substr({t}, {}) AS BIGINT) + m.plan_off",
        prefix.len() + 1
    );
    format!(
        "CASE WHEN {t} LIKE '{prefix}%' THEN '{prefix}' || {} ELSE {t} END",
        pad(backend, &number)
    )
}

fn pad(backend: Backend, number: &str) -> String {
    match backend {
        Backend::Sqlite => format!("printf('%07d', {number})"),
        Backend::Postgres => format!("lpad(CAST({number} AS TEXT), 7, '0')"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_renames_the_generators_names_and_shifts_ids() {
        let e = renamed(Backend::Postgres, "current_interventions", "plan_ref");
        assert!(e.contains("'PL-' || lpad(CAST(CAST(substr(t.plan_ref, 4) AS BIGINT) + m.plan_off AS TEXT), 7, '0')"), "{e}");
        let e = renamed(Backend::Sqlite, "plan_versions", "beneficiary_id");
        assert!(
            e.contains("printf('%07d', CAST(substr(t.beneficiary_id, 5) AS BIGINT) + m.plan_off)"),
            "{e}"
        );
        assert_eq!(
            renamed(Backend::Sqlite, "intervention_versions", "id"),
            "t.id + m.id_off"
        );
        assert_eq!(renamed(Backend::Sqlite, "saads", "id"), "t.id");
        assert_eq!(renamed(Backend::Postgres, "saads", "siret"), "m.new_siret");
        assert_eq!(renamed(Backend::Postgres, "saads", "name"), "t.name");
    }
}
