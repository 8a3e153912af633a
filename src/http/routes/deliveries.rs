//! S `POST /api/v1/deliveries` (api.md "SAAD endpoints", rules.md R6 and
//! "ESPPADOM mapping"): an ESPPADOM DELIVERY (`application/xml`) or a JSON
//! delivery (`application/json`), answered with a Receipt.
//!
//! The handler only orchestrates: read the body within its limit while
//! hashing it (SHA-256 of the bytes received: the idempotency fingerprint of
//! the request), turn it into [`InterventionSubmission`]s (the XML reader or
//! the JSON shape below), choose the transmission id, and call
//! [`ingest_delivery`]. Every rule lives in the domain.
//!
//! Choices (see docs/deliveries.md):
//! - the body is read chunk by chunk up to its limit
//!   (`BodyLimits::delivery_bytes` for XML, `BodyLimits::default_bytes` for
//!   JSON), 413 past it; an XML body is spooled to a temporary file past
//!   256 KiB and read from there by the streaming [`DeliveryReader`] on a
//!   blocking thread, so only its parsed lines are held in memory;
//! - a JSON body that is not well-formed or lacks a required field is 400
//!   `invalid_json`; a well-formed line with an unusable value (a worker id
//!   that is not one, a date-time that does not parse) rejects only that line
//!   with `INVALID_MESSAGE`, like an unusable ESPPADOM message;
//! - a re-sent body is "the same" when its bytes are the same.

use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::{self, HeaderMap};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tempfile::SpooledTempFile;

use crate::domain::model::{InterventionSubmission, LineStatus, MessageProblem};
use crate::domain::time::Stamp;
use crate::domain::types::{Siret, WorkerId};
use crate::http::auth::{Principal, require_saad};
use crate::http::clock::Clock;
use crate::http::error::{ApiError, SyntaxLocation, parse_json};
use crate::http::gateway::AppState;
use crate::http::metrics::{InterventionOutcome, Metrics};
use crate::http::routes::audit::{AuditRecord, audit, entry as audit_entry, outcome_of};
use crate::http::server::{BodyLimits, DeliveryParts};
use crate::service::ingest::{
    IngestError, Ingested, LineTally, ReceiptInParts, ingest_delivery, ingest_in_parts,
};
use crate::service::receipt::Receipt;
use crate::storage::{Part, RECEIPT_PARTS_END, Store};
use crate::xml::DeliveryLine;
use crate::xml::{DeliveryReader, Limits, XmlError};

/// Warning on a DELIVERY message whose `ShipFromCITradeParty` has no SIRET
/// (rules.md "ESPPADOM mapping": taken for the token's SAAD).
pub const NO_SIRET_WARNING: &str =
    "no SIRET in ShipFromCITradeParty: the message is taken for the SAAD of the token";

/// The media types the route takes.
const ACCEPTED: &[&str] = &["application/xml", "application/json"];

/// `POST /api/v1/deliveries`.
// actix extractors, one per argument.
#[allow(clippy::too_many_arguments)]
pub async fn post_delivery(
    request: HttpRequest,
    principal: Principal,
    payload: web::Payload,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
    metrics: web::Data<Metrics>,
    limits: web::Data<BodyLimits>,
    parts: web::Data<DeliveryParts>,
) -> Result<HttpResponse, ApiError> {
    // Every delivery, stored, replayed or refused, leaves an audit row
    // naming the token and the transmission (never the body's content). A
    // stored delivery's row is written in its own transaction (no write lock
    // of its own, never lost when the delivery is kept); the others here.
    let mut note = AuditNote::default();
    let result = receive_delivery(
        &request, &principal, payload, &state, &clock, &metrics, &limits, &parts, &mut note,
    )
    .await;
    if !note.written {
        let record = AuditRecord {
            action: DELIVERY_ACTION,
            target: note.transmission,
            saad_siret: None,
            detail: note
                .detail
                .or_else(|| result.as_ref().err().map(|e| e.code().to_owned())),
        };
        audit(&state, &clock, &principal, record, outcome_of(&result)).await;
    }
    result
}

/// The audit action of this route.
const DELIVERY_ACTION: &str = "POST /api/v1/deliveries";

