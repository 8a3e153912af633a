//! The real `saad-gateway` binary as a child process (`serve`, `token
//! create`), its stderr (the JSON logs) captured line by line, and a private
//! PostgreSQL cluster that a test may stop and restart without touching the
//! machine's shared server.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_saad-gateway")
}

/// `saad-gateway token create`: the token printed on stdout.
pub fn create_token(
    database_url: &str,
    data_dir: &Path,
    role: &str,
    siret: Option<&str>,
) -> String {
    let mut command = Command::new(binary());
    command
        .args(["--database-url", database_url, "--data-dir"])
        .arg(data_dir)
        .args(["token", "create", "--role", role]);
    if let Some(siret) = siret {
        command.args(["--siret", siret]);
    }
    let output = command.output().expect("run token create");
    assert!(
        output.status.success(),
        "token create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// A `saad-gateway serve` process with a manual clock.
pub struct Gateway {
    child: Child,
    pub base: String,
    pub client: reqwest::Client,
    /// Every stderr line so far (the JSON logs and the start-up line).
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Gateway {
    /// Starts `serve` on a free port and waits for its "listening" line.
    pub fn start(database_url: &str, data_dir: &Path) -> Gateway {
        Self::start_with_env(database_url, data_dir, &[])
    }

    pub fn start_with_env(database_url: &str, data_dir: &Path, env: &[(&str, &str)]) -> Gateway {
        let mut command = Command::new(binary());
        command.args(["--database-url", database_url]);
        Self::spawn(command, data_dir, env)
    }

    /// `serve` taking its database URL from `SAAD_GATEWAY_DATABASE_URL` in `env`.
    pub fn start_env_only(data_dir: &Path, env: &[(&str, &str)]) -> Gateway {
        Self::spawn(Command::new(binary()), data_dir, env)
    }

    fn spawn(mut command: Command, data_dir: &Path, env: &[(&str, &str)]) -> Gateway {
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--clock", "manual", "--data-dir"])
            .arg(data_dir)
            .arg("serve")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&logs);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("saad-gateway listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
                sink.lock().expect("logs").push(line);
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(base) => base,
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not start: {:?}", logs.lock().expect("logs"));
            }
        };
        let cert = std::fs::read(data_dir.join(saad_gateway::http::tls::SELF_SIGNED_CERT_FILE))
            .expect("certificate");
        let client = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&cert).expect("pem"))
            .https_only(true)
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        Gateway {
            child,
            base,
            client,
            logs,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// SIGKILL now (the process is reaped when dropped).
    pub fn sigkill(&self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }

    /// Everything logged so far.
    pub fn log_text(&self) -> String {
        self.logs.lock().expect("logs").join("\n")
    }

    pub async fn set_now(&self, financer: &str, now: &str) {
        let response = self
            .client
            .post(self.url("/admin/clock"))
            .bearer_auth(financer)
            .json(&json!({"now": now}))
            .send()
            .await
            .expect("clock");
        assert_eq!(response.status(), StatusCode::OK);
    }

    pub async fn post_json(
        &self,
        path: &str,
        token: &str,
        body: &Value,
    ) -> reqwest::Result<reqwest::Response> {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A private PostgreSQL cluster in a temporary directory, run by the
/// `postgres` user when the test runs as root (initdb refuses root).
pub struct PrivatePg {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
}

impl PrivatePg {
    /// `None` (with a notice) when no PostgreSQL binaries are installed and
    /// CI is not set.
    pub fn start() -> Option<PrivatePg> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|dirs| {
                dirs.filter_map(Result::ok)
                    .map(|d| d.path().join("bin"))
                    .find(|b| b.join("initdb").exists())
            });
        let Some(bin) = bin else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true and no /usr/lib/postgresql/*/bin/initdb");
            }
            eprintln!("NOTICE: no initdb; skipping the private PostgreSQL test");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("saadgw-pg-")
            .tempdir()
            .expect("temp dir");
        let pg = PrivatePg {
            dir,
            bin,
            port: free_port(),
        };
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(pg.dir.path())
                .status()
                .expect("chown");
            assert!(status.success());
        }
        let data = pg.data();
        pg.run(
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        );
        pg.start_server();
        Some(pg)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let output = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        }
        .expect("run a PostgreSQL tool");
        assert!(
            output.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `pg_ctl start`, waiting until it accepts connections.
    pub fn start_server(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
    }

    /// `pg_ctl stop -m fast`: the server disconnects every client and exits.
    pub fn stop_server(&self) {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let program = self.bin.join("pg_ctl");
        let data = self.data();
        let args = ["-D", data.as_str(), "-m", "immediate", "-w", "stop"];
        let _ = if is_root() {
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(&program)
                .args(args)
                .output()
        } else {
            Command::new(&program).args(args).output()
        };
    }
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}
