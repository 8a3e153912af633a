//! `loadgen`: drives a release build of saad-gateway over HTTPS on
//! 127.0.0.1 and measures, in the same run, what this machine can do at
//! best for the same work (docs/performance.md). Started by
//! `load-tests/run.sh`.

mod ceilings;
mod clone;
mod gateway;
mod load;
mod payload;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{Connection, Executor};

use gateway::{GatewayRun, Server, call, client, loopback, retry_after};
use load::RunStats;
use payload::{PLANS_PER_SAAD, Visit};
use report::{Ceiling, Figure, Report};

#[derive(Parser)]
#[command(
    name = "loadgen",
    about = "Load tests of saad-gateway (load-tests/run.sh)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Scale {
    /// 10 000 plans, 300 000 interventions (a département month).
    Departement,
    /// The département run, then 1 000 000 plans / 25 000 000 interventions
    /// on PostgreSQL and a growth curve on SQLite (long).
    National,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Every scenario; writes <out>/<date>-<commit>.md and .json.
    Run(Box<RunArgs>),
    /// The minimal actix-web + rustls endpoint (HTTP ceiling).
    CeilingServer {
        #[arg(long)]
        listen: String,
        #[arg(long)]
        data_dir: PathBuf,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// The release gateway binary.
    #[arg(long)]
    gateway: PathBuf,
    /// The repository (its charter/ folder, its commit).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Where the results go.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
    /// The command line to record in the results.
    #[arg(long, default_value = "")]
    command: String,
    #[arg(long, value_enum, default_value_t = Scale::Departement)]
    scale: Scale,
    /// Backends to run, comma separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sqlite,postgres"
    )]
    backends: Vec<Backend>,
    /// A PostgreSQL server URL (a scratch database is created and dropped).
    #[arg(
        long,
        env = "SAADGW_LOAD_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// Plans of the département month (a multiple of 1 000).
    #[arg(long, default_value_t = 10_000)]
    plans: usize,
    /// Days with one visit per plan (interventions = plans × days).
    #[arg(long, default_value_t = 30)]
    days: u32,
    /// Batch files posted at once.
    #[arg(long, default_value_t = 4)]
    batch_concurrency: usize,
    /// Simulated real-time SAAD clients (each its own token and loopback address).
    #[arg(long, default_value_t = 400)]
    clients: usize,
    /// Seconds per offered rate in the real-time search (longer at low rates: each step sends at least 300 requests).
    #[arg(long, default_value_t = 5)]
    step_seconds: u64,
    /// The p99 bound of a sustained real-time rate, ms.
    #[arg(long, default_value_t = 50)]
    p99_ms: u64,
    /// Soak duration in minutes (the target is 10).
    #[arg(long, default_value_t = 1.0)]
    soak_minutes: f64,
    /// Soak rate, requests/s (default: half the sustained real-time rate,
    /// at least 20). A rate above what the gateway sustains shows how it
    /// sheds load (503 with Retry-After) and whether memory stays bounded.
    #[arg(long)]
    soak_rate: Option<u64>,
    /// Interventions of the big file (memory scenario).
    #[arg(long, default_value_t = 100_000)]
    big_file: usize,
    /// Seconds of the HTTP ceiling measurement.
    #[arg(long, default_value_t = 5)]
    ceiling_seconds: u64,
    /// Scenarios to leave out, comma separated (to look at one part; a
    /// committed run leaves none out). The month is always seeded.
    /// `departement` leaves out the département-scale run (with
    /// `--scale national`, to run the national month alone).
    #[arg(long, value_enum, value_delimiter = ',')]
    skip: Vec<Scenario>,
    /// How the national month is seeded: `clone` posts a 10-SAAD template
    /// month through the API, then copies its rows in SQL for the other
    /// SAADs (minutes); `api` posts every file (hours).
    #[arg(long, value_enum, default_value_t = NationalSeed::Clone)]
    national_seed: NationalSeed,
    /// Plan counts of the national month, comma separated, instead of
    /// 1 000 000 on PostgreSQL and the 30 000 … 1 000 000 curve on SQLite
    /// (multiples of 10 000 with `--national-seed clone`).
    #[arg(long, value_delimiter = ',')]
    national_plans: Vec<usize>,
}

/// How the national month is seeded (`clone.rs`).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum NationalSeed {
    Api,
    Clone,
}

/// SAADs of the template month the national copies are made from.
const TEMPLATE_SAADS: usize = 10;

