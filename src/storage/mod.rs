//! Storage adapter (sqlx): SQLite (embedded default) and PostgreSQL
//! (production, several gateway processes on one database).
//!
//! [`Store`] is an enum over the two backends, chosen once from the URL
//! scheme. The query code is written once (`shared.rs`) and compiled twice,
//! once inside [`sqlite`] and once inside [`postgres`], each module
//! supplying its own type aliases, value encoders (instants and decimals are
//! stored natively on PostgreSQL and as ordered text on SQLite) and the
//! statements where the dialects really differ (bulk inserts, list
//! parameters, the ingestion lock). See `docs/storage.md` for why.
//!
//! This module depends on `crate::domain` for the records it stores; it
//! never decides anything the rules decide (the checks judge, storage
//! writes what they decided).

use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream::BoxStream;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::domain::ingest::{IngestContext, IngestResult};
use crate::domain::model::{
    Event, InterventionSubmission, OverrunAuthorisation, PlanVersion, Saad,
};
use crate::domain::time::Period;
use crate::domain::types::{AidType, YearMonth};

mod context_json;
mod context_pool;
mod error;
mod group;
mod pg_copy;
pub mod postgres;
mod rows;
pub mod sqlite;

pub use context_pool::{ContextPool, ContextRequest};
pub use error::StoreError;
pub use group::{
    GroupError, GroupedDelivery, Judge, JudgeError, Judged, LaterParts, MAX_GROUP_LINES, Part,
    PartsTotals, QueueBound, QueueLength,
};

/// Result of a storage operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// How to reach the database and how to size the pool.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://path.db` (created if missing) or `postgres://…`.
    pub url: String,
    /// Pool size (PostgreSQL: per gateway process; SQLite: readers + one writer at a time).
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before `Unavailable` (503).
    pub acquire_timeout: Duration,
    /// How long a writer waits for the write lock (SQLite busy timeout) or
    /// the ingestion lock (PostgreSQL `lock_timeout`) before `Unavailable`.
    pub busy_timeout: Duration,
    /// The financer (département) this deployment serves; carried on every row.
    pub financer_id: String,
    /// How much ingestion may wait for the group committer before a new
    /// delivery is refused with 503 and `Retry-After` (see `group.rs`).
    pub ingest_queue: QueueBound,
}

impl StoreConfig {
    /// Default financer id when the configuration names none.
    pub const DEFAULT_FINANCER_ID: &'static str = "default";

    /// A configuration with the defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            financer_id: Self::DEFAULT_FINANCER_ID.to_owned(),
            ingest_queue: QueueBound::default(),
        }
    }
}

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// Whether an upsert created or updated the record (201 vs 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// New record.
    Created,
    /// Existing record replaced.
    Updated,
}

/// Outcome of storing a plan version (R7: same content idempotent,
/// different content `VERSION_CONFLICT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanInsert {
    /// Stored.
    Inserted,
    /// The same version with the same content was already stored.
    Identical,
    /// The same (plan_ref, version) is stored with a different content.
    Conflicting(Box<PlanVersion>),
}

/// Role of an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Acts for the financer.
    Financer,
    /// Acts for one SAAD.
    Saad,
}

impl TokenRole {
    fn code(self) -> &'static str {
        match self {
            TokenRole::Financer => "financer",
            TokenRole::Saad => "saad",
        }
    }

    fn parse(text: &str) -> StoreResult<Self> {
        match text {
            "financer" => Ok(TokenRole::Financer),
            "saad" => Ok(TokenRole::Saad),
            other => Err(StoreError::corrupt(format!("unknown token role '{other}'"))),
        }
    }
}

/// An API token as stored: never the token itself, only its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public id of the token (what the audit log names).
    pub id: String,
    /// Role.
    pub role: TokenRole,
    /// The SAAD a `saad` token acts for.
    pub saad_siret: Option<String>,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One audit log row: who (token id), what, when, outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Token id (never the token); `None` for an unauthenticated request.
    pub token_id: Option<String>,
    /// SAAD concerned, if any.
    pub saad_siret: Option<String>,
    /// What was asked, e.g. `POST /api/v1/deliveries`.
    pub action: String,
    /// What it was about (transmission id, invoice id…).
    pub target: Option<String>,
    /// `stored`, `refused:409`, …
    pub outcome: String,
    /// Short detail, no personal data.
    pub detail: Option<String>,
}

/// A delivery of a bulk write ([`IngestTx::write_many`]) and its audit row.
#[derive(Debug, Clone, Copy)]
pub struct GroupWrite<'a> {
    /// The delivery.
    pub delivery: DeliveryCommit<'a>,
    /// Its audit row, if any.
    pub audit: Option<&'a AuditEntry>,
}