/// What [`receive_delivery`] learnt for the audit row.
#[derive(Debug, Default)]
struct AuditNote {
    transmission: Option<String>,
    detail: Option<String>,
    /// The row was written with the stored delivery.
    written: bool,
}

/// The work of [`post_delivery`]; `transmission` and `detail` are filled
/// as soon as they are known, for the audit row.
// The route's extractors, passed through as they are.
#[allow(clippy::too_many_arguments)]
async fn receive_delivery(
    request: &HttpRequest,
    principal: &Principal,
    payload: web::Payload,
    state: &AppState,
    clock: &Clock,
    metrics: &Metrics,
    limits: &BodyLimits,
    parts: &DeliveryParts,
    note: &mut AuditNote,
) -> Result<HttpResponse, ApiError> {
    let received = Instant::now();
    let siret = require_saad(principal)?;
    let saad = Siret::parse(siret).map_err(ApiError::internal)?;
    let kind = body_kind(request.headers())?;
    let idempotency_key = idempotency_key(request.headers())?;
    let limit = match kind {
        BodyKind::Xml => limits.delivery_bytes,
        BodyKind::Json => limits.default_bytes,
    };
    let (transmission_id, body_hash, lines, now, started) = match kind {
        BodyKind::Xml => {
            // Spooled to a temporary file past SPOOL_IN_MEMORY bytes, then
            // read by the streaming reader on a blocking thread: a large
            // DELIVERY is never held in memory, only its parsed lines.
            let mut spool = SpooledTempFile::new(SPOOL_IN_MEMORY);
            let body_hash = read_body(payload, limit, &mut spool).await?;
            let spool_len = spool.stream_position().map_err(ApiError::internal)?;
            let (now, started) = (clock.now(), Instant::now());
            let token_siret = siret.to_owned();
            let max_bytes = limits.delivery_bytes;
            if usize::try_from(spool_len).unwrap_or(usize::MAX) > parts.bytes {
                // Read and ingested part by part: never held whole.
                spool.seek(SeekFrom::Start(0)).map_err(ApiError::internal)?;
                let mut reading = ReadingInParts::start(spool, token_siret, max_bytes, parts.lines);
                let first = reading.first().await?;
                let id = transmission_id_of(idempotency_key, first.transaction_id)?;
                if !first.complete {
                    let delivery = InParts {
                        saad,
                        transmission_id: id,
                        body_hash,
                        first: first.lines,
                        reading,
                        now,
                    };
                    return receive_in_parts(delivery, principal, state, clock, metrics, note)
                        .await;
                }
                // One part only: an ordinary delivery.
                (id, body_hash, first.lines, now, started)
            } else {
                let read = move || {
                    spool.seek(SeekFrom::Start(0)).map_err(ApiError::internal)?;
                    xml_lines(
                        BufReader::with_capacity(
                            usize::try_from(spool_len)
                                .unwrap_or(usize::MAX)
                                .clamp(4096, 64 * 1024),
                            spool,
                        ),
                        &token_siret,
                        max_bytes,
                    )
                };
                // A small body (a real-time post of a few visits) is read here:
                // handing it to the blocking pool costs more than reading it.
                let (first_tid, lines) = if spool_len <= READ_INLINE_BYTES {
                    read()?
                } else {
                    web::block(read).await.map_err(ApiError::internal)??
                };
                let id = transmission_id_of(idempotency_key, first_tid)?;
                (id, body_hash, lines, now, started)
            }
        }
        BodyKind::Json => {
            let mut body = Vec::new();
            let body_hash = read_body(payload, limit, &mut body).await?;
            let (now, started) = (clock.now(), Instant::now());
            let delivery: JsonDelivery = parse_json(&body)?;
            drop(body);
            if let Some(key) = &idempotency_key
                && *key != delivery.transmission_id
            {
                return Err(ApiError::bad_request(
                    "the Idempotency-Key header differs from the body's transmission_id",
                    None,
                ));
            }
            if delivery.transmission_id.trim().is_empty() {
                return Err(ApiError::bad_request("transmission_id is empty", None));
            }
            let lines: Vec<InterventionSubmission> = delivery
                .interventions
                .into_iter()
                .enumerate()
                .map(|(index, line)| line.into_submission(index))
                .collect();
            (delivery.transmission_id, body_hash, lines, now, started)
        }
    };

    let parsed = Instant::now();
    note.transmission = Some(transmission_id.clone());
    let stored_entry = audit_entry(
        clock,
        principal,
        AuditRecord {
            action: DELIVERY_ACTION,
            target: Some(transmission_id.clone()),
            saad_siret: None,
            detail: None,
        },
        "stored".to_owned(),
    );
    let ingested = ingest_delivery(
        &state.store,
        Arc::clone(&state.params),
        &saad,
        &transmission_id,
        &body_hash,
        lines,
        now,
        Some(stored_entry),
    )
    .await
    .map_err(ingest_error)?;
    tracing::debug!(
        body = ?started.duration_since(received),
        parse = ?parsed.duration_since(started),
        ingest = ?parsed.elapsed(),
        "delivery timings"
    );
    metrics
        .ingestion_seconds()
        .observe(started.elapsed().as_secs_f64());
    Ok(answer(ingested, &state.store, &saad, metrics, note))
}

