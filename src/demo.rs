//! `saad-gateway demo`: a newcomer's first run (api.md).
//!
//! Starts the real gateway on its own fresh SQLite database
//! (`saad-gateway-demo.db` in the data directory, recreated each run) with a
//! manual clock, then plays one month as the département and three SAADs
//! would — entirely through the real HTTPS API: SAADs registered, plans
//! imported (one refused), an event, a month of deliveries (JSON, and the
//! ESPPADOM sample as a real SAAD product sends it), including rejected
//! cases; then the month is closed, invoices validated and a payment batch
//! issued and written to files. A step whose route is not built yet in this
//! version answers 501: the demo says so and goes on; it never fakes a
//! result. Finally it keeps serving until Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Weekday};
use chrono_tz::Europe::Paris;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::GlobalSettings;
use crate::domain::params::Parameters;
use crate::http::clock::Clock;
use crate::http::server::ServerConfig;
use crate::http::tls::{SELF_SIGNED_CERT_FILE, TlsSource};
use crate::service::tokens::create_token;
use crate::storage::{Store, StoreConfig, TokenRole};

/// The demo database file, in the data directory.
pub const DEMO_DATABASE: &str = "saad-gateway-demo.db";
/// Where the demo writes the payment files, in the data directory.
pub const DEMO_OUTPUT_DIR: &str = "saad-gateway-demo-output";

/// The demo's first SAAD (most plans and the rejected cases).
pub const SAAD_A: &str = "73282932000074";
/// The demo's second SAAD (the ESPPADOM sample).
pub const SAAD_B: &str = "00000000000018";
/// The demo's third SAAD.
pub const SAAD_C: &str = "41289657100012";
const SAMPLE_DELIVERY: &str = include_str!("../tests/fixtures/esppadom/delivery-apa-example.xml");

/// Options of the demo run.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep serving after the scenario until Ctrl-C (api.md); `false` exits.
    pub keep_serving: bool,
}

/// Runs the demo.
pub async fn run(
    settings: &GlobalSettings,
    params: Parameters,
    options: DemoOptions,
) -> anyhow::Result<()> {
    crate::http::tls::install_crypto_provider();
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("creating {}", settings.data_dir.display()))?;
    let database = settings.data_dir.join(DEMO_DATABASE);
    remove_database(&database)?;
    let store = Store::open(&StoreConfig::new(format!(
        "sqlite://{}",
        database.display()
    )))
    .await
    .context("creating the demo database")?;
    store.migrate().await.context("applying migrations")?;

    let start = Paris
        .with_ymd_and_hms(2024, 1, 2, 8, 0, 0)
        .single()
        .context("demo start time")?
        .with_timezone(&chrono::Utc);
    let clock = Clock::manual(start);
    let config = ServerConfig {
        listen: settings.listen.clone(),
        tls: Some(TlsSource::SelfSigned {
            data_dir: settings.data_dir.clone(),
        }),
        ..ServerConfig::from_settings(settings)?
    };
    let server = crate::http::gateway::start_with_charter_dir(
        config,
        store.clone(),
        Arc::new(params),
        clock.clone(),
        settings.charter_dir.clone(),
    )
    .context("starting the gateway (is the --listen address free?)")?;
    let base = server.base_url();
    let handle = server.handle();
    let serving = tokio::spawn(server.run_until_stopped());

    let cert = std::fs::read(settings.data_dir.join(SELF_SIGNED_CERT_FILE))
        .context("reading the generated certificate")?;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert)?)
        .https_only(true)
        .build()?;
    let mut demo = Demo::new(&store, client, &base, clock).await?;

    println!(
        "saad-gateway demo — the gateway runs at {base} (self-signed certificate: {})",
        settings.data_dir.join(SELF_SIGNED_CERT_FILE).display()
    );
    println!(
        "database: {} (recreated on each run); gateway clock: manual, starting {}",
        database.display(),
        crate::domain::time::to_paris_rfc3339(start)
    );
    println!();
    demo.load_january().await?;
    demo.close_and_pay(&settings.data_dir).await?;

    println!();
    // The demo's own client holds a keep-alive connection that would make
    // a graceful stop wait for its timeout.
    let logins = (demo.financer.clone(), demo.token_of(SAAD_A)?.to_owned());
    drop(demo);
    if options.keep_serving {
        println!(
            "The gateway keeps serving at {base} (API under /api/v1, /healthz, /metrics). Ctrl-C to stop."
        );
        println!(
            "Dashboards: {base}/ — log in with the demo financer's token {} or SAAD {SAAD_A}'s token {} (tokens of this throw-away demo database).",
            logins.0, logins.1
        );
        let _stopped = serving.await;
    } else {
        handle.stop(true).await;
        let _stopped = serving.await;
    }
    store.close().await;
    Ok(())
}

