//! What this machine can do at best for the same work, measured in the same
//! run as the product: a minimal actix-web + rustls endpoint, a raw
//! quick-xml pass over the same DELIVERY bytes, and bulk inserts of the same
//! rows (SQLite WAL: 1 000-row INSERTs in 50 000-row transactions;
//! PostgreSQL: COPY).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use futures_util::TryStreamExt;
use quick_xml::NsReader;
use quick_xml::events::Event;
use saad_gateway::http::tls::{TlsSource, server_config};
use sqlx::{Connection, Executor, QueryBuilder};

use crate::payload::{Visit, beneficiary, plan_ref, worker};

/// `loadgen ceiling-server`: POST / reads the whole body and answers 200
/// with its length; GET / answers 200. Same TLS stack, certificate and
/// worker count (actix's default, one per core) as the gateway.
pub fn run_ceiling_server(listen: &str, data_dir: &Path) -> anyhow::Result<()> {
    let tls = server_config(&TlsSource::SelfSigned {
        data_dir: data_dir.to_path_buf(),
    })?;
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| {
            App::new()
                .route(
                    "/",
                    web::post().to(|body: web::Bytes| async move {
                        HttpResponse::Ok().body(body.len().to_string())
                    }),
                )
                .route("/", web::get().to(|| async { HttpResponse::Ok().finish() }))
        })
        .bind_rustls_0_23(listen, tls)?
        .run()
        .await
    })?;
    Ok(())
}

