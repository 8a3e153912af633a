//! Peak memory of the gateway ingesting one large ESPPADOM DELIVERY
//! (issue 9: a 100 000-intervention file in under 64 MiB above idle).
//!
//! Not a criterion bench: a measurement. It writes a synthetic DELIVERY of
//! `SAADGW_MEMORY_INTERVENTIONS` interventions (default 100 000, ~330 MB) to a
//! temporary file, starts the release gateway binary (`SAADGW_BIN`, default
//! `target/release/saad-gateway` under `CARGO_TARGET_DIR`) as a child process
//! on a fresh SQLite database in plain HTTP on 127.0.0.1, creates a SAAD
//! token with the binary, reads the server's resident memory when idle
//! (`VmRSS`), posts the file, and reads the server's peak (`VmHWM`) once the
//! receipt came back. The client is this process: its memory is not counted.
//!
//! ```text
//! cargo build --release --bin saad-gateway
//! cargo bench --bench ingest_memory
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use saad_gateway::xml::synthetic;

/// `VmRSS` / `VmHWM` of a process, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("status field")
}

fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("SAADGW_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    PathBuf::from(target).join("release").join("saad-gateway")
}

fn main() {
    let interventions: usize = std::env::var("SAADGW_MEMORY_INTERVENTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let exe = binary();
    assert!(
        exe.exists(),
        "{} missing: cargo build --release --bin saad-gateway",
        exe.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("delivery.xml");
    {
        let bytes = synthetic::delivery(interventions, 42);
        std::fs::File::create(&file)
            .and_then(|mut f| f.write_all(&bytes))
            .expect("write delivery");
    }
    let size = std::fs::metadata(&file).expect("size").len();
    let database = format!("sqlite://{}", dir.path().join("gateway.db").display());
    let port = 18_000 + u16::try_from(std::process::id() % 2_000).expect("port");
    let listen = format!("127.0.0.1:{port}");
    let common = |command: &mut Command| {
        command
            .arg("--database-url")
            .arg(&database)
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--listen")
            .arg(&listen)
            .arg("--plain-http");
    };
    let mut create = Command::new(&exe);
    common(&mut create);
    let token = create
        .args([
            "token",
            "create",
            "--role",
            "saad",
            "--siret",
            "00000000000018",
        ])
        .stderr(Stdio::inherit())
        .output()
        .expect("token create");
    assert!(create_ok(&token), "token create failed");
    let token = String::from_utf8(token.stdout)
        .expect("token text")
        .trim()
        .to_owned();

    let mut serve = Command::new(&exe);
    common(&mut serve);
    let mut server = serve
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let pid = server.id();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1_800))
        .build()
        .expect("client");
    let base = format!("http://{listen}");
    runtime.block_on(async {
        for _ in 0..200 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let idle = status_kib(pid, "VmRSS:");
    let body = std::fs::read(&file).expect("read delivery");
    let started = Instant::now();
    let response = runtime.block_on(async {
        client
            .post(format!("{base}/api/v1/deliveries"))
            .bearer_auth(&token)
            .header("content-type", "application/xml")
            .header("idempotency-key", "MEMORY-1")
            .body(body)
            .send()
            .await
            .expect("post")
    });
    let status = response.status();
    let answer = runtime.block_on(response.bytes()).expect("receipt");
    let elapsed = started.elapsed();
    let peak = status_kib(pid, "VmHWM:");
    let _ = server.kill();
    let _ = server.wait();
    // Display only: KiB to MiB for the reader.
    #[allow(clippy::float_arithmetic, clippy::cast_precision_loss)]
    let above_mib = peak.saturating_sub(idle) as f64 / 1024.0;
    println!(
        "ingest_memory: {interventions} interventions, {size} bytes of XML, HTTP {status} \
         ({} bytes of receipt) in {} ms; server RSS idle {} KiB, peak {} KiB, \
         peak above idle {} KiB ({:.1} MiB)",
        answer.len(),
        elapsed.as_millis(),
        idle,
        peak,
        peak.saturating_sub(idle),
        above_mib,
    );
    assert!(
        status.is_success(),
        "the delivery was not ingested: {status}"
    );
}

fn create_ok(output: &std::process::Output) -> bool {
    output.status.success() && !output.stdout.is_empty()
}
