//! `saad-gateway` binary: parses the command line, sets up logging, loads
//! the charter and dispatches. Everything it calls lives in the library.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use saad_gateway::cli::{Cli, Command};

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
        other => {
            eprintln!("error: '{other:?}' is not built yet in this version of saad-gateway");
            Ok(ExitCode::from(2))
        }
    }
}
