//! Month close (api.md `POST /api/v1/months/{YYYY-MM}/close`, rules.md R7–R9):
//! one pro-forma invoice per SAAD and aid type for the closed month, and a
//! regularisation invoice per SAAD, aid type and earlier closed month of the
//! year whose recomputation now differs from what was already invoiced.
//!
//! The rules are in `crate::domain::reconciliation`; this module loads what
//! they need from storage, turns their results into invoice records and
//! stores them. Conventions and limits: `docs/month-close.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Europe::Paris;
use futures_util::TryStreamExt;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::model::{Event, OverrunAuthorisation, PlanVersion, Saad};
use crate::domain::params::Parameters;
use crate::domain::reconciliation::{
    BillableIntervention, LineAmounts, PlanInput, ReconciliationError, reconcile_month,
    regularisation_delta,
};
use crate::domain::types::{AidType, YearMonth};
use crate::storage::{
    BilledIntervention, CloseRejectionRecord, InvoiceKind, InvoiceLineRecord, InvoiceRecord,
    InvoiceStatus, MonthIntervention, MonthStatus, Store, StoreError,
};

use super::invoices::InvoiceSummary;

/// How far back (in months) the close looks for an earlier month that has
/// data and is still open.
pub const OPEN_MONTH_LOOKBACK: u32 = 24;

/// Why a month could not be closed.
#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    /// Out of order: the month is not over, or an earlier month is open (409).
    #[error("{0}")]
    Conflict(String),
    /// The rules could not compute (a parameter is missing).
    #[error(transparent)]
    Rules(#[from] ReconciliationError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The answer of a close: `{"month", "invoices": [InvoiceSummary]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloseOutcome {
    /// The closed month.
    pub month: YearMonth,
    /// Its pro-formas, then the regularisation invoices this close produced.
    pub invoices: Vec<InvoiceSummary>,
}

/// The deterministic id of the close run of `month`.
pub fn close_run_id(month: YearMonth) -> String {
    format!("close-{month}")
}

