//! Starting a release gateway (or the ceiling server) as a child process on
//! 127.0.0.1, its memory from /proc, and an HTTPS client for its API.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

/// A server child process, stopped (SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub cert: PathBuf,
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        status_field(self.pid(), "VmRSS")
    }

    /// Peak resident memory since start or the last [`Self::reset_peak`] (VmHWM), KiB.
    pub fn peak_kib(&self) -> anyhow::Result<u64> {
        status_field(self.pid(), "VmHWM")
    }

    /// Resets VmHWM to the current RSS (`/proc/<pid>/clear_refs` "5").
    pub fn reset_peak(&self) -> anyhow::Result<()> {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5")
            .context("resetting the peak RSS through /proc/<pid>/clear_refs")
    }

    /// Graceful stop: SIGTERM through `kill`, then wait (killed after 20 s).
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let kib = rest.trim().trim_end_matches("kB").trim();
            return Ok(kib.parse()?);
        }
    }
    bail!("{field} not in /proc/{pid}/status")
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Settings to start the gateway.
#[derive(Clone)]
pub struct GatewayRun {
    pub binary: PathBuf,
    pub database_url: String,
    pub data_dir: PathBuf,
    pub charter_dir: PathBuf,
}

impl GatewayRun {
    fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("--database-url")
            .arg(&self.database_url)
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--charter-dir")
            .arg(&self.charter_dir)
            .env_remove("SAAD_GATEWAY_DATABASE_URL");
        command
    }

    /// `saad-gateway token create` (api.md): one token, printed once.
    pub fn create_token(&self, siret: Option<&str>) -> anyhow::Result<String> {
        let mut command = self.command();
        command.args(["token", "create", "--role"]);
        match siret {
            Some(s) => command.args(["saad", "--siret", s]),
            None => command.arg("financer"),
        };
        let output = command
            .output()
            .context("running saad-gateway token create")?;
        if !output.status.success() {
            bail!(
                "token create failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let token = String::from_utf8(output.stdout)?.trim().to_owned();
        if token.is_empty() || token.contains('\n') {
            bail!("token create printed something else than one token");
        }
        Ok(token)
    }

    /// `saad-gateway migrate`.
    pub fn migrate(&self) -> anyhow::Result<()> {
        let status = self
            .command()
            .arg("migrate")
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("saad-gateway migrate failed");
        }
        Ok(())
    }

    /// `saad-gateway serve --clock manual` on a free port; waits for /healthz.
    pub async fn serve(&self, log: &Path) -> anyhow::Result<Server> {
        let port = free_port()?;
        let log_file = std::fs::File::create(log)?;
        let child = self
            .command()
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--clock", "manual", "serve"])
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting saad-gateway serve")?;
        let server = Server {
            child,
            base: format!("https://127.0.0.1:{port}"),
            cert: self
                .data_dir
                .join(saad_gateway::http::tls::SELF_SIGNED_CERT_FILE),
        };
        wait_healthy(&server, "/healthz").await?;
        Ok(server)
    }
}

/// Starts `loadgen ceiling-server` (this binary) on a free port.
pub async fn serve_ceiling(data_dir: &Path, log: &Path) -> anyhow::Result<Server> {
    let port = free_port()?;
    let log_file = std::fs::File::create(log)?;
    let child = Command::new(std::env::current_exe()?)
        .arg("ceiling-server")
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()?;
    let server = Server {
        child,
        base: format!("https://127.0.0.1:{port}"),
        cert: data_dir.join(saad_gateway::http::tls::SELF_SIGNED_CERT_FILE),
    };
    wait_healthy(&server, "/").await?;
    Ok(server)
}

async fn wait_healthy(server: &Server, path: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if server.cert.exists() {
            if let Ok(client) = client(&server.cert, None) {
                if let Ok(response) = client.get(format!("{}{path}", server.base)).send().await {
                    if response.status().is_success() || response.status().as_u16() == 405 {
                        return Ok(());
                    }
                }
            }
        }
        if Instant::now() > deadline {
            bail!("the server at {} did not become ready", server.base);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An HTTPS client trusting the server's self-signed certificate, bound to
/// `local` (a distinct loopback address per simulated SAAD client, so that
/// the gateway's per-IP rate limit applies per client as in production).
pub fn client(cert: &Path, local: Option<IpAddr>) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(cert)?;
    let mut builder = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .https_only(true)
        .http1_only()
        .timeout(Duration::from_secs(600))
        .pool_max_idle_per_host(64)
        // Below the gateway's 15 s keep-alive: a client that reuses a
        // connection the server is closing at that moment gets a transport
        // error (seen once at 40 requests/s, where each of the 400 clients
        // waits 10 s between posts), which would end the real-time search.
        .pool_idle_timeout(Duration::from_secs(10));
    if let Some(ip) = local {
        builder = builder.local_address(ip);
    }
    Ok(builder.build()?)
}

/// Loopback address number `n` (127.1.x.y).
pub fn loopback(n: usize) -> IpAddr {
    let n = u32::try_from(n).unwrap_or(0);
    IpAddr::V4(Ipv4Addr::new(
        127,
        1,
        u8::try_from(n / 250).unwrap_or(255),
        u8::try_from(n % 250 + 1).unwrap_or(1),
    ))
}

/// The wait a 503 or 429 answer asks for (`Retry-After`, 1 to 10 s).
pub fn retry_after(response: &reqwest::Response) -> Duration {
    let seconds = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    Duration::from_secs(seconds.clamp(1, 10))
}

/// A JSON call that must succeed (sent again after a 503, up to 5 times,
/// and after a 429 once its `Retry-After` has passed, as a client of the
/// rate-limited API does); returns the body.
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut attempt = 0;
    loop {
        let mut request = client.request(method.clone(), url).bearer_auth(token);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let wait = retry_after(&response);
        let text = response.text().await?;
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        if status.as_u16() == 429 {
            tokio::time::sleep(wait).await;
            continue;
        }
        attempt += 1;
        if status.as_u16() == 503 && attempt <= 5 {
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        bail!(
            "{url}: {status} {}",
            text.chars().take(500).collect::<String>()
        );
    }
}