/// The receipt of an ingested delivery (recorded in the metrics and the
/// audit note when stored now).
fn answer(
    ingested: Ingested,
    store: &Store,
    saad: &Siret,
    metrics: &Metrics,
    note: &mut AuditNote,
) -> HttpResponse {
    match ingested {
        Ingested::Stored(receipt) => {
            record(metrics, &receipt);
            note.written = true;
            note.detail = Some(format!(
                "{} lines, {} rejected",
                receipt.lines.len(),
                receipt.rejected
            ));
            HttpResponse::Ok().json(receipt)
        }
        Ingested::Replayed(receipt) => {
            note.detail = Some(REPLAY_DETAIL.to_owned());
            HttpResponse::Ok().json(receipt)
        }
        Ingested::InParts(receipt) => {
            if receipt.stored {
                record_tally(metrics, &receipt.tally);
                note.written = true;
                note.detail = Some(format!(
                    "{} lines, {} rejected",
                    receipt.tally.accepted + receipt.tally.rejected_lines(),
                    receipt.tally.rejected_lines()
                ));
            } else {
                note.detail = Some(REPLAY_DETAIL.to_owned());
            }
            receipt_in_parts(store.clone(), saad.as_str().to_owned(), receipt)
        }
    }
}

/// The audit detail of a replayed transmission.
const REPLAY_DETAIL: &str = "replay of the first receipt";

/// A receipt kept in parts, streamed as it is read back from storage: the
/// same bytes as the receipt written whole (`service::receipt::receipt_prefix`).
/// A part that cannot be read cuts the answer short (the connection
/// closes): sending the transmission again gives the receipt.
fn receipt_in_parts(store: Store, saad: String, receipt: ReceiptInParts) -> HttpResponse {
    let ReceiptInParts {
        transmission_id,
        prefix,
        parts,
        ..
    } = receipt;
    let head = futures_util::stream::once(async move { Ok::<_, ApiError>(Bytes::from(prefix)) });
    let lines = futures_util::stream::iter(1..=parts).then(move |part_no| {
        let (store, saad, transmission_id) = (store.clone(), saad.clone(), transmission_id.clone());
        async move {
            let part = store
                .receipt_part(&saad, &transmission_id, part_no)
                .await
                .map_err(super::store_error)?
                .ok_or_else(|| {
                    ApiError::internal(std::io::Error::other(format!(
                        "part {part_no} of the receipt of '{transmission_id}' is missing"
                    )))
                })?;
            let mut bytes = String::with_capacity(part.len() + 1);
            if part_no > 1 {
                bytes.push(',');
            }
            bytes.push_str(&part);
            Ok(Bytes::from(bytes))
        }
    });
    let tail =
        futures_util::stream::once(async { Ok(Bytes::from_static(RECEIPT_PARTS_END.as_bytes())) });
    HttpResponse::Ok()
        .content_type("application/json")
        .streaming(head.chain(lines).chain(tail))
}