/// A scenario `--skip` can leave out.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Scenario {
    Departement,
    Close,
    Exports,
    BigFile,
    Realtime,
    Soak,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    saad_gateway::http::tls::install_crypto_provider();
    match cli.command {
        Cmd::CeilingServer { listen, data_dir } => ceilings::run_ceiling_server(&listen, &data_dir),
        Cmd::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(*args)),
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn git(repo: &Path, args: &[&str]) -> String {
    std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

struct Shared {
    args: RunArgs,
    work: PathBuf,
    charter: PathBuf,
    http_ceiling: f64,
    big_xml: Arc<Vec<u8>>,
    month_visits_sample: Vec<Visit>,
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if args.plans % PLANS_PER_SAAD != 0 || args.plans == 0 {
        bail!("--plans must be a positive multiple of {PLANS_PER_SAAD}");
    }
    let repo = std::fs::canonicalize(&args.repo)?;
    let commit = {
        let short = git(&repo, &["rev-parse", "--short=10", "HEAD"]);
        let dirty = !git(&repo, &["status", "--porcelain", "--untracked-files=no"]).is_empty();
        if dirty {
            format!("{short}-dirty")
        } else {
            short
        }
    };
    let date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let mut report = Report {
        date: date.clone(),
        commit: commit.clone(),
        command: args.command.clone(),
        scale: format!("{:?}", args.scale).to_lowercase(),
        machine: report::machine(report::load_average()),
        duration_s: 0.0,
        figures: Vec::new(),
        notes: Vec::new(),
        realtime_steps: Vec::new(),
        growth: Vec::new(),
        soak_rss: Vec::new(),
    };
    let work = std::env::temp_dir().join(format!("saadgw-load-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let work = std::fs::canonicalize(&work)?;
    saad_gateway::http::tls::ensure_self_signed(&work)?;
    if args.backends.contains(&Backend::Postgres) {
        sqlx::PgConnection::connect(&args.postgres_url)
            .await
            .with_context(|| {
                "PostgreSQL is unreachable (set SAADGW_LOAD_POSTGRES_URL, or run with --backends sqlite)"
            })?
            .close()
            .await?;
    }

    // Ceilings that do not depend on the backend.
    eprintln!("[ceiling] HTTP: minimal actix-web + rustls endpoint, 1 KiB bodies");
    let http_ceiling = http_ceiling(&work, args.ceiling_seconds).await?;
    report.figures.push(Figure {
        scenario: "ceiling".into(),
        backend: "—".into(),
        what:
            "minimal actix-web + rustls endpoint reading a 1 KiB body (closed loop, 64 connections)"
                .into(),
        value: http_ceiling.achieved_per_s,
        unit: "req/s".into(),
        detail: format!(
            "p50 {:.1} ms, p99 {:.1} ms",
            http_ceiling.p50_us as f64 / 1000.0,
            http_ceiling.p99_us as f64 / 1000.0
        ),
        ceiling: None,
        ratio: None,
        target: String::new(),
        met: None,
    });
    eprintln!("[ceiling] XML: raw quick-xml vs the DELIVERY reader");
    let big_visits = payload::big_visits(args.big_file);
    let big_xml = payload::delivery_xml(0, "T-BIG", &big_visits);
    drop(big_visits);
    let (raw, reader, lines) = ceilings::xml_reading(&big_xml);
    let n = args.big_file as f64;
    let mb = big_xml.len() as f64 / 1e6;
    report.figures.push(Figure {
        scenario: "XML reading".into(),
        backend: "—".into(),
        what: format!(
            "DELIVERY reader (ESPPADOM mapping), {} interventions, {:.0} MB, in memory",
            args.big_file, mb
        ),
        value: n / secs(reader),
        unit: "interventions/s".into(),
        detail: format!("{:.0} MB/s; {lines} lines read", mb / secs(reader)),
        ceiling: Some(Ceiling {
            what: "raw quick-xml streaming".into(),
            value: n / secs(raw),
            unit: "interventions/s".into(),
        }),
        ratio: Some(secs(raw) / secs(reader)),
        target: "≥ 50 % of raw quick-xml".into(),
        met: Some(secs(raw) / secs(reader) >= 0.5),
    });
    let month_visits_sample: Vec<Visit> = (1..=args.days)
        .flat_map(|d| {
            (0..args.plans / PLANS_PER_SAAD).flat_map(move |s| payload::day_visits(s, d, "2024-01"))
        })
        .take(300_000)
        .collect();
    let shared = Shared {
        args: args.clone(),
        work: work.clone(),
        charter: repo.join("charter"),
        http_ceiling: http_ceiling.achieved_per_s,
        big_xml: Arc::new(big_xml),
        month_visits_sample,
    };

    for &backend in &args.backends {
        if args.skip.contains(&Scenario::Departement) {
            break;
        }
        eprintln!("[{}] département scale", backend.name());
        match run_backend(&shared, backend, args.plans, args.days, true, &mut report).await {
            Ok(()) => {}
            Err(error) => {
                eprintln!("[{}] failed: {error:#}", backend.name());
                report.notes.push(format!(
                    "{}: the run stopped early: {error:#}",
                    backend.name()
                ));
            }
        }
    }
    if args.scale == Scale::National {
        national(&shared, &mut report).await;
    }

    if !args.skip.is_empty() {
        report.notes.push(format!(
            "Scenarios left out of this run (--skip): {:?}.",
            args.skip
        ));
    }
    report.machine.load_after = report::load_average();
    report.duration_s = started.elapsed().as_secs_f64();
    report.notes.push(format!(
        "The load generator runs on the same {} cores as the server it measures (and as the ceiling server): every HTTP figure, product and ceiling alike, includes the client's TLS and HTTP work.",
        report.machine.nproc
    ));
    std::fs::create_dir_all(&args.out)?;
    let stem = args.out.join(format!("{date}-{commit}"));
    std::fs::write(stem.with_extension("md"), report.markdown())?;
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    eprintln!("results: {}.md and .json", stem.display());
    print!("{}", report.markdown());
    // SAADGW_LOAD_KEEP=1 keeps the databases and the gateway logs (run
    // with RUST_LOG=saad_gateway::storage=debug for per-group timings).
    if std::env::var_os("SAADGW_LOAD_KEEP").is_some() {
        eprintln!("kept: {}", work.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(())
}

async fn http_ceiling(work: &Path, seconds: u64) -> anyhow::Result<RunStats> {
    let mut server = gateway::serve_ceiling(work, &work.join("ceiling-server.log")).await?;
    let clients: Vec<reqwest::Client> = (0..8)
        .map(|i| client(&server.cert, Some(loopback(1000 + i))))
        .collect::<anyhow::Result<_>>()?;
    let url = format!("{}/", server.base);
    let body = Arc::new(vec![b'x'; 1024]);
    // Warm-up, then the measure.
    let make = {
        let (clients, url, body) = (clients.clone(), url.clone(), body.clone());
        move |k: u64| {
            clients[k as usize % clients.len()]
                .post(&url)
                .body(body.to_vec())
        }
    };
    let _ = load::closed_loop(64, Duration::from_secs(1), make.clone()).await;
    let stats = load::closed_loop(64, Duration::from_secs(seconds), make).await;
    server.stop();
    if stats.ok == 0 {
        bail!(
            "the ceiling server answered nothing: {:?}",
            stats.first_error
        );
    }
    Ok(stats)
}

/// A database for one backend run, dropped at the end (PostgreSQL).
struct Database {
    url: String,
    pg_admin: Option<(String, String)>,
}

impl Database {
    async fn create(shared: &Shared, backend: Backend, label: &str) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let path = shared.work.join(format!("gateway-{label}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                Ok(Self {
                    url: format!("sqlite://{}", path.display()),
                    pg_admin: None,
                })
            }
            Backend::Postgres => {
                let name = format!("saadgw_load_{}_{label}", std::process::id());
                let mut admin = sqlx::PgConnection::connect(&shared.args.postgres_url).await?;
                admin
                    .execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
                    .await?;
                admin
                    .execute(format!("CREATE DATABASE {name}").as_str())
                    .await?;
                admin.close().await?;
                let base = shared
                    .args
                    .postgres_url
                    .rsplit_once('/')
                    .map_or(shared.args.postgres_url.as_str(), |(b, _)| b);
                Ok(Self {
                    url: format!("{base}/{name}"),
                    pg_admin: Some((shared.args.postgres_url.clone(), name)),
                })
            }
        }
    }

    /// SQLite: the size of the write-ahead log now (what reads go through).
    fn wal_mib(&self) -> Option<f64> {
        let path = self.url.strip_prefix("sqlite://")?;
        let bytes = std::fs::metadata(format!("{path}-wal")).ok()?.len();
        Some(bytes as f64 / 1_048_576.0)
    }

    async fn drop_it(self) {
        if std::env::var_os("SAADGW_LOAD_KEEP").is_some() {
            eprintln!("  kept database: {}", self.url);
            return;
        }
        if let Some((admin_url, name)) = self.pg_admin {
            if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
                let _ = admin.close().await;
            }
        } else if let Some(path) = self.url.strip_prefix("sqlite://") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
}

/// A running gateway with its tokens and clients.
struct Session {
    server: Server,
    financer: reqwest::Client,
    financer_token: String,
    /// Per SAAD: its tokens, each with a client bound to its own loopback address.
    saads: Vec<Vec<(String, reqwest::Client)>>,
}

impl Session {
    fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server.base)
    }

    async fn financer_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        call(
            &self.financer,
            method,
            &self.url(path),
            &self.financer_token,
            body,
        )
        .await
    }

    /// Sets the manual clock to a Europe/Paris local time (winter, +01:00).
    async fn set_clock(&self, local: &str) -> anyhow::Result<()> {
        self.financer_call(
            Method::POST,
            "/admin/clock",
            Some(json!({"now": format!("{local}+01:00")})),
        )
        .await
        .map(|_| ())
    }
}