/// First instant of `month` + 1 in Europe/Paris: when `month` is over.
pub fn month_end_instant(month: YearMonth) -> Option<DateTime<Utc>> {
    let first = month.next().first_day().and_hms_opt(0, 0, 0)?;
    Paris
        .from_local_datetime(&first)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Closes `month` at `now` (gateway clock). Closing a closed month returns
/// the invoices of its close run.
///
/// Everything is computed first (reads only), then stored in ONE
/// transaction that claims the month with a compare-and-set: a concurrent
/// close (another request or another gateway process on the same
/// PostgreSQL) finds the month closed and writes nothing; both answer the
/// invoices stored by the close that won, re-read from storage.
pub async fn close_month(
    store: &Store,
    params: &Parameters,
    month: YearMonth,
    now: DateTime<Utc>,
) -> Result<CloseOutcome, CloseError> {
    let run_id = close_run_id(month);
    let record = store.get_month(month).await?;
    if record.status == MonthStatus::Closed {
        let run = record.close_run_id.unwrap_or(run_id);
        return Ok(CloseOutcome {
            month,
            invoices: invoices_of_run(store, &run).await?,
        });
    }
    let over = month_end_instant(month)
        .ok_or_else(|| CloseError::Conflict(format!("month {month} has no end instant")))?;
    if now < over {
        return Err(CloseError::Conflict(format!(
            "month {month} is not over by the gateway's clock (it ends {})",
            over.with_timezone(&Paris).to_rfc3339()
        )));
    }
    let closed: BTreeSet<YearMonth> = store.closed_months().await?.into_iter().collect();
    if let Some(open) = earlier_open_month_with_data(store, &closed, month).await? {
        return Err(CloseError::Conflict(format!(
            "month {open} has data and is still open: close it first"
        )));
    }

    let started = std::time::Instant::now();
    let data = YearData::load(store, month).await?;
    let loaded = started.elapsed();
    let mut invoices: Vec<(InvoiceRecord, Vec<InvoiceLineRecord>)> = Vec::new();

    let mut unpaid: Vec<CloseRejectionRecord> = Vec::new();

    // Pro-formas of the month, and what their lines did not pay.
    for group in data.compute(params, month)? {
        let lines: Vec<InvoiceLineRecord> = group
            .lines
            .iter()
            .enumerate()
            .map(|(i, line)| line.record(i, line.amounts))
            .collect();
        let proforma = invoice(
            &group.saad_siret,
            group.aid_type,
            month,
            InvoiceKind::Proforma,
            &run_id,
            now,
            lines,
        );
        for line in &group.lines {
            unpaid.extend(line.unpaid.iter().map(|u| CloseRejectionRecord {
                invoice_id: proforma.0.id.clone(),
                saad_siret: group.saad_siret.clone(),
                month,
                plan_ref: line.plan_ref.clone(),
                beneficiary_id: line.beneficiary_id.clone(),
                line_id: u.line_id.clone(),
                day: u.day,
                code: u.code.clone(),
                minutes: u.minutes,
                billed_minutes: u.billed_minutes,
                amount: u.amount,
            }));
        }
        invoices.push(proforma);
    }

    // Regularisations of the earlier closed months of the year.
    let mut m = january_of(month);
    while m < month {
        if closed.contains(&m) {
            invoices.extend(regularisations(store, params, &data, m, &run_id, now).await?);
        }
        m = m.next();
    }

    let computed = started.elapsed();
    let stored = store
        .close_month_with_rejections(month, now, &run_id, &invoices, &unpaid)
        .await;
    tracing::info!(
        %month,
        interventions = data.by_month.get(&month).map_or(0, Vec::len),
        invoices = invoices.len(),
        load_ms = loaded.as_millis(),
        compute_ms = (computed - loaded).as_millis(),
        store_ms = (started.elapsed() - computed).as_millis(),
        "month close computed and stored"
    );
    match stored {
        // Stored, or a concurrent close committed first: either way the
        // answer is what storage holds for the month's close run.
        Ok(_) => {}
        // A concurrent close stored the same deterministic ids first (the
        // primary key refused ours): ours was rolled back as a whole.
        Err(StoreError::Conflict(_))
            if store.get_month(month).await?.status == MonthStatus::Closed => {}
        Err(error) => return Err(error.into()),
    }
    let run = store.get_month(month).await?.close_run_id.unwrap_or(run_id);
    Ok(CloseOutcome {
        month,
        invoices: invoices_of_run(store, &run).await?,
    })
}

/// January of `month`'s year.
fn january_of(month: YearMonth) -> YearMonth {
    YearMonth::new(month.first_day().year(), 1).unwrap_or(month)
}

/// The earliest month of the `OPEN_MONTH_LOOKBACK` months before `month`
/// that is open and has a currently accepted intervention: one query per
/// run of consecutive open months (usually one).
async fn earlier_open_month_with_data(
    store: &Store,
    closed: &BTreeSet<YearMonth>,
    month: YearMonth,
) -> Result<Option<YearMonth>, StoreError> {
    let mut first = month;
    for _ in 0..OPEN_MONTH_LOOKBACK {
        first = first.previous();
    }
    let mut m = first;
    while m < month {
        if closed.contains(&m) {
            m = m.next();
            continue;
        }
        let run_start = m;
        while m < month && !closed.contains(&m) {
            m = m.next();
        }
        if let Some(start) = store.first_accepted_between(run_start, m).await? {
            return Ok(Some(YearMonth::of(
                start.with_timezone(&Paris).date_naive(),
            )));
        }
    }
    Ok(None)
}

/// The invoices a close run stored: pro-formas, then regularisations.
async fn invoices_of_run(store: &Store, run_id: &str) -> Result<Vec<InvoiceSummary>, StoreError> {
    Ok(store
        .invoices_of_close_run(run_id)
        .await?
        .iter()
        .map(InvoiceSummary::from)
        .collect())
}

/// What the close reads, loaded in bulk (a few queries whatever the number
/// of plans): the accepted interventions of January..=`month` per month
/// (streamed), every version of the plans they name, the overrun
/// authorisations of those months, the beneficiaries' events and the SAADs.
struct YearData {
    by_month: BTreeMap<YearMonth, Vec<MonthIntervention>>,
    versions: BTreeMap<String, Vec<PlanVersion>>,
    authorisations: BTreeMap<String, Vec<OverrunAuthorisation>>,
    events: BTreeMap<String, Vec<Event>>,
    saads: BTreeMap<String, Saad>,
}

/// An owned plan line as the close stores it.
#[derive(Debug, Clone)]
struct OwnedLine {
    plan_ref: String,
    beneficiary_id: String,
    hourly_rate: Decimal,
    /// R7 allotment of the month (prorata); `None` when not recomputed.
    allotted_minutes: Option<i64>,
    /// R7 carry-over into the month; `None` when not recomputed.
    carried_in_minutes: Option<i64>,
    amounts: LineAmounts,
    billed: Vec<BilledIntervention>,
    /// What the line did not pay (OVERRUN, RATE_ABOVE_CEILING).
    unpaid: Vec<Unpaid>,
}

/// An owned rejection of a plan line at close (R7 `OVERRUN`, R8
/// `RATE_ABOVE_CEILING`).
#[derive(Debug, Clone)]
struct Unpaid {
    code: String,
    line_id: Option<String>,
    day: Option<chrono::NaiveDate>,
    minutes: i64,
    billed_minutes: i64,
    amount: Option<Decimal>,
}

impl OwnedLine {
    fn record(&self, index: usize, amounts: LineAmounts) -> InvoiceLineRecord {
        InvoiceLineRecord {
            line_no: i64::try_from(index).unwrap_or(i64::MAX - 1) + 1,
            plan_ref: self.plan_ref.clone(),
            beneficiary_id: self.beneficiary_id.clone(),
            billed_minutes: amounts.billed_minutes,
            rejected_minutes: amounts.rejected_minutes,
            // Absolute figures of the month (also on a regularisation
            // line, whose minutes and amounts are deltas).
            allotted_minutes: self.allotted_minutes,
            carried_in_minutes: self.carried_in_minutes,
            hourly_rate: self.hourly_rate,
            valued_amount: amounts.valued_amount,
            participation_amount: amounts.participation_amount,
            amount_due: amounts.amount_due,
            interventions: self.billed.clone(),
        }
    }
}

/// An owned group of lines (one SAAD, one aid type).
#[derive(Debug, Clone)]
struct OwnedGroup {
    saad_siret: String,
    aid_type: AidType,
    lines: Vec<OwnedLine>,
}

impl YearData {
    async fn load(store: &Store, month: YearMonth) -> Result<Self, StoreError> {
        let started = std::time::Instant::now();
        let january = january_of(month);
        let mut by_month = BTreeMap::new();
        let mut m = january;
        loop {
            let rows: Vec<MonthIntervention> = store.accepted_in_month(m).try_collect().await?;
            by_month.insert(m, rows);
            if m >= month {
                break;
            }
            m = m.next();
        }
        let interventions_read = started.elapsed();
        let plan_refs: Vec<String> = by_month
            .values()
            .flatten()
            .map(|r| r.plan_ref.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut versions: BTreeMap<String, Vec<PlanVersion>> = BTreeMap::new();
        for version in store.plan_versions_of(&plan_refs).await? {
            versions
                .entry(version.plan_ref.clone())
                .or_default()
                .push(version);
        }
        let mut authorisations: BTreeMap<String, Vec<OverrunAuthorisation>> = BTreeMap::new();
        for auth in store.authorisations_between(january, month).await? {
            if auth.minutes > 0 {
                authorisations
                    .entry(auth.plan_ref.clone())
                    .or_default()
                    .push(auth);
            }
        }
        let beneficiaries: Vec<String> = versions
            .values()
            .flatten()
            .map(|v| v.beneficiary_id.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut events: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for event in store.events_of(&beneficiaries).await? {
            events
                .entry(event.beneficiary_id.clone())
                .or_default()
                .push(event);
        }
        let saads = store
            .list_saads()
            .await?
            .into_iter()
            .map(|s| (s.siret.as_str().to_owned(), s))
            .collect();
        tracing::debug!(
            %month,
            interventions_ms = interventions_read.as_millis(),
            plans_and_rest_ms = (started.elapsed() - interventions_read).as_millis(),
            "month close data loaded"
        );
        Ok(Self {
            by_month,
            versions,
            authorisations,
            events,
            saads,
        })
    }

    /// Reconciles `month` now (carry-over from January of its year).
    fn compute(
        &self,
        params: &Parameters,
        month: YearMonth,
    ) -> Result<Vec<OwnedGroup>, CloseError> {
        // Interventions of the year up to `month`, per (plan, SAAD); the
        // version billed of each (SAAD, line) of the month, hashed (one
        // entry per intervention: a tree would compare strings ~18 times
        // per insert and per look-up).
        let mut interventions: BTreeMap<(&str, &str), Vec<BillableIntervention>> = BTreeMap::new();
        let month_rows = self.by_month.get(&month).map_or(0, Vec::len);
        let mut version_ids: HashMap<(&str, &str), i64> = HashMap::with_capacity(month_rows);
        for (m, rows) in self.by_month.range(..=month) {
            for row in rows {
                if *m == month {
                    version_ids.insert((&row.saad_siret, &row.line_id), row.version_id);
                }
                interventions
                    .entry((&row.plan_ref, &row.saad_siret))
                    .or_default()
                    .push(BillableIntervention {
                        line_id: row.line_id.clone(),
                        day: row.period.day(),
                        start: row.period.start,
                        received_sequence: row.sequence,
                        rounded_minutes: row.rounded_minutes,
                        corrected: row.corrected,
                    });
            }
        }
        let no_events: Vec<Event> = Vec::new();
        let no_auths: Vec<OverrunAuthorisation> = Vec::new();
        let mut inputs = Vec::new();
        for ((plan_ref, siret), rows) in &interventions {
            let (Some(plan_versions), Some(saad)) =
                (self.versions.get(*plan_ref), self.saads.get(*siret))
            else {
                continue;
            };
            let Some(latest) = plan_versions.iter().max_by_key(|v| v.version) else {
                continue;
            };
            inputs.push(PlanInput {
                versions: plan_versions,
                saad,
                interventions: rows,
                events: self
                    .events
                    .get(&latest.beneficiary_id)
                    .unwrap_or(&no_events),
                authorisations: self.authorisations.get(*plan_ref).unwrap_or(&no_auths),
            });
        }
        let groups = reconcile_month(inputs, month, params)?;
        Ok(groups
            .into_iter()
            .map(|group| {
                let siret = group.saad_siret.as_str();
                OwnedGroup {
                    saad_siret: siret.to_owned(),
                    aid_type: group.aid_type,
                    lines: group
                        .lines
                        .iter()
                        .map(|line| OwnedLine {
                            plan_ref: line.plan_ref.to_owned(),
                            beneficiary_id: line.beneficiary_id.to_owned(),
                            hourly_rate: line.hourly_rate,
                            allotted_minutes: Some(line.allotted_minutes),
                            carried_in_minutes: Some(line.carry_in_minutes),
                            amounts: line.amounts,
                            billed: line
                                .interventions
                                .iter()
                                .filter_map(|b| {
                                    version_ids.get(&(siret, b.line_id)).map(|version_id| {
                                        BilledIntervention {
                                            version_id: *version_id,
                                            billed_minutes: b.billed_minutes,
                                            rejected_minutes: b.rejected_minutes,
                                        }
                                    })
                                })
                                .collect(),
                            unpaid: line
                                .rejections
                                .iter()
                                .map(|r| Unpaid {
                                    code: r.code.code().to_owned(),
                                    line_id: r.line_id.map(str::to_owned),
                                    day: r.day,
                                    minutes: r.minutes,
                                    billed_minutes: r.billed_minutes,
                                    amount: r.amount,
                                })
                                .collect(),
                        })
                        .collect(),
                }
            })
            .collect())
    }
}

/// The regularisation invoices of the closed month `m`, computed at the
/// close of `closing`.
async fn regularisations(
    store: &Store,
    params: &Parameters,
    data: &YearData,
    m: YearMonth,
    run_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(InvoiceRecord, Vec<InvoiceLineRecord>)>, CloseError> {
    // Everything already invoiced for `m`, per (SAAD, aid type, plan).
    type Key = (String, AidType);
    let mut invoiced: BTreeMap<Key, BTreeMap<String, Invoiced>> = BTreeMap::new();
    for (header, lines) in store.invoices_with_lines(m).await? {
        let per_plan = invoiced
            .entry((header.saad_siret.clone(), header.aid_type))
            .or_default();
        for line in lines {
            let entry = per_plan
                .entry(line.plan_ref.clone())
                .or_insert_with(|| (line.beneficiary_id.clone(), line.hourly_rate, Vec::new()));
            entry.2.push(LineAmounts {
                billed_minutes: line.billed_minutes,
                rejected_minutes: line.rejected_minutes,
                valued_amount: line.valued_amount,
                participation_amount: line.participation_amount,
                amount_due: line.amount_due,
            });
        }
    }
    let mut recomputed: BTreeMap<Key, BTreeMap<String, OwnedLine>> = BTreeMap::new();
    for group in data.compute(params, m)? {
        let lines = recomputed
            .entry((group.saad_siret.clone(), group.aid_type))
            .or_default();
        for line in group.lines {
            lines.insert(line.plan_ref.clone(), line);
        }
    }
    let keys: BTreeSet<Key> = invoiced.keys().chain(recomputed.keys()).cloned().collect();
    let mut out = Vec::new();
    for key in keys {
        let before = invoiced.get(&key);
        let now_lines = recomputed.get(&key);
        let plans: BTreeSet<&String> = before
            .into_iter()
            .flat_map(|b| b.keys())
            .chain(now_lines.into_iter().flat_map(|n| n.keys()))
            .collect();
        let mut lines = Vec::new();
        for plan_ref in plans {
            let previous = before
                .and_then(|b| b.get(plan_ref))
                .map(|p| p.2.as_slice())
                .unwrap_or(&[]);
            let line = match now_lines.and_then(|n| n.get(plan_ref)) {
                Some(line) => line.clone(),
                None => {
                    let Some((beneficiary_id, rate, _)) = before.and_then(|b| b.get(plan_ref))
                    else {
                        continue;
                    };
                    OwnedLine {
                        plan_ref: plan_ref.clone(),
                        beneficiary_id: beneficiary_id.clone(),
                        hourly_rate: *rate,
                        allotted_minutes: None,
                        carried_in_minutes: None,
                        amounts: LineAmounts::default(),
                        billed: Vec::new(),
                        unpaid: Vec::new(),
                    }
                }
            };
            let delta = regularisation_delta(&line.amounts, previous);
            if delta != LineAmounts::default() {
                lines.push(line.record(lines.len(), delta));
            }
        }
        if !lines.is_empty() {
            out.push(invoice(
                &key.0,
                key.1,
                m,
                InvoiceKind::Regularisation,
                run_id,
                now,
                lines,
            ));
        }
    }
    Ok(out)
}

/// What was already invoiced for a plan line: beneficiary, rate, figures.
type Invoiced = (String, Decimal, Vec<LineAmounts>);

/// An invoice header over its lines (totals = sums of rounded lines).
fn invoice(
    saad_siret: &str,
    aid_type: AidType,
    month: YearMonth,
    kind: InvoiceKind,
    run_id: &str,
    now: DateTime<Utc>,
    lines: Vec<InvoiceLineRecord>,
) -> (InvoiceRecord, Vec<InvoiceLineRecord>) {
    let totals = lines.iter().fold(LineAmounts::default(), |sum, line| {
        sum.plus(&LineAmounts {
            billed_minutes: line.billed_minutes,
            rejected_minutes: line.rejected_minutes,
            valued_amount: line.valued_amount,
            participation_amount: line.participation_amount,
            amount_due: line.amount_due,
        })
    });
    // At most 35 characters (exports): `F202401P-{siret}-APA`, or
    // `F202401R02-{siret}-APA` for January regularised at February's close.
    let compact = month.to_string().replace('-', "");
    let kind_code = match kind {
        InvoiceKind::Proforma => "P".to_owned(),
        InvoiceKind::Regularisation => format!(
            "R{}",
            run_id.get(run_id.len().saturating_sub(2)..).unwrap_or("")
        ),
    };
    let id = format!("F{compact}{kind_code}-{saad_siret}-{}", aid_type.code());
    (
        InvoiceRecord {
            id,
            saad_siret: saad_siret.to_owned(),
            aid_type,
            month,
            kind,
            status: InvoiceStatus::Proforma,
            line_count: i64::try_from(lines.len()).unwrap_or(i64::MAX),
            billed_minutes: totals.billed_minutes,
            rejected_minutes: totals.rejected_minutes,
            valued_amount: totals.valued_amount,
            participation_amount: totals.participation_amount,
            amount_due: totals.amount_due,
            created_at: now,
            close_run_id: run_id.to_owned(),
            batch_id: None,
        },
        lines,
    )
}