/// API tokens of the demo's financer and SAADs (plaintext: the demo's own
/// throw-away database).
#[derive(Debug, Clone)]
pub struct DemoTokens {
    /// The financer's token.
    pub financer: String,
    /// Each SAAD's SIRET and token.
    pub saads: Vec<(&'static str, String)>,
}

/// Steps 1 to 4 of the demo against the gateway at `base` (its clock must
/// be `clock`): SAADs registered, plans imported, an event, January 2024's
/// deliveries with their rejected cases — through the real HTTPS API, with
/// tokens created in `store`. January is left open (the dashboards' browser
/// test closes it). Returns the tokens.
pub async fn load_january(
    store: &Store,
    client: reqwest::Client,
    base: &str,
    clock: Clock,
) -> anyhow::Result<DemoTokens> {
    let mut demo = Demo::new(store, client, base, clock).await?;
    demo.load_january().await?;
    Ok(DemoTokens {
        financer: demo.financer.clone(),
        saads: demo.saad_tokens.clone(),
    })
}

fn remove_database(database: &Path) -> anyhow::Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let mut path = database.as_os_str().to_owned();
        path.push(suffix);
        let path = PathBuf::from(path);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

struct Demo {
    client: reqwest::Client,
    base: String,
    clock: Clock,
    financer: String,
    saad_tokens: Vec<(&'static str, String)>,
    accepted: u64,
    rejected: u64,
    rejected_codes: std::collections::BTreeMap<String, u64>,
}

/// A response, or the fact that the route is not built yet.
enum Answer {
    Done(StatusCode, Value),
    NotBuilt,
}

impl Demo {
    async fn new(
        store: &Store,
        client: reqwest::Client,
        base: &str,
        clock: Clock,
    ) -> anyhow::Result<Self> {
        let financer = create_token(store, TokenRole::Financer, None).await?;
        let mut demo = Demo {
            client,
            base: base.to_owned(),
            clock,
            financer,
            saad_tokens: Vec::new(),
            accepted: 0,
            rejected: 0,
            rejected_codes: std::collections::BTreeMap::new(),
        };
        for siret in [SAAD_A, SAAD_B, SAAD_C] {
            let token = create_token(store, TokenRole::Saad, Some(siret)).await?;
            demo.saad_tokens.push((siret, token));
        }
        Ok(demo)
    }

    async fn load_january(&mut self) -> anyhow::Result<()> {
        self.register_saads().await?;
        self.import_plans().await?;
        self.report_event().await?;
        self.deliver_january().await
    }

    fn token_of(&self, siret: &str) -> anyhow::Result<&str> {
        self.saad_tokens
            .iter()
            .find(|(s, _)| *s == siret)
            .map(|(_, t)| t.as_str())
            .context("demo SAAD token")
    }