/// A delivery read and ingested part by part.
struct InParts {
    saad: Siret,
    transmission_id: String,
    body_hash: String,
    first: Vec<InterventionSubmission>,
    reading: ReadingInParts,
    now: chrono::DateTime<chrono::Utc>,
}

/// Ingests a delivery in parts (`service::ingest::ingest_in_parts`) and
/// answers its receipt; a reading that fails part-way answers the reader's
/// error (400 or 422 with its location), nothing of the delivery stored.
async fn receive_in_parts(
    delivery: InParts,
    principal: &Principal,
    state: &AppState,
    clock: &Clock,
    metrics: &Metrics,
    note: &mut AuditNote,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    note.transmission = Some(delivery.transmission_id.clone());
    let stored_entry = audit_entry(
        clock,
        principal,
        AuditRecord {
            action: DELIVERY_ACTION,
            target: Some(delivery.transmission_id.clone()),
            saad_siret: None,
            detail: None,
        },
        "stored".to_owned(),
    );
    let ReadingInParts { later, thread, .. } = delivery.reading;
    let ingested = ingest_in_parts(
        &state.store,
        Arc::clone(&state.params),
        &delivery.saad,
        &delivery.transmission_id,
        &delivery.body_hash,
        delivery.first,
        later,
        delivery.now,
        Some(stored_entry),
    )
    .await;
    let ingested = match ingested {
        Ok(ingested) => ingested,
        Err(IngestError::Unfinished) => {
            // The reader stopped: its error says where and why.
            return Err(match thread.await {
                Ok(Err(error)) => error,
                Ok(Ok(())) => ApiError::internal(std::io::Error::other(
                    "the delivery reader stopped without an error",
                )),
                Err(error) => ApiError::internal(error),
            });
        }
        Err(error) => return Err(ingest_error(error)),
    };
    tracing::debug!(ingest = ?started.elapsed(), "delivery in parts timings");
    metrics
        .ingestion_seconds()
        .observe(started.elapsed().as_secs_f64());
    Ok(answer(
        ingested,
        &state.store,
        &delivery.saad,
        metrics,
        note,
    ))
}

/// Counts the lines of a delivery stored in parts.
fn record_tally(metrics: &Metrics, tally: &LineTally) {
    for _ in 0..tally.accepted {
        metrics.record_intervention(InterventionOutcome::Accepted, "");
    }
    for (code, count) in &tally.rejected {
        for _ in 0..*count {
            metrics.record_intervention(InterventionOutcome::Rejected, code);
        }
    }
}

/// Counts each line of a newly stored receipt (replays are not counted twice).
fn record(metrics: &Metrics, receipt: &Receipt) {
    for line in &receipt.lines {
        match line.status {
            LineStatus::Accepted => metrics.record_intervention(InterventionOutcome::Accepted, ""),
            LineStatus::Rejected => {
                let code = line.reasons.first().map(|r| r.code.as_str()).unwrap_or("");
                metrics.record_intervention(InterventionOutcome::Rejected, code);
            }
        }
    }
}

/// How an ingestion failure answers.
fn ingest_error(error: IngestError) -> ApiError {
    match error {
        IngestError::TransmissionConflict(_) => ApiError::Conflict {
            message: error.to_string(),
            details: None,
        },
        IngestError::Store(store) => super::store_error(store),
        // A parameter the charter lacks for a line's day: 422 saying which
        // and how to fix it (nothing of the delivery was stored).
        IngestError::Parameters(parameters) => super::charter_error(parameters),
        // The group committer's queue is full: refused at once, retry soon.
        IngestError::Overloaded(cause) => ApiError::ingestion_overloaded(cause),
        IngestError::CorruptReceipt(_) | IngestError::Unfinished => ApiError::internal(error),
    }
}

/// The transmission id of an ESPPADOM DELIVERY: the `Idempotency-Key`
/// header, else its first message's `SpecifiedTransactionID` (rules.md R6).
fn transmission_id_of(
    idempotency_key: Option<String>,
    first_transaction_id: Option<String>,
) -> Result<String, ApiError> {
    idempotency_key.or(first_transaction_id).ok_or_else(|| {
        ApiError::bad_request(
            "no transmission id: the DELIVERY has no SpecifiedTransactionID in its first message and the request has no Idempotency-Key header",
            None,
        )
    })
}

