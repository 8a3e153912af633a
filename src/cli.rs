//! Command line of the `saad-gateway` binary (../shared/spec/api.md
//! "Binary and configuration"). Every flag has an environment variable
//! `SAAD_GATEWAY_<NAME>`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Département-side gateway for home-care (SAAD) telemanagement.
#[derive(Debug, Parser)]
#[command(name = "saad-gateway", version, about, long_about = None)]
pub struct Cli {
    /// Configuration shared by every command.
    #[command(flatten)]
    pub settings: GlobalSettings,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Which clock the gateway uses as "now".
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClockMode {
    /// The system clock.
    System,
    /// Set through `POST /api/v1/admin/clock` (replaying a past month).
    Manual,
}

/// Flags common to all commands.
#[derive(Debug, Clone, Args)]
pub struct GlobalSettings {
    /// Database URL: `sqlite://FILE` (created if missing) or `postgres://…`.
    #[arg(
        long,
        global = true,
        env = "SAAD_GATEWAY_DATABASE_URL",
        default_value = "sqlite://saad-gateway.db"
    )]
    pub database_url: String,
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        env = "SAAD_GATEWAY_LISTEN",
        default_value = "127.0.0.1:8443"
    )]
    pub listen: String,
    /// Where the generated certificate and a relative SQLite file live.
    #[arg(
        long,
        global = true,
        env = "SAAD_GATEWAY_DATA_DIR",
        default_value = "."
    )]
    pub data_dir: PathBuf,
    /// PEM certificate chain (default: a self-signed one generated in the data directory).
    #[arg(long, global = true, env = "SAAD_GATEWAY_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key matching `--tls-cert`.
    #[arg(long, global = true, env = "SAAD_GATEWAY_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP behind a TLS-terminating proxy.
    #[arg(long, global = true, env = "SAAD_GATEWAY_PLAIN_HTTP")]
    pub plain_http: bool,
    /// Body limit in bytes for non-DELIVERY bodies (DELIVERY bodies: 512 MiB, streamed).
    #[arg(long, global = true, env = "SAAD_GATEWAY_MAX_BODY", default_value_t = 16 * 1024 * 1024)]
    pub max_body: usize,
    /// `system` or `manual`.
    #[arg(long, global = true, env = "SAAD_GATEWAY_CLOCK", value_enum, default_value_t = ClockMode::System)]
    pub clock: ClockMode,
    /// The charter folder: parameters with effective dates.
    #[arg(long, global = true, env = "SAAD_GATEWAY_CHARTER_DIR", default_value_os_t = crate::charter::default_dir())]
    pub charter_dir: PathBuf,
    /// Seconds a client may take to send a request head (slow clients get
    /// 408 and the connection is closed); also bounds the TLS handshake.
    #[arg(long, global = true, env = "SAAD_GATEWAY_REQUEST_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub request_timeout: u64,
    /// Seconds in-flight requests may run after SIGTERM/SIGINT before the
    /// remaining connections are cut.
    #[arg(long, global = true, env = "SAAD_GATEWAY_SHUTDOWN_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub shutdown_timeout: u64,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway until SIGTERM/SIGINT.
    Serve,
    /// A newcomer's first run on a fresh demo database.
    Demo {
        /// Exit after the scenario instead of serving until Ctrl-C.
        #[arg(long)]
        no_serve: bool,
    },
    /// Apply migrations to the configured database and exit.
    Migrate,
    /// Manage API tokens.
    Token {
        /// Token action.
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Read an ESPPADOM file offline and print what the gateway understood, as JSON.
    Inspect {
        /// The ESPPADOM XML file (DELIVERY, ORDER or INVOICE).
        file: PathBuf,
    },
    /// Check the charter folder and print its parameters.
    CheckCharter,
}

/// Token actions.
#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Create a token, print it once on stdout; only its hash is stored.
    Create {
        /// `financer` or `saad`.
        #[arg(long)]
        role: TokenRole,
        /// The SAAD's SIRET (role saad).
        #[arg(long, required_if_eq("role", "saad"))]
        siret: Option<String>,
    },
}

/// Who a token acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenRole {
    /// The département.
    Financer,
    /// One SAAD.
    Saad,
}