/// A stored receipt (idempotency record of one delivery).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReceipt {
    /// Transmission id.
    pub transmission_id: String,
    /// Hash of the request body that produced it (409 when a re-send differs).
    pub body_hash: String,
    /// The receipt exactly as first returned; with `parts`, its beginning
    /// up to `"lines":[` (see [`CommitOutcome::AlreadyStoredInParts`]).
    pub receipt_json: String,
    /// When it was stored.
    pub received_at: DateTime<Utc>,
    /// How many parts hold its lines (0: `receipt_json` is whole).
    pub parts: i64,
}

impl StoredReceipt {
    /// What `commit` answers for this stored transmission.
    pub fn outcome(self) -> CommitOutcome {
        if self.parts > 0 {
            CommitOutcome::AlreadyStoredInParts {
                receipt_prefix: self.receipt_json,
                parts: self.parts,
                body_hash: self.body_hash,
            }
        } else {
            CommitOutcome::AlreadyStored {
                receipt_json: self.receipt_json,
                body_hash: self.body_hash,
            }
        }
    }
}

/// What `commit` did with a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Everything written, in one transaction.
    Stored,
    /// The transmission was already stored (possibly by a racing request):
    /// nothing was written; here is the first receipt and its body hash.
    AlreadyStored {
        /// The first receipt.
        receipt_json: String,
        /// Body hash of the first request.
        body_hash: String,
    },
    /// The transmission was already stored, with a receipt kept in parts (a
    /// large delivery ingested as it was read): the whole receipt is
    /// `receipt_prefix`, then the parts ([`Store::receipt_part`]) joined by
    /// commas, then [`RECEIPT_PARTS_END`].
    AlreadyStoredInParts {
        /// The receipt up to its `"lines":[`.
        receipt_prefix: String,
        /// How many parts hold its lines.
        parts: i64,
        /// Body hash of the first request.
        body_hash: String,
    },
}

/// What follows the last part of a receipt kept in parts.
pub const RECEIPT_PARTS_END: &str = "]}";

/// Everything one delivery's commit writes.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryCommit<'a> {
    /// The posting SAAD.
    pub saad_siret: &'a str,
    /// Transmission id (idempotency key).
    pub transmission_id: &'a str,
    /// Hash of the request body.
    pub body_hash: &'a str,
    /// The receipt to return now and on every re-send.
    pub receipt_json: &'a str,
    /// The submitted lines, in order (for what the result does not carry:
    /// worker id of rejected lines, corrected stamps as sent, timesheet ref).
    pub lines: &'a [InterventionSubmission],
    /// What the checks decided.
    pub result: &'a IngestResult,
    /// Gateway clock at reception.
    pub now: DateTime<Utc>,
}

/// A currently accepted intervention as the month close reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthIntervention {
    /// SAAD.
    pub saad_siret: String,
    /// Intervention id.
    pub line_id: String,
    /// Id of the accepted version (traceability on invoice lines).
    pub version_id: i64,
    /// Plan.
    pub plan_ref: String,
    /// Beneficiary (financer's id).
    pub beneficiary_id: String,
    /// Counted period.
    pub period: Period,
    /// Rounded minutes (R1).
    pub rounded_minutes: i64,
    /// Acceptance sequence (ties on start: the earlier received first).
    pub sequence: i64,
    /// Corrected or declarative data count (correction rate).
    pub corrected: bool,
}

/// A rejected intervention version, for the rejection notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedIntervention {
    /// Version id.
    pub version_id: i64,
    /// Intervention id.
    pub line_id: String,
    /// Transmission that carried it.
    pub transmission_id: String,
    /// Reason codes in rule order.
    pub reasons: Vec<String>,
    /// Plan, when resolved.
    pub plan_ref: Option<String>,
    /// Beneficiary, when resolved.
    pub beneficiary_id: Option<String>,
    /// Counted period, when determined.
    pub period: Option<Period>,
    /// Counted minutes.
    pub counted_minutes: i64,
    /// When it was received.
    pub received_at: DateTime<Utc>,
}

/// Open or closed month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonthStatus {
    /// Not closed yet.
    Open,
    /// Closed.
    Closed,
}

/// A month's close state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthRecord {
    /// Month.
    pub month: YearMonth,
    /// Status.
    pub status: MonthStatus,
    /// When closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// The close run that closed it.
    pub close_run_id: Option<String>,
}

/// Pro-forma or regularisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    /// First invoice of a month.
    Proforma,
    /// Difference after a change to a closed month.
    Regularisation,
}

/// Invoice status (api.md InvoiceSummary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Computed, not validated.
    Proforma,
    /// Validated by the SAAD.
    SaadValidated,
    /// Validated by the financer: immutable.
    Final,
    /// In an issued payment batch.
    Paid,
}