/// The two bodies the route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    Xml,
    Json,
}

/// `application/xml` (or `text/xml`) or `application/json`; 415 otherwise.
fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "application/xml" | "text/xml" => Ok(BodyKind::Xml),
        "application/json" => Ok(BodyKind::Json),
        _ => Err(ApiError::unsupported_media_type(ACCEPTED)),
    }
}

/// The `Idempotency-Key` header, when present (400 when empty or not text).
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map(|v| v.trim().to_owned())
        .map_err(|_| ApiError::bad_request("the Idempotency-Key header is not text", None))?;
    if key.is_empty() || key.len() > 200 {
        return Err(ApiError::bad_request(
            "the Idempotency-Key header must hold 1 to 200 characters",
            None,
        ));
    }
    Ok(Some(key))
}

/// Bytes of an XML body kept in memory before it is spooled to a temporary
/// file.
const SPOOL_IN_MEMORY: usize = 256 * 1024;

/// An XML body up to this size is read on the request's own thread (tens of
/// microseconds); a larger one on the blocking pool.
const READ_INLINE_BYTES: u64 = 16 * 1024;

/// Reads the body chunk by chunk into `sink`, refusing it (413) as soon as
/// it passes `limit`, and hashes it as it arrives (hex SHA-256).
async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    sink: &mut impl Write,
) -> Result<String, ApiError> {
    let mut received = 0usize;
    let mut hasher = Sha256::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {e}"), None)
        })?;
        received += chunk.len();
        if received > limit {
            return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
        }
        hasher.update(&chunk);
        sink.write_all(&chunk).map_err(ApiError::internal)?;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Reads a DELIVERY: the `SpecifiedTransactionID` of its first message and
/// the submissions. A message naming another SAAD's SIRET refuses the whole
/// request (422, `SAAD_MISMATCH`); one without SIRET gets a warning.
fn xml_lines(
    body: impl BufRead,
    token_siret: &str,
    max_bytes: usize,
) -> Result<(Option<String>, Vec<InterventionSubmission>), ApiError> {
    let mut reader = delivery_reader(body, max_bytes);
    let mut first_tid = None;
    let mut lines = Vec::new();
    while let Some(line) = reader.next_line().map_err(xml_error)? {
        if lines.is_empty() {
            first_tid = line.transaction_id.clone();
        }
        lines.push(checked_line(line, token_siret)?);
    }
    Ok((first_tid, lines))
}

fn delivery_reader<R: BufRead>(body: R, max_bytes: usize) -> DeliveryReader<R> {
    let limits = Limits {
        max_document_bytes: max_bytes as u64,
        ..Limits::default()
    };
    DeliveryReader::with_limits(body, limits)
}

/// A line's submission, after the check of the SAAD its message names
/// (rules.md "ESPPADOM mapping").
fn checked_line(line: DeliveryLine, token_siret: &str) -> Result<InterventionSubmission, ApiError> {
    let mut submission = line.submission;
    match line.saad_siret.as_deref().map(str::trim) {
        None | Some("") => submission.warnings.push(NO_SIRET_WARNING.to_owned()),
        Some(named) if named == token_siret => {}
        Some(_) => {
            return Err(ApiError::unprocessable(
                format!(
                    "SAAD_MISMATCH: message {} (intervention '{}') names another SAAD than the one of the token in ShipFromCITradeParty/SIRET; nothing of this request was stored",
                    line.index, submission.line_id
                ),
                Some(serde_json::json!({
                    "code": "SAAD_MISMATCH",
                    "message_index": line.index,
                    "line": line.line,
                    "column": line.column,
                })),
            ));
        }
    }
    Ok(submission)
}

/// The first part of a DELIVERY read in parts.
struct FirstPart {
    /// Its first message's `SpecifiedTransactionID`.
    transaction_id: Option<String>,
    lines: Vec<InterventionSubmission>,
    /// The whole delivery fitted in this part.
    complete: bool,
}