/// The gateway of one backend's run: its database, data directory and charter.
fn gateway_run(shared: &Shared, backend: Backend, db: &Database, label: &str) -> GatewayRun {
    GatewayRun {
        binary: shared.args.gateway.clone(),
        database_url: db.url.clone(),
        data_dir: shared.work.join(format!("data-{}-{label}", backend.name())),
        charter_dir: shared.charter.clone(),
    }
}

async fn start_session(
    shared: &Shared,
    backend: Backend,
    db: &Database,
    saads: usize,
    tokens_per_saad: usize,
    label: &str,
) -> anyhow::Result<Session> {
    let gateway = gateway_run(shared, backend, db, label);
    std::fs::create_dir_all(&gateway.data_dir)?;
    gateway.migrate()?;
    let started = Instant::now();
    let financer_token = gateway.create_token(None)?;
    // Tokens through `saad-gateway token create`, a few processes at a time.
    let mut tokens: Vec<Vec<String>> = vec![Vec::new(); saads];
    let jobs: Vec<usize> = (0..saads * tokens_per_saad).collect();
    for chunk in jobs.chunks(4) {
        let handles: Vec<_> = chunk
            .iter()
            .map(|&job| {
                let s = job % saads;
                let run = gateway.clone();
                std::thread::spawn(move || {
                    run.create_token(Some(&payload::siret(s))).map(|t| (s, t))
                })
            })
            .collect();
        for handle in handles {
            let (s, token) = handle
                .join()
                .map_err(|_| anyhow::anyhow!("token thread panicked"))??;
            tokens[s].push(token);
        }
    }
    eprintln!(
        "  {} tokens created with `saad-gateway token create` in {:.1} s",
        1 + saads * tokens_per_saad,
        started.elapsed().as_secs_f64()
    );
    let server = gateway
        .serve(
            &shared
                .work
                .join(format!("gateway-{}-{label}.log", backend.name())),
        )
        .await?;
    let financer = client(&server.cert, None)?;
    let mut clients = Vec::new();
    let mut n = 0;
    for saad_tokens in tokens {
        let mut list = Vec::new();
        for token in saad_tokens {
            list.push((token, client(&server.cert, Some(loopback(n)))?));
            n += 1;
        }
        clients.push(list);
    }
    Ok(Session {
        server,
        financer,
        financer_token,
        saads: clients,
    })
}

/// Registers the SAADs and imports the plans (1 000 per request).
async fn seed_plans(session: &Session, saads: usize) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for s in 0..saads {
        session
            .financer_call(Method::POST, "/saads", Some(payload::saad_json(s)))
            .await?;
    }
    for s in 0..saads {
        let range = s * PLANS_PER_SAAD..(s + 1) * PLANS_PER_SAAD;
        let answer = session
            .financer_call(Method::POST, "/orders", Some(payload::plans_json(range)))
            .await?;
        let plans = answer["plans"].as_array().map_or(&[][..], Vec::as_slice);
        let refused = plans.iter().filter(|p| p["status"] != "accepted").count();
        if refused > 0 || plans.len() != PLANS_PER_SAAD {
            bail!(
                "plans of SAAD {s}: {} answered, {refused} refused: {}",
                plans.len(),
                plans
                    .iter()
                    .find(|p| p["status"] != "accepted")
                    .cloned()
                    .unwrap_or_default()
            );
        }
    }
    Ok(started.elapsed())
}

