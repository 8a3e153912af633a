//! The results: one figure per line, with its ceiling, ratio and target;
//! written as Markdown and JSON.

use std::fmt::Write;

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub scenario: String,
    pub backend: String,
    pub what: String,
    pub value: f64,
    pub unit: String,
    /// Extra facts (percentiles, sizes, counts).
    pub detail: String,
    pub ceiling: Option<Ceiling>,
    /// value ÷ ceiling (for times: ceiling ÷ value, so higher is better).
    pub ratio: Option<f64>,
    pub target: String,
    /// `None` when the figure has no target.
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    pub what: String,
    pub value: f64,
    pub unit: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub ram_mib: u64,
    pub kernel: String,
    pub load_before: String,
    pub load_after: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub date: String,
    pub commit: String,
    pub command: String,
    pub scale: String,
    pub machine: Machine,
    pub duration_s: f64,
    pub figures: Vec<Figure>,
    pub notes: Vec<String>,
    /// The real-time steps (offered rate → percentiles), per backend.
    pub realtime_steps: Vec<(String, crate::load::RunStats)>,
    /// SQLite month-close growth curve (plans, interventions, close s).
    pub growth: Vec<(String, u64, u64, f64)>,
    /// The soak's server RSS, per backend: the median of each tenth of the
    /// soak, MiB (so a plateau can be told from a leak).
    pub soak_rss: Vec<(String, Vec<f64>)>,
}

pub fn machine(load_before: String) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, usize::from),
        cpu,
        ram_mib: ram_kib / 1024,
        kernel,
        load_before,
        load_after: String::new(),
    }
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn number(value: f64, unit: &str) -> String {
    if unit == "s" || unit == "ms" || value.abs() < 100.0 {
        format!("{value:.2} {unit}")
    } else {
        let whole = value.round() as i64;
        let digits = whole.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push('\u{202f}');
            }
            grouped.push(c);
        }
        let sign = if whole < 0 { "-" } else { "" };
        format!("{sign}{grouped} {unit}")
    }
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(out, "# Load-test results {} ({})\n", self.date, self.commit);
        let _ = writeln!(out, "- command: `{}`", self.command);
        let _ = writeln!(out, "- scale: {}", self.scale);
        let _ = writeln!(
            out,
            "- machine: {} cores, {}, {} MiB RAM, Linux {}",
            m.nproc, m.cpu, m.ram_mib, m.kernel
        );
        let _ = writeln!(
            out,
            "- load average before / after: {} / {}",
            m.load_before, m.load_after
        );
        let _ = writeln!(out, "- run time: {:.0} s\n", self.duration_s);
        let _ = writeln!(
            out,
            "| scenario | backend | what | figure | ceiling (same run) | ratio | target | met |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
        for f in &self.figures {
            let ceiling = f.ceiling.as_ref().map_or_else(
                || "—".to_owned(),
                |c| format!("{}: {}", c.what, number(c.value, &c.unit)),
            );
            let ratio = f
                .ratio
                .map_or_else(|| "—".to_owned(), |r| format!("{:.1} %", r * 100.0));
            let met = match f.met {
                Some(true) => "met",
                Some(false) => "**not met**",
                None => "—",
            };
            let detail = if f.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", f.detail)
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {}{} | {} | {} | {} | {} |",
                f.scenario,
                f.backend,
                f.what,
                number(f.value, &f.unit),
                detail,
                ceiling,
                ratio,
                if f.target.is_empty() {
                    "—"
                } else {
                    &f.target
                },
                met
            );
        }
        if !self.realtime_steps.is_empty() {
            let _ = writeln!(out, "\n## Real-time steps (open loop)\n");
            let _ = writeln!(
                out,
                "| backend | offered/s | achieved/s | sent | errors | dropped | p50 ms | p95 ms | p99 ms | max ms |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|");
            for (backend, s) in &self.realtime_steps {
                let _ = writeln!(
                    out,
                    "| {backend} | {} | {:.0} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    s.offered_per_s,
                    s.achieved_per_s,
                    s.sent,
                    s.errors,
                    s.dropped,
                    s.p50_us as f64 / 1000.0,
                    s.p95_us as f64 / 1000.0,
                    s.p99_us as f64 / 1000.0,
                    s.max_us as f64 / 1000.0
                );
            }
        }
        if !self.growth.is_empty() {
            let _ = writeln!(out, "\n## Month close growth\n");
            let _ = writeln!(out, "| backend | plans | interventions | close s |");
            let _ = writeln!(out, "|---|---|---|---|");
            for (backend, plans, interventions, seconds) in &self.growth {
                let _ = writeln!(
                    out,
                    "| {backend} | {plans} | {interventions} | {seconds:.2} |"
                );
            }
        }
        if !self.soak_rss.is_empty() {
            let _ = writeln!(
                out,
                "\n## Soak memory (server RSS, MiB: median of each tenth of the soak)\n"
            );
            let _ = writeln!(out, "| backend | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 |");
            let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
            for (backend, tenths) in &self.soak_rss {
                let cells: Vec<String> = tenths.iter().map(|m| format!("{m:.1}")).collect();
                let _ = writeln!(out, "| {backend} | {} |", cells.join(" | "));
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\n## Notes\n");
            for note in &self.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }
}
