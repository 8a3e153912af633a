//! `saad-gateway` binary: parses the command line, sets up logging, loads
//! the charter and dispatches. Everything it calls lives in the library.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use saad_gateway::cli::{Cli, Command, GlobalSettings, TokenAction, TokenRole as CliTokenRole};
use saad_gateway::domain::params::Parameters;
use saad_gateway::http::clock::Clock;
use saad_gateway::http::server::ServerConfig;
use saad_gateway::storage::{Store, StoreConfig, TokenRole};

/// mimalloc instead of the system allocator: ingestion allocates and frees
/// many small strings per intervention, and glibc's malloc/free took about a
/// quarter of the server's CPU samples under batch load (perf). The
/// `mimalloc` feature (default) brings it; `--no-default-features` builds
/// with the system allocator, for heap profilers.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    saad_gateway::telemetry::init();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let params = saad_gateway::charter::load_dir(&cli.settings.charter_dir)
        .context("loading the charter (--charter-dir)")?;
    match cli.command {
        Command::CheckCharter => {
            let mut stdout = std::io::stdout().lock();
            for key in params.keys() {
                for value in params.series(key) {
                    let to = value
                        .valid_to
                        .map_or_else(|| "open".to_owned(), |d| d.to_string());
                    let flag = if value.needs_confirmation {
                        "  (needs confirmation)"
                    } else {
                        ""
                    };
                    writeln!(
                        stdout,
                        "{key:40} {:>10}  {} .. {to}{flag}",
                        value.value, value.valid_from
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = saad_gateway::xml::inspect::inspect(&bytes, &params);
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut stdout, &report)?;
            writeln!(stdout)?;
            Ok(if report.has_errors() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Serve => runtime()?.block_on(serve(&cli.settings, params)),
        Command::Migrate => runtime()?.block_on(async {
            let store = open_store(&cli.settings).await?;
            store.migrate().await.context("applying migrations")?;
            eprintln!(
                "migrations applied to {}",
                redact(&cli.settings.database_url)
            );
            Ok(ExitCode::SUCCESS)
        }),
        Command::Token { action } => runtime()?.block_on(async {
            let TokenAction::Create { role, siret } = action;
            let store = open_store(&cli.settings).await?;
            store.migrate().await.context("applying migrations")?;
            let role = match role {
                CliTokenRole::Financer => TokenRole::Financer,
                CliTokenRole::Saad => TokenRole::Saad,
            };
            let token =
                saad_gateway::service::tokens::create_token(&store, role, siret.as_deref()).await?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }),
        Command::Demo { no_serve } => runtime()?.block_on(async {
            let options = saad_gateway::demo::DemoOptions {
                keep_serving: !no_serve,
            };
            saad_gateway::demo::run(&cli.settings, params, options).await?;
            Ok(ExitCode::SUCCESS)
        }),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The database URL without any password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Opens the configured database; a relative SQLite path lives in the data directory.
async fn open_store(settings: &GlobalSettings) -> anyhow::Result<Store> {
    let url = saad_gateway::service::tokens::resolve_database_url(
        &settings.database_url,
        &settings.data_dir,
    );
    Store::open(&StoreConfig::new(url))
        .await
        .with_context(|| format!("opening the database {}", redact(&settings.database_url)))
}

async fn serve(settings: &GlobalSettings, params: Parameters) -> anyhow::Result<ExitCode> {
    saad_gateway::http::tls::install_crypto_provider();
    let store = open_store(settings).await?;
    store.migrate().await.context("applying migrations")?;
    let config = ServerConfig::from_settings(settings)?;
    let server = saad_gateway::http::gateway::start_with_charter_dir(
        config,
        store.clone(),
        std::sync::Arc::new(params),
        Clock::from_mode(settings.clock),
        settings.charter_dir.clone(),
    )?;
    eprintln!("saad-gateway listening on {}", server.base_url());
    tracing::info!(address = %server.base_url(), "listening");
    server.run_until_stopped().await?;
    store.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