#[derive(Default)]
struct BatchTotals {
    xml_time: Duration,
    xml_lines: u64,
    json_time: Duration,
    json_lines: u64,
    rejected: u64,
    first_rejection: Option<String>,
}

/// Deliveries answered 503 or 429 and sent again.
static RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Posts one delivery (retried after Retry-After on 503/429); returns (accepted, rejected, first rejection).
async fn post_delivery(
    session: &Session,
    saad: usize,
    body: Vec<u8>,
    xml: bool,
) -> anyhow::Result<(u64, u64, Option<String>)> {
    let (token, client) = &session.saads[saad][0];
    let mut attempt = 0;
    let text = loop {
        let response = client
            .post(session.url("/deliveries"))
            .bearer_auth(token)
            .header(
                "content-type",
                if xml {
                    "application/xml"
                } else {
                    "application/json"
                },
            )
            .body(body.clone())
            .send()
            .await?;
        let status = response.status();
        let wait = retry_after(&response);
        let text = response.text().await?;
        if status.is_success() {
            break text;
        }
        // A SAAD's software retries a 503/429 after Retry-After; the wait
        // counts in the measured time.
        attempt += 1;
        if (status.as_u16() == 503 || status.as_u16() == 429) && attempt <= 6 {
            RETRIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(wait).await;
            continue;
        }
        bail!(
            "delivery: {status} {}",
            text.chars().take(400).collect::<String>()
        );
    };
    let receipt: Value = serde_json::from_str(&text)?;
    let rejected = receipt["rejected"].as_u64().unwrap_or(0);
    let first = (rejected > 0).then(|| {
        receipt["lines"]
            .as_array()
            .and_then(|lines| lines.iter().find(|l| l["status"] == "rejected"))
            .map(|l| l["reasons"].to_string())
            .unwrap_or_default()
    });
    Ok((receipt["accepted"].as_u64().unwrap_or(0), rejected, first))
}

/// The month through the batch route: every evening each SAAD posts its
/// day's 1 000 visits; half of them (alternating by day) in ESPPADOM XML,
/// the other half in JSON.
async fn seed_month(
    session: &Session,
    saads: usize,
    days: u32,
    concurrency: usize,
) -> anyhow::Result<BatchTotals> {
    let mut totals = BatchTotals::default();
    for day in 1..=days {
        session
            .set_clock(&format!("2024-01-{day:02}T22:00:00"))
            .await?;
        for xml in [true, false] {
            let ours: Vec<usize> = (0..saads)
                .filter(|s| ((s + day as usize) % 2 == 0) == xml)
                .collect();
            for chunk in ours.chunks(concurrency.max(1)) {
                let bodies: Vec<(usize, Vec<u8>)> = chunk
                    .iter()
                    .map(|&s| {
                        let visits = payload::day_visits(s, day, "2024-01");
                        let tid = format!("B-{s}-2024-01-{day:02}");
                        let body = if xml {
                            payload::delivery_xml(s, &tid, &visits)
                        } else {
                            payload::delivery_json(&tid, &visits)
                        };
                        (s, body)
                    })
                    .collect();
                let started = Instant::now();
                let results: Vec<_> = futures_util::stream::iter(bodies)
                    .map(|(s, body)| post_delivery(session, s, body, xml))
                    .buffer_unordered(concurrency.max(1))
                    .collect()
                    .await;
                let elapsed = started.elapsed();
                for result in results {
                    let (accepted, rejected, first) = result?;
                    totals.rejected += rejected;
                    if totals.first_rejection.is_none() {
                        totals.first_rejection = first;
                    }
                    if xml {
                        totals.xml_lines += accepted + rejected;
                    } else {
                        totals.json_lines += accepted + rejected;
                    }
                }
                if xml {
                    totals.xml_time += elapsed;
                } else {
                    totals.json_time += elapsed;
                }
            }
        }
    }
    Ok(totals)
}

struct CloseOutcome {
    seconds: f64,
    peak_above_idle_mib: f64,
    invoices: Vec<Value>,
    read_back: Option<(Duration, u64)>,
    /// SQLite: the WAL's size before the close, MiB.
    wal_mib: Option<f64>,
}

async fn close_month(session: &Session, db: &Database) -> anyhow::Result<CloseOutcome> {
    session.set_clock("2024-02-01T09:00:00").await?;
    let wal_mib = db.wal_mib();
    let idle = session.server.rss_kib()?;
    session.server.reset_peak()?;
    let started = Instant::now();
    let answer = session
        .financer_call(Method::POST, "/months/2024-01/close", None)
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    let peak = session.server.peak_kib()?;
    let invoices = answer["invoices"].as_array().cloned().unwrap_or_default();
    let read_back = ceilings::read_back(&db.url, "2024-01").await.ok();
    Ok(CloseOutcome {
        seconds,
        peak_above_idle_mib: mib(peak.saturating_sub(idle)),
        invoices,
        read_back,
        wal_mib,
    })
}

fn fig(
    scenario: &str,
    backend: Backend,
    what: impl Into<String>,
    value: f64,
    unit: &str,
) -> Figure {
    Figure {
        scenario: scenario.into(),
        backend: backend.name().into(),
        what: what.into(),
        value,
        unit: unit.into(),
        detail: String::new(),
        ceiling: None,
        ratio: None,
        target: String::new(),
        met: None,
    }
}