/// A DELIVERY being read in parts on a blocking thread: the first part
/// comes back on its own (it names the transmission), the later ones go to
/// `later` (then [`Part::End`]) as the ingestion takes them, at most one
/// part ahead. A reading error before the first part comes back in its
/// place; after it, the thread stops, `later` closes without `End`, and
/// the error is the thread's result.
struct ReadingInParts {
    first: tokio::sync::oneshot::Receiver<Result<FirstPart, ApiError>>,
    later: tokio::sync::mpsc::Receiver<Part>,
    thread: tokio::task::JoinHandle<Result<(), ApiError>>,
}

impl ReadingInParts {
    fn start(
        body: SpooledTempFile,
        token_siret: String,
        max_bytes: usize,
        part_lines: usize,
    ) -> Self {
        let (first_sender, first) = tokio::sync::oneshot::channel();
        let (sender, later) = tokio::sync::mpsc::channel(1);
        let thread = tokio::task::spawn_blocking(move || {
            let body = BufReader::with_capacity(64 * 1024, body);
            read_in_parts(
                body,
                &token_siret,
                max_bytes,
                part_lines.max(1),
                first_sender,
                &sender,
            )
        });
        Self {
            first,
            later,
            thread,
        }
    }

    /// The first part, or why the delivery cannot be read.
    async fn first(&mut self) -> Result<FirstPart, ApiError> {
        match (&mut self.first).await {
            Ok(first) => first,
            Err(_) => Err(match (&mut self.thread).await {
                Ok(Err(error)) => error,
                Ok(Ok(())) => ApiError::internal(std::io::Error::other(
                    "the delivery reader stopped without a first part",
                )),
                Err(error) => ApiError::internal(error),
            }),
        }
    }
}

fn read_in_parts(
    body: impl BufRead,
    token_siret: &str,
    max_bytes: usize,
    part_lines: usize,
    first: tokio::sync::oneshot::Sender<Result<FirstPart, ApiError>>,
    later: &tokio::sync::mpsc::Sender<Part>,
) -> Result<(), ApiError> {
    let mut sink = PartSink {
        first: Some(first),
        later,
        transaction_id: None,
    };
    match read_parts(body, token_siret, max_bytes, part_lines, &mut sink) {
        Ok(()) => Ok(()),
        Err(error) => match sink.first.take() {
            Some(first) => {
                let _ = first.send(Err(error));
                Ok(())
            }
            None => Err(error),
        },
    }
}

/// Where [`read_in_parts`] sends the parts.
struct PartSink<'a> {
    first: Option<tokio::sync::oneshot::Sender<Result<FirstPart, ApiError>>>,
    later: &'a tokio::sync::mpsc::Sender<Part>,
    transaction_id: Option<String>,
}

impl PartSink<'_> {
    /// Sends a part; `false` when the ingestion no longer takes parts (a
    /// replay, a failure): nothing more to read.
    fn send(&mut self, lines: Vec<InterventionSubmission>, complete: bool) -> bool {
        match self.first.take() {
            Some(first) => first
                .send(Ok(FirstPart {
                    transaction_id: self.transaction_id.take(),
                    lines,
                    complete,
                }))
                .is_ok(),
            None => {
                (lines.is_empty() || self.later.blocking_send(Part::Lines(lines)).is_ok())
                    && (!complete || self.later.blocking_send(Part::End).is_ok())
            }
        }
    }
}

fn read_parts(
    body: impl BufRead,
    token_siret: &str,
    max_bytes: usize,
    part_lines: usize,
    sink: &mut PartSink<'_>,
) -> Result<(), ApiError> {
    let mut reader = delivery_reader(body, max_bytes);
    let mut part: Vec<InterventionSubmission> = Vec::with_capacity(part_lines);
    let mut first_line = true;
    while let Some(line) = reader.next_line().map_err(xml_error)? {
        if first_line {
            sink.transaction_id = line.transaction_id.clone();
            first_line = false;
        }
        part.push(checked_line(line, token_siret)?);
        if part.len() == part_lines {
            let full = std::mem::replace(&mut part, Vec::with_capacity(part_lines));
            if !sink.send(full, false) {
                return Ok(());
            }
        }
    }
    sink.send(part, true);
    Ok(())
}