/// An invoice header with its totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRecord {
    /// Id.
    pub id: String,
    /// SAAD.
    pub saad_siret: String,
    /// Aid type (one invoice per aid type).
    pub aid_type: AidType,
    /// Billed month.
    pub month: YearMonth,
    /// Kind.
    pub kind: InvoiceKind,
    /// Status.
    pub status: InvoiceStatus,
    /// Number of lines.
    pub line_count: i64,
    /// Billed minutes.
    pub billed_minutes: i64,
    /// Rejected minutes.
    pub rejected_minutes: i64,
    /// Valued amount (EUR).
    pub valued_amount: Decimal,
    /// Participation (EUR).
    pub participation_amount: Decimal,
    /// Amount due (EUR).
    pub amount_due: Decimal,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Close run that produced it.
    pub close_run_id: String,
    /// Payment batch that paid it.
    pub batch_id: Option<String>,
}

/// Which intervention version (and how many minutes) an invoice line billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BilledIntervention {
    /// Intervention version id.
    pub version_id: i64,
    /// Minutes billed.
    pub billed_minutes: i64,
    /// Minutes rejected (overrun).
    pub rejected_minutes: i64,
}

/// One invoice line (one plan in one month).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLineRecord {
    /// 1-based line number.
    pub line_no: i64,
    /// Plan.
    pub plan_ref: String,
    /// Beneficiary.
    pub beneficiary_id: String,
    /// Billed minutes.
    pub billed_minutes: i64,
    /// Rejected minutes.
    pub rejected_minutes: i64,
    /// The month's R7 allotment (prorata, before carry-over), as computed
    /// by the close that wrote the line; on a regularisation line, as
    /// recomputed then (absolute, not a delta). `None` for lines stored
    /// before it was kept, or when the recomputation has no line for the
    /// plan.
    pub allotted_minutes: Option<i64>,
    /// R7 carry-over: unused allotment of earlier months of the year
    /// carried into the month (0 in January). Same conventions as
    /// `allotted_minutes`.
    pub carried_in_minutes: Option<i64>,
    /// Hourly rate (EUR/h, possibly an average).
    pub hourly_rate: Decimal,
    /// Valued amount.
    pub valued_amount: Decimal,
    /// Participation.
    pub participation_amount: Decimal,
    /// Amount due.
    pub amount_due: Decimal,
    /// Traceability.
    pub interventions: Vec<BilledIntervention>,
}

/// One payment of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPaymentRecord {
    /// SAAD.
    pub saad_siret: String,
    /// IBAN.
    pub iban: String,
    /// BIC.
    pub bic: String,
    /// Amount.
    pub amount: Decimal,
    /// Invoices paid.
    pub invoice_ids: Vec<String>,
}

/// An issued payment batch (immutable once stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentBatchRecord {
    /// Id.
    pub id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Total.
    pub total: Decimal,
    /// Payments.
    pub payments: Vec<BatchPaymentRecord>,
}

/// What a month close did not pay on a pro-forma line (rules.md R7
/// `OVERRUN`, R8 `RATE_ABOVE_CEILING`), stored with the close for the
/// rejection notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRejectionRecord {
    /// The pro-forma invoice of the line.
    pub invoice_id: String,
    /// The SAAD.
    pub saad_siret: String,
    /// The closed month.
    pub month: YearMonth,
    /// Plan of the line.
    pub plan_ref: String,
    /// Beneficiary of the plan.
    pub beneficiary_id: String,
    /// The intervention (`None` for a line-level `RATE_ABOVE_CEILING`).
    pub line_id: Option<String>,
    /// The intervention's day (Paris).
    pub day: Option<chrono::NaiveDate>,
    /// `OVERRUN` or `RATE_ABOVE_CEILING`.
    pub code: String,
    /// Minutes not paid (0 for `RATE_ABOVE_CEILING`).
    pub minutes: i64,
    /// Minutes of the intervention that were paid (partial overrun).
    pub billed_minutes: i64,
    /// Amount not paid, rounded half away from zero.
    pub amount: Option<Decimal>,
}

/// One plan line of a SAAD's own INVOICE matched against the pro-forma
/// (R9, `POST /api/v1/invoices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaadInvoiceLineRecord {
    /// The gateway's invoice it was matched to.
    pub invoice_id: String,
    /// SAAD.
    pub saad_siret: String,
    /// Billed month.
    pub month: YearMonth,
    /// The SAAD's own invoice number, as sent.
    pub saad_invoice_id: Option<String>,
    /// Plan.
    pub plan_ref: String,
    /// Beneficiary, when known.
    pub beneficiary_id: Option<String>,
    /// What the SAAD asked (`None` when its invoice omits the plan).
    pub asked: Option<Decimal>,
    /// What the gateway computed.
    pub computed: Decimal,
    /// What is paid.
    pub paid: Decimal,
    /// `INVOICE_MISMATCH`, `INVOICE_BELOW_COMPUTED`, or none.
    pub code: Option<String>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
}