/// One backend: seed, batch, close, exports, big file, real time, soak.
async fn run_backend(
    shared: &Shared,
    backend: Backend,
    plans: usize,
    days: u32,
    everything: bool,
    report: &mut Report,
) -> anyhow::Result<()> {
    let args = &shared.args;
    let saads = plans / PLANS_PER_SAAD;
    let interventions = plans as u64 * u64::from(days);
    let scale = format!("{plans} plans, {interventions} interventions");
    // Storage ceiling for this backend, on the month's rows.
    let db = Database::create(shared, backend, &format!("p{plans}")).await?;
    let storage_ceiling = if everything {
        eprintln!(
            "  [ceiling] bulk insert of {} rows",
            shared.month_visits_sample.len()
        );
        let rate = match backend {
            Backend::Sqlite => {
                ceilings::sqlite_insert(&shared.work, &shared.month_visits_sample).await?
            }
            Backend::Postgres => {
                ceilings::postgres_copy(&db.url, &shared.month_visits_sample).await?
            }
        };
        let mut f = fig(
            "ceiling",
            backend,
            match backend {
                Backend::Sqlite => {
                    "bulk insert of the month's rows: WAL, 1 000-row INSERTs, 50 000-row transactions, index (beneficiary, start)"
                }
                Backend::Postgres => {
                    "bulk insert of the month's rows: COPY, 50 000 rows per COPY, index (beneficiary, start)"
                }
            },
            rate,
            "rows/s",
        );
        f.detail = format!("{} rows", shared.month_visits_sample.len());
        report.figures.push(f);
        Some(rate)
    } else {
        None
    };
    let tokens_per_saad = if everything {
        args.clients.div_ceil(saads).max(1)
    } else {
        1
    };
    let mut session = start_session(
        shared,
        backend,
        &db,
        saads,
        tokens_per_saad,
        &format!("p{plans}"),
    )
    .await?;
    // The national month from a template (clone.rs): its SAADs only
    // through the API, the others copied in SQL.
    let posted =
        if !everything && args.national_seed == NationalSeed::Clone && saads > TEMPLATE_SAADS {
            TEMPLATE_SAADS
        } else {
            saads
        };
    let result = async {
        let seeded = seed_plans(&session, posted).await?;
        let posted_plans = posted * PLANS_PER_SAAD;
        eprintln!("  {posted} SAADs and {posted_plans} plans through the API in {:.1} s", secs(seeded));
        eprintln!("  batch: {} interventions in files of 1 000", posted_plans as u64 * u64::from(days));
        RETRIES.store(0, std::sync::atomic::Ordering::Relaxed);
        let totals = seed_month(&session, posted, days, args.batch_concurrency).await?;
        if posted < saads {
            eprintln!("  copying the {posted}-SAAD template to {saads} SAADs (gateway stopped)");
            session.server.stop();
            let cloned = clone::clone_saads(backend, &db.url, posted, saads).await?;
            session.server = gateway_run(shared, backend, &db, &format!("p{plans}"))
                .serve(&shared.work.join(format!("gateway-{}-p{plans}-copied.log", backend.name())))
                .await?;
            report.notes.push(format!(
                "{}: the {plans}-plan month is a {posted}-SAAD template month posted through the API ({} interventions, judged and stored by the gateway) and {} copies of its rows made in SQL with the gateway stopped ({} rows in {:.0} s; load-tests/loadgen/src/clone.rs): the close and exports read them as the gateway wrote them; receipts and audit rows were not copied",
                backend.name(),
                posted_plans as u64 * u64::from(days),
                cloned.copies,
                cloned.rows,
                secs(cloned.time)
            ));
        }
        let retries = RETRIES.load(std::sync::atomic::Ordering::Relaxed);
        if retries > 0 {
            report.notes.push(format!(
                "{}: {retries} batch files were answered 503/429 and sent again after Retry-After (the wait counts in the batch figures)",
                backend.name()
            ));
        }
        if totals.rejected > 0 {
            report.notes.push(format!(
                "{}: {} lines of the generated month were rejected (first: {})",
                backend.name(),
                totals.rejected,
                totals.first_rejection.clone().unwrap_or_default()
            ));
        }
        for (format, lines, time) in [
            ("ESPPADOM XML", totals.xml_lines, totals.xml_time),
            ("JSON", totals.json_lines, totals.json_time),
        ] {
            let rate = lines as f64 / secs(time).max(1e-9);
            let mut f = fig(
                "batch",
                backend,
                format!("1 000-intervention DELIVERY files, {format}, {} at a time, end to end (receipt returned)", args.batch_concurrency),
                rate,
                "interventions/s",
            );
            f.detail = format!("{lines} interventions in {:.1} s", secs(time));
            if let Some(ceiling) = storage_ceiling {
                f.ceiling = Some(Ceiling { what: "bulk insert".into(), value: ceiling, unit: "rows/s".into() });
                f.ratio = Some(rate / ceiling);
                f.target = "≥ 50 % of the storage ceiling".into();
                f.met = Some(rate / ceiling >= 0.5);
            }
            report.figures.push(f);
        }

        let skip = |scenario: Scenario| args.skip.contains(&scenario);
        let mut invoices = Vec::new();
        if !skip(Scenario::Close) {
            eprintln!("  month close");
            let close = close_month(&session, &db).await?;
            let limit = if plans >= 1_000_000 { 120.0 } else { 2.0 };
            let mut f = fig("month close", backend, format!("close of a month of {scale}"), close.seconds, "s");
            f.detail = format!("{} invoices; server peak RSS {:.0} MiB above idle", close.invoices.len(), close.peak_above_idle_mib);
            if let Some(wal) = close.wal_mib {
                f.detail.push_str(&format!("; SQLite WAL {wal:.0} MiB before the close"));
            }
            if let Some((read, rows)) = close.read_back {
                f.ceiling = Some(Ceiling { what: format!("reading the {rows} stored rows back"), value: secs(read), unit: "s".into() });
                f.ratio = Some(secs(read) / close.seconds.max(1e-9));
            }
            f.target = format!("< {limit} s");
            f.met = Some(close.seconds < limit);
            report.figures.push(f);
            report.growth.push((backend.name().into(), plans as u64, interventions, close.seconds));
            invoices = close.invoices;
        }

        if !skip(Scenario::Close) && !skip(Scenario::Exports) {
            eprintln!("  exports");
            exports(&session, &invoices, backend, report).await?;
        }

        if everything {
            if !skip(Scenario::BigFile) {
                eprintln!("  memory: {} interventions in one file", args.big_file);
                big_file(shared, &session, backend, report).await?;
            }
            let mut best = None;
            if !skip(Scenario::Realtime) {
                eprintln!("  real time");
                best = Some(realtime(shared, &session, backend, report).await?);
            }
            // With the search left out, a soak needs its own rate
            // (--soak-rate); its requests then start at visit 0.
            if best.is_none() && args.soak_rate.is_some() {
                best = Some((0, 0));
            }
            if let (Some(best), false) = (best, skip(Scenario::Soak)) {
                eprintln!("  soak");
                soak(shared, &session, backend, best, report).await?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    session.server.stop();
    db.drop_it().await;
    result
}

async fn exports(
    session: &Session,
    invoices: &[Value],
    backend: Backend,
    report: &mut Report,
) -> anyhow::Result<()> {
    // Each SAAD validates, then the département.
    let by_siret: std::collections::HashMap<String, usize> = (0..session.saads.len())
        .map(|s| (payload::siret(s), s))
        .collect();
    for invoice in invoices {
        let id = invoice["id"].as_str().unwrap_or_default();
        let siret = invoice["saad_siret"].as_str().unwrap_or_default();
        let saad = *by_siret.get(siret).context("invoice of an unknown SAAD")?;
        let (token, client) = &session.saads[saad][0];
        call(
            client,
            Method::POST,
            &session.url(&format!("/invoices/{id}/validate")),
            token,
            None,
        )
        .await?;
        session
            .financer_call(Method::POST, &format!("/invoices/{id}/validate"), None)
            .await?;
    }
    let started = Instant::now();
    let batch = session
        .financer_call(Method::POST, "/batches", None)
        .await?;
    let issued = started.elapsed();
    let id = batch["id"].as_str().context("batch id")?.to_owned();
    let payments = batch["payments"].as_array().map_or(0, Vec::len);
    let mut f = fig(
        "exports",
        backend,
        "issuing the payment batch (POST /batches)",
        secs(issued),
        "s",
    );
    f.detail = format!("{} invoices, {payments} payments", invoices.len());
    report.figures.push(f);
    for (suffix, name) in [
        (".csv", "CSV liquidation file"),
        (".pes.xml", "PES V2"),
        (".xml", "ISO 20022 pain.001"),
    ] {
        let started = Instant::now();
        let response = session
            .financer
            .get(session.url(&format!("/batches/{id}{suffix}")))
            .bearer_auth(&session.financer_token)
            .send()
            .await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        let elapsed = started.elapsed();
        if !status.is_success() {
            bail!("GET batch {suffix}: {status}");
        }
        let mut f = fig(
            "exports",
            backend,
            format!("writing the batch's {name} (GET, whole body)"),
            secs(elapsed),
            "s",
        );
        f.detail = format!("{} bytes", bytes.len());
        report.figures.push(f);
    }
    Ok(())
}

async fn big_file(
    shared: &Shared,
    session: &Session,
    backend: Backend,
    report: &mut Report,
) -> anyhow::Result<()> {
    session.set_clock("2024-02-29T12:00:00").await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = session.server.rss_kib()?;
    session.server.reset_peak()?;
    let started = Instant::now();
    let (accepted, rejected, first) =
        post_delivery(session, 0, shared.big_xml.to_vec(), true).await?;
    let elapsed = started.elapsed();
    let peak = session.server.peak_kib()?;
    let above = mib(peak.saturating_sub(idle));
    let mut f = fig(
        "memory",
        backend,
        format!(
            "one {}-intervention ESPPADOM file ({:.0} MB): peak RSS above idle",
            shared.args.big_file,
            shared.big_xml.len() as f64 / 1e6
        ),
        above,
        "MiB",
    );
    f.detail = format!(
        "idle {:.0} MiB; {accepted} accepted, {rejected} rejected in {:.1} s = {:.0} interventions/s{}",
        mib(idle),
        secs(elapsed),
        (accepted + rejected) as f64 / secs(elapsed),
        first
            .map(|r| format!("; first rejection {r}"))
            .unwrap_or_default()
    );
    f.target = "< 64 MiB".into();
    f.met = Some(above < 64.0);
    report.figures.push(f);
    Ok(())
}

/// Real-time request `i`'s SAAD, token and visit number: client
/// `i % clients` (SAAD `client % saads`), each SAAD's visits numbered so
/// that none overlaps another.
fn realtime_slot(session: &Session, i: u64) -> Option<(usize, usize, usize)> {
    let saads = session.saads.len();
    let per_saad = session.saads[0].len();
    let clients = saads * per_saad;
    let i = usize::try_from(i).ok()?;
    let c = i % clients;
    let (s, t, k) = (c % saads, c / saads, i / clients);
    Some((s, t, k * per_saad + t))
}

/// Builds real-time request `i`: one single-intervention DELIVERY.
fn realtime_request(session: &Session, i: u64) -> Option<reqwest::RequestBuilder> {
    let (s, t, j) = realtime_slot(session, i)?;
    let visit = payload::realtime_visit(s, j)?;
    let body = payload::delivery_xml(s, &visit.id, std::slice::from_ref(&visit));
    let (token, client) = &session.saads[s][t];
    Some(
        client
            .post(session.url("/deliveries"))
            .bearer_auth(token)
            .header("content-type", "application/xml")
            .timeout(Duration::from_secs(10))
            .body(body),
    )
}

/// Keeps the gateway's clock with the real-time visits: before request `i`
/// whose visit falls on another day than the clock's (`clock_day`), moves
/// the clock to that day's [`payload::realtime_clock`]. Visits go day after
/// day, so the requests still in flight from the day before stay within
/// R3's 48-hour delay.
fn realtime_clock_step<'s>(
    session: &'s Session,
    i: u64,
    clock_day: &mut Option<usize>,
) -> Option<impl std::future::Future<Output = Result<(), String>> + use<'s>> {
    let (_, _, j) = realtime_slot(session, i)?;
    let day = payload::realtime_day(j)?;
    if *clock_day == Some(day) {
        return None;
    }
    *clock_day = Some(day);
    let clock = payload::realtime_clock(day);
    Some(async move {
        session
            .set_clock(&clock)
            .await
            .map_err(|e| format!("moving the gateway clock to {clock}: {e:#}"))
    })
}

/// Offers real-time requests `base`, `base + 1`… at `rate` for `duration`,
/// the gateway's clock following their visits.
async fn realtime_open_loop(
    session: &Session,
    rate: u64,
    duration: Duration,
    base: u64,
) -> RunStats {
    let mut clock_day = None;
    load::open_loop(
        rate,
        duration,
        20_000,
        Duration::from_secs(12),
        |k| realtime_request(session, base + k),
        |k| realtime_clock_step(session, base + k, &mut clock_day),
    )
    .await
}

/// Fewest requests of one real-time step (see `realtime`).
const MIN_STEP_REQUESTS: u64 = 300;

/// The real-time search; returns the best sustained rate and the next
/// unused request number.
async fn realtime(
    shared: &Shared,
    session: &Session,
    backend: Backend,
    report: &mut Report,
) -> anyhow::Result<(u64, u64)> {
    let args = &shared.args;
    let step = Duration::from_secs(args.step_seconds);
    let limit = Duration::from_millis(args.p99_ms);
    let clients = session.saads.len() * session.saads[0].len();
    // The gateway allows 50 requests/s per token: never offer more than that.
    let max_rate = (clients as u64) * 45;
    let mut next_index = 0u64;
    let mut run_step = |rate: u64| {
        // A p99 needs enough answers to mean something: at least
        // MIN_STEP_REQUESTS per step (at 10/s a 5 s step would give 50, whose
        // "p99" is the single slowest answer).
        let step = step.max(Duration::from_secs(MIN_STEP_REQUESTS.div_ceil(rate.max(1))));
        let start_index = next_index;
        next_index += rate * step.as_secs();
        let session_ref = &*session;
        async move {
            let stats = realtime_open_loop(session_ref, rate, step, start_index).await;
            eprintln!(
                "    offered {rate}/s: achieved {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, errors {}, dropped {}{}",
                stats.achieved_per_s,
                stats.p50_us as f64 / 1000.0,
                stats.p99_us as f64 / 1000.0,
                stats.errors,
                stats.dropped,
                stats
                    .first_error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            stats
        }
    };
    let mut best: Option<RunStats> = None;
    let mut failed_at: Option<u64> = None;
    let mut rate = 10u64;
    let mut steps = Vec::new();
    while rate <= max_rate {
        let stats = run_step(rate).await;
        steps.push(stats.clone());
        tokio::time::sleep(Duration::from_secs(1)).await;
        if stats.sustained(limit) {
            best = Some(stats);
            rate *= 2;
        } else {
            failed_at = Some(rate);
            break;
        }
    }
    // Two bisection steps between the last good and the first bad rate.
    if let (Some(good), Some(bad)) = (best.as_ref().map(|b| b.offered_per_s), failed_at) {
        let (mut low, mut high) = (good, bad);
        for _ in 0..2 {
            let mid = (low + high) / 2;
            if mid <= low || mid >= high {
                break;
            }
            let stats = run_step(mid).await;
            steps.push(stats.clone());
            tokio::time::sleep(Duration::from_secs(1)).await;
            if stats.sustained(limit) {
                low = mid;
                best = Some(stats);
            } else {
                high = mid;
            }
        }
    }
    for s in steps {
        report.realtime_steps.push((backend.name().into(), s));
    }
    let value = best.as_ref().map_or(0, |b| b.offered_per_s);
    let mut f = fig(
        "real time",
        backend,
        format!(
            "single-intervention ESPPADOM DELIVERY posts, {clients} SAAD tokens, open loop: highest offered rate with p99 < {} ms",
            args.p99_ms
        ),
        value as f64,
        "req/s",
    );
    if let Some(b) = &best {
        f.detail = format!(
            "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms at that rate",
            b.p50_us as f64 / 1000.0,
            b.p95_us as f64 / 1000.0,
            b.p99_us as f64 / 1000.0
        );
    } else {
        f.detail = format!("not even {rate} req/s was sustained");
    }
    if failed_at.is_none() {
        f.detail.push_str(&format!(
            "; the search stopped at the token rate limits ({max_rate}/s)"
        ));
    }
    f.ceiling = Some(Ceiling {
        what: "minimal actix-web + rustls endpoint".into(),
        value: shared.http_ceiling,
        unit: "req/s".into(),
    });
    let ratio = value as f64 / shared.http_ceiling;
    f.ratio = Some(ratio);
    f.target = format!("≥ 15 % of the HTTP ceiling, p99 < {} ms", args.p99_ms);
    f.met = Some(ratio >= 0.15);
    report.figures.push(f);
    Ok((value, next_index))
}

/// Quiet time before the soak: longer than a real-time request's timeout.
const SOAK_DRAIN: Duration = Duration::from_secs(15);

async fn soak(
    shared: &Shared,
    session: &Session,
    backend: Backend,
    (best, base): (u64, u64),
    report: &mut Report,
) -> anyhow::Result<()> {
    let minutes = shared.args.soak_minutes;
    if minutes <= 0.0 {
        return Ok(());
    }
    let rate = shared.args.soak_rate.unwrap_or((best / 2).max(20));
    let duration = Duration::from_secs_f64(minutes * 60.0);
    // The real-time search ends on steps the gateway could not sustain:
    // their requests are still queued or in flight (each has a 10 s
    // timeout). Let them drain first, so the soak measures its own rate,
    // not the tail of an overload.
    tokio::time::sleep(SOAK_DRAIN).await;
    let pid = session.server.pid();
    let samples = Arc::new(std::sync::Mutex::new(Vec::<(f64, u64)>::new()));
    let sampler = {
        let samples = Arc::clone(&samples);
        tokio::spawn(async move {
            let started = Instant::now();
            loop {
                if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    if let Some(kib) = status
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    {
                        samples
                            .lock()
                            .expect("lock")
                            .push((started.elapsed().as_secs_f64(), kib));
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };
    let stats = realtime_open_loop(session, rate, duration, base).await;
    sampler.abort();
    let samples = samples.lock().expect("lock").clone();
    if stats.sent < rate * duration.as_secs() {
        report.notes.push(format!(
            "{}: the soak ran out of distinct real-time visits after {} requests (raise --plans or shorten it)",
            backend.name(),
            stats.sent
        ));
    }
    if samples.len() < 4 {
        bail!("too few memory samples in the soak");
    }
    let tenths = tenth_medians(&samples);
    // One sample is noisy (±5 MiB from one 2 s sample to the next on
    // PostgreSQL): compare the median of the second fifth of the soak (after
    // warm-up) with the median of the last fifth.
    let warm = (tenths[2] + tenths[3]) / 2.0;
    let end = (tenths[8] + tenths[9]) / 2.0;
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let growth = (end - warm).max(0.0);
    let mut f = fig(
        "memory",
        backend,
        format!(
            "soak: {rate} req/s of real-time posts for {minutes} min; RSS growth after the first fifth (median of the last fifth − median of the second)"
        ),
        growth,
        "MiB",
    );
    f.detail = format!(
        "RSS {warm:.0} → {end:.0} MiB (max {:.0}; single samples {:.0} → {:.0}); {} requests, {} errors ({}), p99 {:.1} ms",
        mib(max),
        mib(samples[samples.len() / 5].1),
        mib(samples[samples.len() - 1].1),
        stats.sent,
        stats.errors,
        stats.error_kinds_text(),
        stats.p99_us as f64 / 1000.0
    );
    report.soak_rss.push((backend.name().into(), tenths));
    f.target = "flat: < 4 MiB growth (target soak: 10 min)".into();
    f.met = Some(growth < 4.0 && stats.errors == 0);
    report.figures.push(f);
    Ok(())
}

/// The median RSS (MiB) of each tenth of the soak, from `(seconds, KiB)`
/// samples in time order (at least one per tenth: the caller asks for 4+
/// samples, so a tenth with none takes the nearest earlier sample).
fn tenth_medians(samples: &[(f64, u64)]) -> Vec<f64> {
    let end = samples.last().map_or(0.0, |s| s.0).max(f64::MIN_POSITIVE);
    let mut out = Vec::with_capacity(10);
    for tenth in 0..10 {
        let (from, to) = (end * tenth as f64 / 10.0, end * (tenth + 1) as f64 / 10.0);
        let mut kib: Vec<u64> = samples
            .iter()
            .filter(|s| s.0 >= from && (s.0 < to || (tenth == 9 && s.0 <= to)))
            .map(|s| s.1)
            .collect();
        if kib.is_empty() {
            kib.push(
                samples
                    .iter()
                    .rev()
                    .find(|s| s.0 < to)
                    .map_or(samples[0].1, |s| s.1),
            );
        }
        kib.sort_unstable();
        out.push(mib(kib[kib.len() / 2]));
    }
    out
}

/// `--scale national`: 1 000 000 plans / 25 000 000 interventions on
/// PostgreSQL; a growth curve on SQLite up to the largest that completes.
async fn national(shared: &Shared, report: &mut Report) {
    for &backend in &shared.args.backends {
        let sizes: &[usize] = match backend {
            _ if !shared.args.national_plans.is_empty() => &shared.args.national_plans,
            Backend::Postgres => &[1_000_000],
            Backend::Sqlite => &[30_000, 100_000, 300_000, 1_000_000],
        };
        for &plans in sizes {
            eprintln!("[{}] national scale: {plans} plans", backend.name());
            if let Err(error) = run_backend(shared, backend, plans, 25, false, report).await {
                report.notes.push(format!(
                    "{}: the {plans}-plan month did not complete: {error:#}",
                    backend.name()
                ));
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tenth_medians;

    #[test]
    fn the_soak_summary_takes_the_median_of_each_tenth_so_one_spike_does_not_count() {
        // 100 samples over 198 s at 100 MiB, one spike to 200 MiB at the end.
        let mut samples: Vec<(f64, u64)> =
            (0..100).map(|i| (f64::from(i) * 2.0, 102_400)).collect();
        samples[99].1 = 204_800;
        let tenths = tenth_medians(&samples);
        assert_eq!(tenths.len(), 10);
        assert!(
            tenths.iter().all(|m| (*m - 100.0).abs() < 1e-9),
            "{tenths:?}"
        );
    }

    #[test]
    fn the_soak_summary_follows_a_steady_growth() {
        // +1 MiB per sample: the tenths rise by ~10 MiB each.
        let samples: Vec<(f64, u64)> = (0..100u32)
            .map(|i| (f64::from(i), u64::from(i) * 1024))
            .collect();
        let tenths = tenth_medians(&samples);
        assert!(tenths.windows(2).all(|w| w[1] > w[0] + 9.0), "{tenths:?}");
    }

    #[test]
    fn the_soak_summary_has_ten_tenths_from_four_samples() {
        let samples = [(0.0, 1024), (2.0, 2048), (4.0, 3072), (6.0, 4096)];
        let tenths = tenth_medians(&samples);
        assert_eq!(tenths.len(), 10);
        assert!(
            (tenths[0] - 1.0).abs() < 1e-9 && (tenths[9] - 4.0).abs() < 1e-9,
            "{tenths:?}"
        );
    }
}