/// A whole-document refusal of the reader: 400 `invalid_xml` with its
/// location.
fn xml_error(error: XmlError) -> ApiError {
    ApiError::InvalidXml(SyntaxLocation {
        message: error.message,
        line: error.line,
        column: error.column,
        path: Some(error.path),
    })
}

/// A JSON delivery (api.md "Delivery").
#[derive(Debug, Deserialize)]
pub(super) struct JsonDelivery {
    transmission_id: String,
    interventions: Vec<JsonLine>,
}

/// One JSON line; values the rules judge are kept as text and parsed in
/// [`JsonLine::into_submission`], so that a bad value rejects only its line.
#[derive(Debug, Deserialize)]
pub(super) struct JsonLine {
    line_id: String,
    #[serde(default)]
    plan_ref: Option<String>,
    beneficiary_id: String,
    #[serde(default)]
    worker_id: Option<String>,
    #[serde(default)]
    aid_type: Option<String>,
    #[serde(default)]
    raw_start: Option<String>,
    #[serde(default)]
    raw_end: Option<String>,
    #[serde(default)]
    corrected_start: Option<String>,
    #[serde(default)]
    corrected_end: Option<String>,
    #[serde(default)]
    correction_reason: Option<String>,
    #[serde(default)]
    declarative: Option<bool>,
    #[serde(default)]
    timesheet_ref: Option<String>,
}

impl JsonLine {
    /// The submission; the first unusable value becomes the line's
    /// [`MessageProblem`] (`INVALID_MESSAGE`), located by its field path
    /// (line and column 1: the body is well-formed, the value is wrong).
    fn into_submission(self, index: usize) -> InterventionSubmission {
        let mut problems: Vec<(&'static str, String)> = Vec::new();
        let raw_start = parse_stamp("raw_start", self.raw_start, &mut problems);
        let raw_end = parse_stamp("raw_end", self.raw_end, &mut problems);
        let corrected_start = parse_stamp("corrected_start", self.corrected_start, &mut problems);
        let corrected_end = parse_stamp("corrected_end", self.corrected_end, &mut problems);
        let worker_id = self.worker_id.and_then(|w| match WorkerId::parse(&w) {
            Ok(id) => Some(id),
            Err(error) => {
                problems.push(("worker_id", error.message));
                None
            }
        });
        let problem = problems
            .into_iter()
            .next()
            .map(|(field, message)| MessageProblem {
                message,
                path: format!("interventions[{index}].{field}"),
                line: 1,
                column: 1,
            });
        let mut warnings = Vec::new();
        if worker_id.is_none() && problem.is_none() {
            warnings.push(crate::xml::delivery::NO_WORKER_WARNING.to_owned());
        }
        InterventionSubmission {
            line_id: self.line_id,
            plan_ref: self.plan_ref,
            beneficiary_id: self.beneficiary_id,
            worker_id,
            aid_type: self.aid_type,
            raw_start,
            raw_end,
            corrected_start,
            corrected_end,
            correction_reason: self.correction_reason,
            declarative: self.declarative,
            timesheet_ref: self.timesheet_ref,
            warnings,
            problem,
            ..InterventionSubmission::default()
        }
    }
}

/// Parses an optional date-time field, noting a failure in `problems`.
fn parse_stamp(
    field: &'static str,
    text: Option<String>,
    problems: &mut Vec<(&'static str, String)>,
) -> Option<Stamp> {
    let text = text?;
    match Stamp::parse(&text) {
        Ok(stamp) => Some(stamp),
        Err(error) => {
            problems.push((field, error.to_string()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;
    use actix_web::http::StatusCode;

    #[test]
    fn a_full_ingestion_queue_answers_503_with_retry_after_one_second() {
        let api = ingest_error(IngestError::Overloaded(
            crate::storage::GroupError::Overloaded {
                deliveries: 2_048,
                lines: 2_048,
            },
        ));
        assert_eq!(api.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.code(), "unavailable");
        assert_eq!(api.retry_after_seconds(), Some(1));
        let response = api.render(Some("req-1"));
        assert_eq!(
            response.headers().get("retry-after").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        // The message says what to do, not the queue's internals.
        assert_eq!(
            api.public_message(),
            "ingestion (queue full) unavailable, retry later"
        );
    }
}