    async fn send(&self, request: reqwest::RequestBuilder, token: &str) -> anyhow::Result<Answer> {
        let response = request.bearer_auth(token).send().await?;
        let status = response.status();
        let body = response.text().await?;
        if status == StatusCode::NOT_IMPLEMENTED {
            return Ok(Answer::NotBuilt);
        }
        let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        Ok(Answer::Done(status, value))
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> anyhow::Result<Answer> {
        let request = self
            .client
            .post(format!("{}/api/v1{path}", self.base))
            .json(body);
        self.send(request, token).await
    }

    fn set_now(&self, day: NaiveDate, hour: u32) -> anyhow::Result<()> {
        let local = day.and_hms_opt(hour, 0, 0).context("time")?;
        let now = Paris
            .from_local_datetime(&local)
            .single()
            .context("local time")?
            .with_timezone(&chrono::Utc);
        self.clock.set(now)?;
        Ok(())
    }

    async fn register_saads(&self) -> anyhow::Result<()> {
        let tariff = |rate: &str| json!([{"valid_from": "2024-01-01", "valid_to": null, "hourly_rate": rate}]);
        let saads = [
            json!({"siret": SAAD_A, "name": "Aide à Domicile du Val", "iban": "FR7630006000011234567890189", "bic": "AGRIFRPP", "declarative": false,
                   "legal_category": "9220", "address": {"line1": "12 rue des Tilleuls", "postcode": "71000", "city": "Mâcon", "country": "FR"},
                   "aid_types": [{"aid_type": "APA", "status": "habilite", "tariffs": tariff("24.00")},
                                 {"aid_type": "PCH", "status": "habilite", "tariffs": tariff("24.00")},
                                 {"aid_type": "AM", "status": "habilite", "tariffs": tariff("22.00")}]}),
            json!({"siret": SAAD_B, "name": "SAAD Exemple - Agence Centre", "iban": "FR1420041010050500013M02606", "bic": "PSSTFRPPLIL", "declarative": false,
                   "legal_category": "5710", "address": {"line1": "1 place de l'Exemple", "postcode": "99001", "city": "Ville-Fictive", "country": "FR"},
                   "aid_types": [{"aid_type": "APA", "status": "habilite", "tariffs": tariff("24.00")}]}),
            json!({"siret": SAAD_C, "name": "Services Plus Bourgogne", "iban": "FR7610107001011234567890129", "bic": "BREDFRPP", "declarative": false,
                   "legal_category": "5499", "address": {"line1": "8 avenue de la Gare", "postcode": "71100", "city": "Chalon-sur-Saône", "country": "FR"},
                   "aid_types": [{"aid_type": "APA", "status": "autorise", "tariffs": []}]}),
        ];
        println!("1. The département registers 3 SAADs (POST /api/v1/saads)");
        for saad in &saads {
            match self.post("/saads", &self.financer, saad).await? {
                Answer::Done(status, body) if status.is_success() => {
                    println!(
                        "   {} {} → {status}",
                        saad["siret"].as_str().unwrap_or_default(),
                        saad["name"].as_str().unwrap_or_default()
                    );
                    let _ = body;
                }
                Answer::Done(status, body) => bail!("registering a SAAD failed: {status} {body}"),
                Answer::NotBuilt => {
                    println!("   POST /api/v1/saads answers 501: not built yet in this version.");
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn import_plans(&self) -> anyhow::Result<()> {
        let plan = |plan_ref: &str,
                    beneficiary: &str,
                    saad: &str,
                    aid: &str,
                    gir: Value,
                    from: &str,
                    minutes: u32,
                    rate: &str,
                    participation: Value,
                    coverage: Value,
                    amount: &str,
                    household: Value| {
            json!({"plan_ref": plan_ref, "version": 1, "beneficiary_id": beneficiary, "saad_siret": saad, "aid_type": aid,
                   "gir": gir, "household": household, "valid_from": from, "valid_to": "2024-12-31", "monthly_minutes": minutes,
                   "hourly_rate": rate, "participation_rate": participation, "coverage_rate": coverage, "monthly_amount": amount,
                   "respite_exemption": false})
        };
        let plans = json!({"plans": [
            plan("PA-APA-0001", "BEN-99-000101", SAAD_B, "APA", json!(2), "2024-01-01", 2400, "24.00", json!("0.10000"), Value::Null, "960.00", Value::Null),
            plan("PA-APA-0002", "BEN-99-000102", SAAD_A, "APA", json!(2), "2024-01-01", 1800, "24.00", json!("0.15713"), Value::Null, "720.00", Value::Null),
            plan("PA-APA-0003", "BEN-99-000103", SAAD_A, "APA", json!(3), "2024-01-17", 2400, "24.00", json!("0.00000"), Value::Null, "960.00", Value::Null),
            plan("PA-APA-0004", "BEN-99-000104", SAAD_A, "APA", json!(4), "2024-01-01", 1200, "24.00", json!("0.25000"), Value::Null, "480.00", Value::Null),
            plan("PA-APA-0005", "BEN-99-000105", SAAD_A, "APA", json!(1), "2024-01-01", 600, "24.00", json!("0.05000"), Value::Null, "240.00", Value::Null),
            plan("PA-APA-0006", "BEN-99-000106", SAAD_C, "APA", json!(3), "2024-01-01", 1800, "26.00", json!("0.10000"), Value::Null, "780.00", Value::Null),
            plan("PA-APA-0007", "BEN-99-000107", SAAD_A, "APA", json!(2), "2024-01-01", 2400, "24.00", json!("0.10000"), Value::Null, "960.00", Value::Null),
            plan("PA-APA-0008", "BEN-99-000108", SAAD_A, "APA", json!(4), "2024-01-01", 2400, "24.00", json!("0.10000"), Value::Null, "960.00", Value::Null),
            plan("PC-PCH-0001", "BEN-99-000201", SAAD_A, "PCH", Value::Null, "2024-01-01", 3000, "24.00", Value::Null, json!("1.00"), "1200.00", Value::Null),
            plan("PC-PCH-0002", "BEN-99-000202", SAAD_A, "PCH", Value::Null, "2024-01-01", 1200, "24.00", Value::Null, json!("0.80"), "480.00", Value::Null),
            plan("AM-0001", "BEN-99-000301", SAAD_A, "AM", Value::Null, "2024-01-01", 1200, "22.00", Value::Null, Value::Null, "440.00", json!("single")),
        ]});
        println!(
            "2. The département imports 11 plans (POST /api/v1/orders); one is above its GIR ceiling"
        );
        match self.post("/orders", &self.financer, &plans).await? {
            Answer::Done(status, body) if status.is_success() => {
                for plan in body["plans"].as_array().into_iter().flatten() {
                    let reasons: Vec<&str> = plan["reasons"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r["code"].as_str())
                        .collect();
                    println!(
                        "   {:12} v{} {}{}",
                        plan["plan_ref"].as_str().unwrap_or_default(),
                        plan["version"],
                        plan["status"].as_str().unwrap_or_default(),
                        if reasons.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", reasons.join(", "))
                        }
                    );
                }
            }
            Answer::Done(status, body) => bail!("importing plans failed: {status} {body}"),
            Answer::NotBuilt => {
                println!("   POST /api/v1/orders answers 501: not built yet in this version.")
            }
        }
        Ok(())
    }

    async fn report_event(&self) -> anyhow::Result<()> {
        println!(
            "3. SAAD {SAAD_A} reports a hospitalisation of BEN-99-000104 from 10 to 15 January (POST /api/v1/events)"
        );
        let events = json!({"events": [{"beneficiary_id": "BEN-99-000104", "kind": "HOSPITALISATION", "start": "2024-01-10", "end": "2024-01-15", "note": null}]});
        match self
            .post("/events", self.token_of(SAAD_A)?, &events)
            .await?
        {
            Answer::Done(status, _) => println!("   → {status}"),
            Answer::NotBuilt => {
                println!("   POST /api/v1/events answers 501: not built yet in this version.")
            }
        }
        Ok(())
    }

    async fn deliver_january(&mut self) -> anyhow::Result<()> {
        println!(
            "4. January 2024: every weekday evening each SAAD posts the day's visits (POST /api/v1/deliveries)"
        );
        // (plan, beneficiary, saad, worker, start hour, minutes)
        let rounds: [(&str, &str, &str, &str, u32, i64); 9] = [
            ("PA-APA-0002", "BEN-99-000102", SAAD_A, "W-A01", 8, 52),
            ("PA-APA-0003", "BEN-99-000103", SAAD_A, "W-A02", 9, 113),
            ("PA-APA-0004", "BEN-99-000104", SAAD_A, "W-A03", 10, 60),
            ("PA-APA-0005", "BEN-99-000105", SAAD_A, "W-A04", 14, 30),
            ("PA-APA-0007", "BEN-99-000107", SAAD_A, "W-A05", 8, 150),
            ("PC-PCH-0001", "BEN-99-000201", SAAD_A, "W-A06", 9, 143),
            ("PC-PCH-0002", "BEN-99-000202", SAAD_A, "W-A07", 15, 60),
            ("AM-0001", "BEN-99-000301", SAAD_A, "W-A08", 11, 67),
            ("PA-APA-0006", "BEN-99-000106", SAAD_C, "W-C01", 10, 90),
        ];
        let first = NaiveDate::from_ymd_opt(2024, 1, 1).context("date")?;
        let mut late_lines = Vec::new();
        let mut delivered_sample = false;
        for day in first.iter_days().take_while(|d| d.month() == 1) {
            if matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
                continue;
            }
            self.set_now(day, 20)?;
            for saad in [SAAD_A, SAAD_C] {
                let mut lines = Vec::new();
                for (plan, beneficiary, owner, worker, hour, minutes) in rounds {
                    if owner != saad || (plan == "PA-APA-0003" && day.day() < 17) {
                        continue;
                    }
                    let start = day.and_hms_opt(hour, 0, 0).context("time")?;
                    let end = start + Duration::minutes(minutes);
                    let line_id = format!("{plan}-{}", day.format("%m%d"));
                    let mut line = json!({"line_id": line_id, "plan_ref": plan, "beneficiary_id": beneficiary, "worker_id": worker,
                        "aid_type": plan_aid(plan), "raw_start": stamp(start), "raw_end": stamp(end), "corrected_start": null,
                        "corrected_end": null, "correction_reason": null, "declarative": false, "timesheet_ref": null});
                    // The rejected and corrected cases of the month.
                    match (plan, day.day()) {
                        ("PA-APA-0002", 8) => line["raw_end"] = Value::Null, // TIMESTAMP_MISSING
                        ("PA-APA-0002", 9) => {
                            line["raw_end"] = Value::Null; // corrected: departure forgotten
                            line["corrected_start"] = json!(stamp(start));
                            line["corrected_end"] = json!(stamp(end));
                            line["correction_reason"] = json!("FORGOTTEN");
                        }
                        ("PA-APA-0002", 10) => {
                            line["corrected_start"] = json!(stamp(start));
                            line["corrected_end"] = json!(stamp(end + Duration::minutes(15)));
                        } // CORRECTION_REASON_MISSING
                        ("PA-APA-0005", 11) => line["plan_ref"] = json!("PA-APA-9999"), // UNKNOWN_PLAN
                        ("PA-APA-0005", 12) => {
                            line["raw_end"] = json!(stamp(start + Duration::minutes(5)))
                        } // under 8 min
                        ("PA-APA-0004", 16) => {
                            late_lines.push(line);
                            continue;
                        } // sent 3 days late
                        _ => {}
                    }
                    lines.push(line);
                    if plan == "PA-APA-0007" && day.day() == 22 {
                        // A second visit overlapping the first: OVERLAP_BENEFICIARY.
                        lines.push(json!({"line_id": format!("{plan}-{}-bis", day.format("%m%d")), "plan_ref": plan, "beneficiary_id": beneficiary,
                            "worker_id": "W-A09", "aid_type": "APA", "raw_start": stamp(start + Duration::minutes(60)),
                            "raw_end": stamp(end + Duration::minutes(60)), "corrected_start": null, "corrected_end": null,
                            "correction_reason": null, "declarative": false, "timesheet_ref": null}));
                    }
                }
                if day.day() == 19 && saad == SAAD_A {
                    lines.append(&mut late_lines); // LATE_TRANSMISSION: raw stamps more than 48 h old
                }
                if lines.is_empty() {
                    continue;
                }
                let body = json!({"transmission_id": format!("{saad}-{}", day.format("%Y%m%d")), "interventions": lines});
                if !self.post_delivery_json(saad, &body).await? {
                    return Ok(());
                }
            }
            if day.day() == 12 && !delivered_sample {
                // The ESPPADOM sample, as a real SAAD product sends it, the morning after.
                self.set_now(day + Duration::days(1), 7)?;
                self.post_delivery_xml(SAAD_B).await?;
                delivered_sample = true;
            }
        }
        println!(
            "   accepted {} lines, rejected {}:",
            self.accepted, self.rejected
        );
        for (code, count) in &self.rejected_codes {
            println!("     {code:28} {count}");
        }
        Ok(())
    }

    fn count(&mut self, receipt: &Value) {
        self.accepted += receipt["accepted"].as_u64().unwrap_or(0);
        self.rejected += receipt["rejected"].as_u64().unwrap_or(0);
        for line in receipt["lines"].as_array().into_iter().flatten() {
            if let Some(code) = line["reasons"].get(0).and_then(|r| r["code"].as_str()) {
                *self.rejected_codes.entry(code.to_owned()).or_default() += 1;
            }
        }
    }

    async fn post_delivery_json(&mut self, saad: &str, body: &Value) -> anyhow::Result<bool> {
        match self.post("/deliveries", self.token_of(saad)?, body).await? {
            Answer::Done(status, receipt) if status.is_success() => {
                self.count(&receipt);
                Ok(true)
            }
            Answer::Done(status, body) => bail!("a delivery failed: {status} {body}"),
            Answer::NotBuilt => {
                println!("   POST /api/v1/deliveries answers 501: not built yet in this version.");
                Ok(false)
            }
        }
    }

    async fn post_delivery_xml(&mut self, saad: &str) -> anyhow::Result<()> {
        let request = self
            .client
            .post(format!("{}/api/v1/deliveries", self.base))
            .header("content-type", "application/xml")
            .body(SAMPLE_DELIVERY);
        match self.send(request, self.token_of(saad)?).await? {
            Answer::Done(status, receipt) if status.is_success() => {
                println!(
                    "   SAAD {saad} sends the ESPPADOM sample DELIVERY: {} accepted, {} rejected",
                    receipt["accepted"], receipt["rejected"]
                );
                self.count(&receipt);
            }
            Answer::Done(status, body) => bail!("the ESPPADOM delivery failed: {status} {body}"),
            Answer::NotBuilt => println!(
                "   POST /api/v1/deliveries (XML) answers 501: not built yet in this version."
            ),
        }
        Ok(())
    }

    async fn close_and_pay(&self, data_dir: &Path) -> anyhow::Result<()> {
        let february = NaiveDate::from_ymd_opt(2024, 2, 1).context("date")?;
        self.set_now(february, 9)?;
        println!(
            "5. 1 February: the département closes January (POST /api/v1/months/2024-01/close)"
        );
        let invoices = match self
            .post("/months/2024-01/close", &self.financer, &Value::Null)
            .await?
        {
            Answer::Done(status, body) if status.is_success() => {
                body["invoices"].as_array().cloned().unwrap_or_default()
            }
            Answer::Done(status, body) => bail!("closing January failed: {status} {body}"),
            Answer::NotBuilt => {
                println!(
                    "   answers 501: month close, invoices and payment batches are not built yet in this version."
                );
                return Ok(());
            }
        };
        for invoice in &invoices {
            println!(
                "   invoice {} {} {} {}: {} billed min, {} rejected min, due {} €",
                invoice["id"].as_str().unwrap_or_default(),
                invoice["saad_siret"].as_str().unwrap_or_default(),
                invoice["aid_type"].as_str().unwrap_or_default(),
                invoice["kind"].as_str().unwrap_or_default(),
                invoice["billed_minutes"],
                invoice["rejected_minutes"],
                invoice["amount_due"].as_str().unwrap_or_default()
            );
        }
        println!("6. Each SAAD validates its invoices, then the département does");
        for invoice in &invoices {
            let id = invoice["id"].as_str().unwrap_or_default();
            let saad = invoice["saad_siret"].as_str().unwrap_or_default();
            for token in [self.token_of(saad)?, self.financer.as_str()] {
                match self
                    .post(&format!("/invoices/{id}/validate"), token, &Value::Null)
                    .await?
                {
                    Answer::Done(status, body) if !status.is_success() => {
                        bail!("validating {id}: {status} {body}")
                    }
                    Answer::NotBuilt => {
                        println!(
                            "   invoice validation answers 501: not built yet in this version."
                        );
                        return Ok(());
                    }
                    Answer::Done(..) => {}
                }
            }
        }
        println!("   {} invoices final", invoices.len());
        println!(
            "7. The département issues a payment batch (POST /api/v1/batches) and downloads it"
        );
        let batch = match self.post("/batches", &self.financer, &Value::Null).await? {
            Answer::Done(status, body) if status.is_success() => body,
            Answer::Done(status, body) => bail!("issuing the batch failed: {status} {body}"),
            Answer::NotBuilt => {
                println!("   answers 501: payment batches are not built yet in this version.");
                return Ok(());
            }
        };
        let id = batch["id"].as_str().unwrap_or_default().to_owned();
        println!(
            "   batch {id}: total {} € in {} payments",
            batch["total"].as_str().unwrap_or_default(),
            batch["payments"].as_array().map_or(0, Vec::len)
        );
        let output = data_dir.join(DEMO_OUTPUT_DIR);
        std::fs::create_dir_all(&output)?;
        for suffix in [".csv", ".pes.xml", ".xml"] {
            let response = self
                .client
                .get(format!("{}/api/v1/batches/{id}{suffix}", self.base))
                .bearer_auth(&self.financer)
                .send()
                .await?;
            let status = response.status();
            let bytes = response.bytes().await?;
            if status == StatusCode::NOT_IMPLEMENTED {
                println!("   batch {suffix}: not built yet in this version");
                continue;
            }
            if !status.is_success() {
                bail!("downloading batch {suffix}: {status}");
            }
            let path = output.join(format!("batch-{id}{suffix}"));
            std::fs::write(&path, &bytes)?;
            println!("   wrote {} ({} bytes)", path.display(), bytes.len());
        }
        Ok(())
    }
}

fn plan_aid(plan: &str) -> &'static str {
    if plan.starts_with("PC-") {
        "PCH"
    } else if plan.starts_with("AM-") {
        "AM"
    } else {
        "APA"
    }
}

fn stamp(local: chrono::NaiveDateTime) -> String {
    local.format("%Y-%m-%dT%H:%M:%S").to_string()
}