/// The gateway's store: one of the two backends.
#[derive(Debug, Clone)]
pub enum Store {
    /// Embedded SQLite.
    Sqlite(sqlite::SqliteStore),
    /// PostgreSQL.
    Postgres(postgres::PgStore),
}

/// An open ingestion transaction: the check+commit critical section of one
/// delivery. PostgreSQL holds a transaction-scoped advisory lock for the
/// financer; SQLite holds the write lock (`BEGIN IMMEDIATE`). Dropping it
/// without `commit` rolls back.
pub enum IngestTx {
    /// SQLite.
    Sqlite(sqlite::IngestTx),
    /// PostgreSQL.
    Postgres(postgres::IngestTx),
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Store::Sqlite(s) => s.$method($($arg),*).await,
            Store::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store {
    /// Connects (creating the SQLite file if missing) without migrating.
    pub async fn connect(config: &StoreConfig) -> StoreResult<Self> {
        let url = config.url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::PgStore::connect(config).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Store::Sqlite(sqlite::SqliteStore::connect(config).await?))
        } else {
            Err(StoreError::other(format!(
                "unsupported database URL scheme in '{}': expected sqlite:// or postgres://",
                url.split(':').next().unwrap_or_default()
            )))
        }
    }

    /// Connects and applies the migrations (what `serve` does at start).
    pub async fn open(config: &StoreConfig) -> StoreResult<Self> {
        let store = Self::connect(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the embedded migrations of this backend (`saad-gateway migrate`).
    pub async fn migrate(&self) -> StoreResult<()> {
        dispatch!(self.migrate())
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// The financer every row is stored under.
    pub fn financer_id(&self) -> &str {
        match self {
            Store::Sqlite(s) => &s.financer_id,
            Store::Postgres(s) => &s.financer_id,
        }
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.pool.close().await,
            Store::Postgres(s) => s.pool.close().await,
        }
    }

    // --- SAADs -----------------------------------------------------------

    /// Creates or replaces a SAAD with its aid types and tariffs.
    pub async fn upsert_saad(&self, saad: &Saad, now: DateTime<Utc>) -> StoreResult<Upsert> {
        dispatch!(self.upsert_saad(saad, now))
    }

    /// A trivial query through the pool (health check).
    pub async fn ping(&self) -> StoreResult<()> {
        dispatch!(self.ping())
    }

    /// The SAAD with this SIRET.
    pub async fn get_saad(&self, siret: &str) -> StoreResult<Option<Saad>> {
        dispatch!(self.get_saad(siret))
    }

    /// Every SAAD, by SIRET.
    pub async fn list_saads(&self) -> StoreResult<Vec<Saad>> {
        dispatch!(self.list_saads())
    }

    // --- Tokens ----------------------------------------------------------

    /// Stores a token record (its hash only). `Conflict` if the id or hash exists.
    pub async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        dispatch!(self.create_token(token))
    }

    /// The token whose SHA-256 hash is `token_hash` (revoked ones included:
    /// the caller checks `revoked_at`).
    pub async fn find_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        dispatch!(self.find_token_by_hash(token_hash))
    }

    /// Revokes a token; `NotFound` when no such (unrevoked) token.
    pub async fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        dispatch!(self.revoke_token(id, now))
    }

    // --- Plans -----------------------------------------------------------

    /// Stores a plan version; unique (plan_ref, version).
    pub async fn insert_plan_version(
        &self,
        plan: &PlanVersion,
        now: DateTime<Utc>,
    ) -> StoreResult<PlanInsert> {
        dispatch!(self.insert_plan_version(plan, now))
    }

    /// Every version of a plan, by version number.
    pub async fn plan_versions(&self, plan_ref: &str) -> StoreResult<Vec<PlanVersion>> {
        dispatch!(self.plan_versions(plan_ref))
    }

    /// Versions assigned to this SAAD that cover `day`.
    pub async fn saad_plans_on(
        &self,
        saad_siret: &str,
        day: NaiveDate,
    ) -> StoreResult<Vec<PlanVersion>> {
        dispatch!(self.saad_plans_between(saad_siret, day, day))
    }

    /// Versions assigned to this SAAD that overlap `month`.
    pub async fn saad_plans_in_month(
        &self,
        saad_siret: &str,
        month: YearMonth,
    ) -> StoreResult<Vec<PlanVersion>> {
        dispatch!(self.saad_plans_between(saad_siret, month.first_day(), month.last_day()))
    }

    /// Every plan version overlapping `month` (month close).
    pub async fn plans_in_month(&self, month: YearMonth) -> StoreResult<Vec<PlanVersion>> {
        dispatch!(self.plans_between(month.first_day(), month.last_day()))
    }

    /// Every AM plan version sharing `household_ref` (R7 AM cap).
    pub async fn household_am_plans(&self, household_ref: &str) -> StoreResult<Vec<PlanVersion>> {
        dispatch!(self.household_am_plans(household_ref))
    }

    // --- Events ----------------------------------------------------------

    /// Creates an event or, if (beneficiary, kind, start) exists, sets its end and note.
    pub async fn upsert_event(&self, event: &Event, now: DateTime<Utc>) -> StoreResult<Upsert> {
        dispatch!(self.upsert_event(event, now))
    }

    /// Events of these beneficiaries.
    pub async fn events_of(&self, beneficiary_ids: &[String]) -> StoreResult<Vec<Event>> {
        dispatch!(self.events_of(beneficiary_ids))
    }

    /// Events created or changed at or after `since` (regularisation), with
    /// their change time.
    pub async fn events_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(Event, DateTime<Utc>)>> {
        dispatch!(self.events_changed_since(since))
    }

    // --- Overrun authorisations ------------------------------------------

    /// Stores an overrun authorisation.
    pub async fn insert_overrun_authorisation(
        &self,
        authorisation: &OverrunAuthorisation,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        dispatch!(self.insert_overrun_authorisation(authorisation, now))
    }

    /// Total authorised minutes for a plan and month.
    pub async fn authorised_minutes(&self, plan_ref: &str, month: YearMonth) -> StoreResult<i64> {
        dispatch!(self.authorised_minutes(plan_ref, month))
    }

    // --- Aliases -----------------------------------------------------------

    /// This SAAD's recorded beneficiary aliases.
    pub async fn saad_aliases(
        &self,
        saad_siret: &str,
    ) -> StoreResult<Vec<crate::domain::ingest::BeneficiaryAlias>> {
        dispatch!(self.saad_aliases(saad_siret))
    }

    // --- Ingestion ---------------------------------------------------------

    /// Opens the ingestion critical section (see [`IngestTx`]).
    pub async fn begin_ingest(&self) -> StoreResult<IngestTx> {
        match self {
            Store::Sqlite(s) => Ok(IngestTx::Sqlite(s.begin_ingest().await?)),
            Store::Postgres(s) => Ok(IngestTx::Postgres(s.begin_ingest().await?)),
        }
    }

    /// The stored receipt of a transmission of this SAAD.
    pub async fn get_receipt(
        &self,
        saad_siret: &str,
        transmission_id: &str,
    ) -> StoreResult<Option<StoredReceipt>> {
        dispatch!(self.get_receipt(saad_siret, transmission_id))
    }

    /// Part `part_no` (from 1) of a receipt kept in parts: a run of receipt
    /// lines, comma separated (see [`CommitOutcome::AlreadyStoredInParts`]).
    pub async fn receipt_part(
        &self,
        saad_siret: &str,
        transmission_id: &str,
        part_no: i64,
    ) -> StoreResult<Option<String>> {
        dispatch!(self.receipt_part(saad_siret, transmission_id, part_no))
    }

    /// Loads the context and commits in one ingestion transaction, calling
    /// `judge` in between (what the gateway's delivery handler does). The
    /// receipt is built by `judge` from the result.
    pub async fn ingest<F>(
        &self,
        saad_siret: &str,
        transmission_id: &str,
        body_hash: &str,
        lines: &[InterventionSubmission],
        now: DateTime<Utc>,
        judge: F,
    ) -> StoreResult<CommitOutcome>
    where
        F: FnOnce(&IngestContext) -> (IngestResult, String),
    {
        let mut tx = self.begin_ingest().await?;
        let context = tx.load_context(saad_siret, lines, now).await?;
        let (result, receipt_json) = judge(&context);
        tx.commit(DeliveryCommit {
            saad_siret,
            transmission_id,
            body_hash,
            receipt_json: &receipt_json,
            lines,
            result: &result,
            now,
        })
        .await
    }

    /// Ingests a delivery through the group committer: it shares one
    /// transaction with the deliveries queued at the same time (a savepoint
    /// each), and the answer comes only after that transaction committed.
    /// See `group.rs`.
    pub async fn ingest_grouped(
        &self,
        delivery: GroupedDelivery,
    ) -> Result<CommitOutcome, GroupError> {
        let committer = match self {
            Store::Sqlite(s) => s.group.clone(),
            Store::Postgres(s) => s.group.clone(),
        };
        committer.submit(self, delivery).await
    }

    /// What waits in this process's ingestion queue now (an observation).
    pub fn ingest_queue(&self) -> QueueLength {
        match self {
            Store::Sqlite(s) => s.group.length(),
            Store::Postgres(s) => s.group.length(),
        }
    }

    /// Commits a judged delivery in its own ingestion transaction (for a
    /// caller that judged on a context loaded earlier; the sequence check
    /// refuses a stale context with `Conflict`).
    pub async fn commit_delivery(
        &self,
        delivery: DeliveryCommit<'_>,
    ) -> StoreResult<CommitOutcome> {
        self.begin_ingest().await?.commit(delivery).await
    }

    /// Currently accepted interventions whose counted start falls in
    /// `month` (Europe/Paris), by counted start then sequence, streamed.
    pub fn accepted_in_month(
        &self,
        month: YearMonth,
    ) -> BoxStream<'_, StoreResult<MonthIntervention>> {
        match self {
            Store::Sqlite(s) => s.accepted_in_month(month),
            Store::Postgres(s) => s.accepted_in_month(month),
        }
    }

    /// Rejected intervention versions of a SAAD for a month that were not
    /// accepted later in a corrected form (rejection notice).
    pub async fn rejected_in_month(
        &self,
        saad_siret: &str,
        month: YearMonth,
    ) -> StoreResult<Vec<RejectedIntervention>> {
        dispatch!(self.rejected_in_month(saad_siret, month))
    }

    // --- Audit -------------------------------------------------------------

    /// Appends an audit row.
    pub async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        dispatch!(self.append_audit(entry))
    }

    /// The audit rows at or after `since`, oldest first.
    pub async fn audit_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<AuditEntry>> {
        dispatch!(self.audit_since(since))
    }

    // --- Month close -------------------------------------------------------

    /// A month's state (`Open` with no close data when never recorded).
    pub async fn get_month(&self, month: YearMonth) -> StoreResult<MonthRecord> {
        dispatch!(self.get_month(month))
    }

    /// Records a month as closed.
    pub async fn close_month(
        &self,
        month: YearMonth,
        closed_at: DateTime<Utc>,
        close_run_id: &str,
    ) -> StoreResult<()> {
        dispatch!(self.close_month(month, closed_at, close_run_id))
    }

    /// Stores an invoice with its lines and their traceability, in one transaction.
    pub async fn insert_invoice(
        &self,
        invoice: &InvoiceRecord,
        lines: &[InvoiceLineRecord],
    ) -> StoreResult<()> {
        dispatch!(self.insert_invoice(invoice, lines))
    }

    /// An invoice and its lines; with `saad_siret`, only if it is that SAAD's.
    pub async fn get_invoice(
        &self,
        id: &str,
        saad_siret: Option<&str>,
    ) -> StoreResult<Option<(InvoiceRecord, Vec<InvoiceLineRecord>)>> {
        dispatch!(self.get_invoice(id, saad_siret))
    }

    /// Invoices of a billed month, optionally of one SAAD.
    pub async fn list_invoices(
        &self,
        month: YearMonth,
        saad_siret: Option<&str>,
    ) -> StoreResult<Vec<InvoiceRecord>> {
        dispatch!(self.list_invoices(month, saad_siret))
    }

    /// Moves an invoice to `status` (the schema refuses changing a final
    /// invoice's figures).
    pub async fn set_invoice_status(
        &self,
        id: &str,
        status: InvoiceStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        dispatch!(self.set_invoice_status(id, status, at))
    }

    /// Stores an issued batch and marks its invoices paid, in one transaction.
    pub async fn insert_payment_batch(&self, batch: &PaymentBatchRecord) -> StoreResult<()> {
        dispatch!(self.insert_payment_batch(batch))
    }

    /// A payment batch.
    pub async fn get_payment_batch(&self, id: &str) -> StoreResult<Option<PaymentBatchRecord>> {
        dispatch!(self.get_payment_batch(id))
    }

    /// All payment batches, oldest first.
    pub async fn list_payment_batches(&self) -> StoreResult<Vec<PaymentBatchRecord>> {
        dispatch!(self.list_payment_batches())
    }
    // --- Month close in one transaction (shared_close.rs) -------------------

    /// Stores a month's close in ONE transaction: the month marked closed
    /// by compare-and-set, every invoice, line and traceability row. Returns
    /// `false` and writes nothing when the month was already closed
    /// (possibly by a concurrent close that committed first).
    pub async fn close_month_with_invoices(
        &self,
        month: YearMonth,
        closed_at: DateTime<Utc>,
        close_run_id: &str,
        invoices: &[(InvoiceRecord, Vec<InvoiceLineRecord>)],
    ) -> StoreResult<bool> {
        self.close_month_with_rejections(month, closed_at, close_run_id, invoices, &[])
            .await
    }

    /// [`Store::close_month_with_invoices`], also storing in the same
    /// transaction what the close did not pay (the notice's close lines).
    pub async fn close_month_with_rejections(
        &self,
        month: YearMonth,
        closed_at: DateTime<Utc>,
        close_run_id: &str,
        invoices: &[(InvoiceRecord, Vec<InvoiceLineRecord>)],
        rejections: &[CloseRejectionRecord],
    ) -> StoreResult<bool> {
        dispatch!(self.close_month_with_invoices(
            month,
            closed_at,
            close_run_id,
            invoices,
            rejections
        ))
    }

    /// What the close of `month` did not pay a SAAD (OVERRUN, RATE_ABOVE_CEILING).
    pub async fn close_rejections(
        &self,
        saad_siret: &str,
        month: YearMonth,
    ) -> StoreResult<Vec<CloseRejectionRecord>> {
        dispatch!(self.close_rejections(saad_siret, month))
    }

    /// The invoices a close run stored: pro-formas, then regularisations.
    pub async fn invoices_of_close_run(
        &self,
        close_run_id: &str,
    ) -> StoreResult<Vec<InvoiceRecord>> {
        dispatch!(self.invoices_of_close_run(close_run_id))
    }

    /// Compare-and-set of an invoice's status: `true` when it moved from
    /// `expected` to `status`, `false` when it was not (or no longer) `expected`.
    pub async fn set_invoice_status_if(
        &self,
        id: &str,
        expected: InvoiceStatus,
        status: InvoiceStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        dispatch!(self.set_invoice_status_if(id, expected, status, at))
    }

    /// Every final invoice not yet in a payment batch, whatever its month.
    pub async fn final_unpaid_invoices(&self) -> StoreResult<Vec<InvoiceRecord>> {
        dispatch!(self.final_unpaid_invoices())
    }

    /// The closed months, oldest first.
    pub async fn closed_months(&self) -> StoreResult<Vec<YearMonth>> {
        dispatch!(self.closed_months())
    }

    /// The counted start of the earliest currently accepted intervention of
    /// the months `from..to` (`to` excluded), if any.
    pub async fn first_accepted_between(
        &self,
        from: YearMonth,
        to: YearMonth,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        dispatch!(self.first_accepted_between(from, to))
    }

    /// Every version of these plans, by plan then version, in one query.
    pub async fn plan_versions_of(&self, plan_refs: &[String]) -> StoreResult<Vec<PlanVersion>> {
        dispatch!(self.plan_versions_of(plan_refs))
    }

    /// Overrun authorisations of `from..=to`, summed per plan and month.
    pub async fn authorisations_between(
        &self,
        from: YearMonth,
        to: YearMonth,
    ) -> StoreResult<Vec<OverrunAuthorisation>> {
        dispatch!(self.authorisations_between(from, to))
    }

    /// Every invoice of a billed month with its lines (no traceability rows).
    pub async fn invoices_with_lines(
        &self,
        month: YearMonth,
    ) -> StoreResult<Vec<(InvoiceRecord, Vec<InvoiceLineRecord>)>> {
        dispatch!(self.invoices_with_lines(month))
    }

    /// Applies a SAAD's own INVOICE to a pro-forma in one transaction
    /// (compare-and-set to `saad_validated`, paid amounts, matched lines);
    /// `false` and nothing written when it is no longer a pro-forma.
    pub async fn apply_saad_invoice(
        &self,
        invoice_id: &str,
        paid_lines: &[(i64, Decimal)],
        amount_due: Decimal,
        matched: &[SaadInvoiceLineRecord],
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        dispatch!(self.apply_saad_invoice(invoice_id, paid_lines, amount_due, matched, at))
    }

    /// The matched lines of a SAAD's own invoices for a billed month.
    pub async fn saad_invoice_lines(
        &self,
        saad_siret: &str,
        month: YearMonth,
    ) -> StoreResult<Vec<SaadInvoiceLineRecord>> {
        dispatch!(self.saad_invoice_lines(saad_siret, month))
    }
}