/// Best of `runs` wall times of `f`.
fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// Raw quick-xml streaming (namespace-resolved events, borrowed) over
/// `bytes`; and the gateway's DELIVERY reader over the same bytes. Returns
/// (raw seconds, reader seconds, lines the reader read).
pub fn xml_reading(bytes: &[u8]) -> (Duration, Duration, usize) {
    let raw = best_of(3, || {
        let mut reader = NsReader::from_reader(bytes);
        let mut starts = 0usize;
        loop {
            match reader.read_resolved_event() {
                Ok((_, Event::Start(_))) => starts += 1,
                Ok((_, Event::Eof)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        black_box(starts);
    });
    let mut lines = 0;
    let product = best_of(3, || {
        let limits = saad_gateway::xml::Limits {
            max_document_bytes: bytes.len() as u64,
            ..saad_gateway::xml::Limits::default()
        };
        lines = saad_gateway::xml::DeliveryReader::with_limits(bytes, limits)
            .filter(Result::is_ok)
            .count();
    });
    (raw, product, lines)
}

const CEILING_TABLE: &str = "CREATE TABLE ceiling_rows (
    id BIGINT PRIMARY KEY, saad_siret TEXT NOT NULL, line_id TEXT NOT NULL,
    transmission_id TEXT NOT NULL, status TEXT NOT NULL, plan_ref TEXT, beneficiary_id TEXT,
    worker_id TEXT, counted_start TEXT, counted_end TEXT, counted_minutes INTEGER NOT NULL,
    rounded_minutes INTEGER NOT NULL, month TEXT NOT NULL, received_at TEXT NOT NULL)";
const CEILING_INDEX: &str =
    "CREATE INDEX ceiling_rows_beneficiary_start ON ceiling_rows (beneficiary_id, counted_start)";

struct Row {
    id: i64,
    line_id: String,
    plan: String,
    beneficiary: String,
    worker: String,
    start: String,
    end: String,
}

fn rows(visits: &[Visit]) -> Vec<Row> {
    visits
        .iter()
        .enumerate()
        .map(|(i, v)| Row {
            id: i64::try_from(i).unwrap_or(i64::MAX),
            line_id: v.id.clone(),
            plan: plan_ref(v.plan),
            beneficiary: beneficiary(v.plan),
            worker: worker(v.plan),
            start: v.start.clone(),
            end: v.end.clone(),
        })
        .collect()
}

/// Rows/s storing `visits` in a fresh SQLite file (WAL, synchronous NORMAL
/// as the gateway): 1 000-row INSERTs, 50 000-row transactions.
pub async fn sqlite_insert(dir: &Path, visits: &[Visit]) -> anyhow::Result<f64> {
    let path = dir.join("ceiling.db");
    let _ = std::fs::remove_file(&path);
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    conn.execute(CEILING_TABLE).await?;
    conn.execute(CEILING_INDEX).await?;
    let rows = rows(visits);
    let started = Instant::now();
    for transaction in rows.chunks(50_000) {
        let mut tx = conn.begin().await?;
        for chunk in transaction.chunks(1_000) {
            let mut query = QueryBuilder::new(
                "INSERT INTO ceiling_rows (id, saad_siret, line_id, transmission_id, status, plan_ref, beneficiary_id, worker_id, counted_start, counted_end, counted_minutes, rounded_minutes, month, received_at) ",
            );
            query.push_values(chunk, |mut b, r| {
                b.push_bind(r.id)
                    .push_bind("99900000000001")
                    .push_bind(&r.line_id)
                    .push_bind("T-CEILING")
                    .push_bind("accepted")
                    .push_bind(&r.plan)
                    .push_bind(&r.beneficiary)
                    .push_bind(&r.worker)
                    .push_bind(&r.start)
                    .push_bind(&r.end)
                    .push_bind(60i64)
                    .push_bind(60i64)
                    .push_bind("2024-01")
                    .push_bind("2024-01-31T22:00:00Z");
            });
            query.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    let elapsed = started.elapsed();
    conn.close().await?;
    let _ = std::fs::remove_file(&path);
    Ok(rows.len() as f64 / elapsed.as_secs_f64())
}

/// Rows/s storing `visits` with COPY into a fresh table of the scratch
/// PostgreSQL database at `url`, one COPY and commit per 50 000 rows.
pub async fn postgres_copy(url: &str, visits: &[Visit]) -> anyhow::Result<f64> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    conn.execute("DROP TABLE IF EXISTS ceiling_rows").await?;
    conn.execute(CEILING_TABLE).await?;
    conn.execute(CEILING_INDEX).await?;
    let rows = rows(visits);
    let started = Instant::now();
    for chunk in rows.chunks(50_000) {
        let mut text = String::with_capacity(chunk.len() * 200);
        for r in chunk {
            use std::fmt::Write;
            let _ = writeln!(
                text,
                "{}\t99900000000001\t{}\tT-CEILING\taccepted\t{}\t{}\t{}\t{}\t{}\t60\t60\t2024-01\t2024-01-31T22:00:00Z",
                r.id, r.line_id, r.plan, r.beneficiary, r.worker, r.start, r.end
            );
        }
        let mut copy = conn
            .copy_in_raw("COPY ceiling_rows FROM STDIN (FORMAT text)")
            .await?;
        copy.send(text.into_bytes()).await?;
        copy.finish().await?;
    }
    let elapsed = started.elapsed();
    conn.execute("DROP TABLE ceiling_rows").await?;
    conn.close().await?;
    Ok(rows.len() as f64 / elapsed.as_secs_f64())
}

/// Seconds to read back the rows a close of `month` reads (the currently
/// accepted interventions whose counted start falls in the Paris month, the
/// ten columns the close uses, in its order), streamed row by row by plain
/// sqlx without decoding, straight from the database the gateway uses: the
/// floor of a month close that must read its rows. `month` is `YYYY-MM`.
pub async fn read_back(database_url: &str, month: &str) -> anyhow::Result<(Duration, u64)> {
    let first = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d")
        .context("month as YYYY-MM")?;
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .context("month after")?;
    let paris_midnight = |day: chrono::NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(chrono_tz::Europe::Paris).earliest())
            .map(|t| t.with_timezone(&chrono::Utc))
            .context("Paris midnight")
    };
    let (start, end) = (paris_midnight(first)?, paris_midnight(next)?);
    let columns = "SELECT saad_siret, line_id, version_id, plan_ref, beneficiary_id, counted_start, counted_end, \
         rounded_minutes, sequence, corrected FROM current_interventions \
         WHERE financer_id = $3 AND counted_start >= $1 AND counted_start < $2 \
         ORDER BY counted_start, sequence";
    // The gateway's financer when its configuration names none (as in the
    // load test): the close's own predicate, so both use the same index.
    let financer = saad_gateway::storage::StoreConfig::DEFAULT_FINANCER_ID;
    let started = Instant::now();
    let count = if database_url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(database_url).await?;
        let mut stream = sqlx::query(columns)
            .bind(start)
            .bind(end)
            .bind(financer)
            .fetch(&mut conn);
        let mut n = 0u64;
        while let Some(row) = stream.try_next().await? {
            black_box(row);
            n += 1;
        }
        n
    } else {
        let mut conn = sqlx::SqliteConnection::connect(database_url)
            .await
            .context("opening the gateway's SQLite file for reading")?;
        // Instants are stored as `%Y-%m-%dT%H:%M:%S%.6fZ` text on SQLite.
        let text =
            |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let mut stream = sqlx::query(columns)
            .bind(text(start))
            .bind(text(end))
            .bind(financer)
            .fetch(&mut conn);
        let mut n = 0u64;
        while let Some(row) = stream.try_next().await? {
            black_box(row);
            n += 1;
        }
        n
    };
    Ok((started.elapsed(), count))
}