impl IngestTx {
    /// Loads what the checks need for these lines of this SAAD.
    pub async fn load_context(
        &mut self,
        saad_siret: &str,
        lines: &[InterventionSubmission],
        now: DateTime<Utc>,
    ) -> StoreResult<IngestContext> {
        match self {
            IngestTx::Sqlite(t) => t.load_context(saad_siret, lines, now).await,
            IngestTx::Postgres(t) => t.load_context(saad_siret, lines, now).await,
        }
    }

    /// The contexts of several deliveries in the statements of one, as a
    /// [`ContextPool`] that gives each what [`Self::load_context`] of that
    /// delivery alone returns, and keeps it so as judged deliveries are
    /// applied to it.
    pub async fn load_pool(&mut self, requests: &[ContextRequest<'_>]) -> StoreResult<ContextPool> {
        match self {
            IngestTx::Sqlite(t) => t.load_pool(requests).await,
            IngestTx::Postgres(t) => t.load_pool(requests).await,
        }
    }

    /// The receipts already stored for these (SAAD, transmission id) pairs.
    pub async fn stored_receipts(
        &mut self,
        keys: &[(&str, &str)],
    ) -> StoreResult<Vec<Option<StoredReceipt>>> {
        match self {
            IngestTx::Sqlite(t) => t.stored_receipts(keys).await,
            IngestTx::Postgres(t) => t.stored_receipts(keys).await,
        }
    }

    /// Writes several independent deliveries with one statement per table.
    /// `false` (and the caller must roll back to its savepoint) when one of
    /// them turned out to be stored already.
    pub async fn write_many(&mut self, writes: &[GroupWrite<'_>]) -> StoreResult<bool> {
        match self {
            IngestTx::Sqlite(t) => t.write_many(writes).await,
            IngestTx::Postgres(t) => t.write_many(writes).await,
        }
    }

    /// Writes the delivery and its receipt and commits, or stores nothing
    /// and returns the first receipt if the transmission is already stored.
    pub async fn commit(self, delivery: DeliveryCommit<'_>) -> StoreResult<CommitOutcome> {
        match self {
            IngestTx::Sqlite(t) => t.commit(delivery).await,
            IngestTx::Postgres(t) => t.commit(delivery).await,
        }
    }

    /// Writes the delivery without committing (group commit); nothing is
    /// written when the transmission is already stored.
    pub async fn write(&mut self, delivery: DeliveryCommit<'_>) -> StoreResult<CommitOutcome> {
        match self {
            IngestTx::Sqlite(t) => t.write(delivery).await,
            IngestTx::Postgres(t) => t.write(delivery).await,
        }
    }

    /// Writes one part of a delivery read in parts (its rows and receipt
    /// part), without committing.
    pub async fn write_part(
        &mut self,
        delivery: DeliveryCommit<'_>,
        part_no: i64,
        first_line_no: i64,
    ) -> StoreResult<()> {
        match self {
            IngestTx::Sqlite(t) => t.write_part(delivery, part_no, first_line_no).await,
            IngestTx::Postgres(t) => t.write_part(delivery, part_no, first_line_no).await,
        }
    }

    /// Claims the receipt of a delivery written in parts; `false` when the
    /// transmission is already stored.
    // The receipt row's columns, each needed as such.
    #[allow(clippy::too_many_arguments)]
    pub async fn claim_receipt_in_parts(
        &mut self,
        saad_siret: &str,
        transmission_id: &str,
        body_hash: &str,
        prefix: &str,
        line_count: usize,
        parts: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        match self {
            IngestTx::Sqlite(t) => {
                t.claim_receipt_in_parts(
                    saad_siret,
                    transmission_id,
                    body_hash,
                    prefix,
                    line_count,
                    parts,
                    now,
                )
                .await
            }
            IngestTx::Postgres(t) => {
                t.claim_receipt_in_parts(
                    saad_siret,
                    transmission_id,
                    body_hash,
                    prefix,
                    line_count,
                    parts,
                    now,
                )
                .await
            }
        }
    }

    /// Commits everything written.
    pub async fn finish(self) -> StoreResult<()> {
        match self {
            IngestTx::Sqlite(t) => t.finish().await,
            IngestTx::Postgres(t) => t.finish().await,
        }
    }

    /// Appends an audit row in the ingestion transaction.
    pub async fn append_audit(&mut self, entry: &AuditEntry) -> StoreResult<()> {
        match self {
            IngestTx::Sqlite(t) => t.append_audit(entry).await,
            IngestTx::Postgres(t) => t.append_audit(entry).await,
        }
    }

    /// Opens the per-delivery savepoint of a group.
    pub async fn savepoint(&mut self) -> StoreResult<()> {
        match self {
            IngestTx::Sqlite(t) => t.savepoint().await,
            IngestTx::Postgres(t) => t.savepoint().await,
        }
    }

    /// Keeps what was written since the savepoint.
    pub async fn release_savepoint(&mut self) -> StoreResult<()> {
        match self {
            IngestTx::Sqlite(t) => t.release_savepoint().await,
            IngestTx::Postgres(t) => t.release_savepoint().await,
        }
    }

    /// Undoes what was written since the savepoint.
    pub async fn rollback_to_savepoint(&mut self) -> StoreResult<()> {
        match self {
            IngestTx::Sqlite(t) => t.rollback_to_savepoint().await,
            IngestTx::Postgres(t) => t.rollback_to_savepoint().await,
        }
    }

    /// Gives up the transaction.
    pub async fn rollback(self) -> StoreResult<()> {
        match self {
            IngestTx::Sqlite(t) => t.rollback().await,
            IngestTx::Postgres(t) => t.rollback().await,
        }
    }
}
