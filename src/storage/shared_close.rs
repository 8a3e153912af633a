// Month close, invoice and batch queries shared by both backends (rules.md
// R7–R9). Like `shared.rs`, this file is not a module: it is `include!`d by
// `sqlite.rs` and `postgres.rs` after `shared.rs`, whose helpers (`get`,
// `ts`, `dec`, `plan_from_row`, `invoice_from_row`, the `in_list!` macro…)
// it uses. Kept apart so that the ingestion queries of `shared.rs` and the
// close queries can change independently.
//
// The close is one transaction ([`close_month_with_invoices`]): the month's
// row is claimed with a compare-and-set (`status <> 'closed'`), then every
// invoice and line (its traceability packed in it) is written in bulk. A concurrent close
// (another request, another gateway process on the same PostgreSQL) either
// waits for the row lock and finds the month closed, or is refused by the
// invoices' primary key; either way exactly one set of invoices is stored.

use crate::storage::{CloseRejectionRecord, SaadInvoiceLineRecord};

/// Most bound values in one statement: PostgreSQL allows 65 535, the
/// SQLite bundled with sqlx 32 766 (`SQLITE_MAX_VARIABLE_NUMBER`).
const MAX_BINDS_PER_STATEMENT: usize = 32_000;

fn invoice_line_from_row(row: &DbRow) -> StoreResult<InvoiceLineRecord> {
    Ok(InvoiceLineRecord {
        line_no: get(row, "line_no")?,
        plan_ref: get(row, "plan_ref")?,
        beneficiary_id: get(row, "beneficiary_id")?,
        billed_minutes: get(row, "billed_minutes")?,
        rejected_minutes: get(row, "rejected_minutes")?,
        allotted_minutes: get(row, "allotted_minutes")?,
        carried_in_minutes: get(row, "carried_in_minutes")?,
        hourly_rate: get_dec(row, "hourly_rate")?,
        valued_amount: get_dec(row, "valued_amount")?,
        participation_amount: get_dec(row, "participation_amount")?,
        amount_due: get_dec(row, "amount_due")?,
        interventions: unpack_traces(&get::<String>(row, "interventions")?)?,
    })
}

/// An invoice line's traceability as stored (`invoice_lines.interventions`):
/// one JSON array `[[version_id, billed_minutes, rejected_minutes], ...]`
/// in version order.
fn pack_traces(traces: &[BilledIntervention]) -> StoreResult<String> {
    let mut rows: Vec<[i64; 3]> = traces
        .iter()
        .map(|b| [b.version_id, b.billed_minutes, b.rejected_minutes])
        .collect();
    rows.sort_unstable();
    Ok(serde_json::to_string(&rows)?)
}

/// [`pack_traces`] read back.
fn unpack_traces(packed: &str) -> StoreResult<Vec<BilledIntervention>> {
    let rows: Vec<[i64; 3]> = serde_json::from_str(packed)
        .map_err(|e| StoreError::corrupt(format!("invoice line traceability {packed:.40}: {e}")))?;
    Ok(rows
        .into_iter()
        .map(|[version_id, billed_minutes, rejected_minutes]| BilledIntervention {
            version_id,
            billed_minutes,
            rejected_minutes,
        })
        .collect())
}

impl BackendStore {
    /// Stores the close of `month` in one transaction: the month's row
    /// (compare-and-set from open), every invoice with its lines and their
    /// traceability. `Ok(false)` (nothing written) when the month was
    /// already closed, possibly by a concurrent close that committed first.
    pub(crate) async fn close_month_with_invoices(
        &self,
        month: YearMonth,
        closed_at: DateTime<Utc>,
        close_run_id: &str,
        invoices: &[(InvoiceRecord, Vec<InvoiceLineRecord>)],
        rejections: &[CloseRejectionRecord],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let claimed = sqlx::query(
            "INSERT INTO months (financer_id, month, status, closed_at, close_run_id) VALUES ($1, $2, 'closed', $3, $4) \
             ON CONFLICT (financer_id, month) DO UPDATE SET status = 'closed', closed_at = $3, close_run_id = $4 \
             WHERE months.status <> 'closed'",
        )
        .bind(&self.financer_id)
        .bind(month.to_string())
        .bind(ts(closed_at))
        .bind(close_run_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let headers: Vec<&InvoiceRecord> = invoices.iter().map(|(h, _)| h).collect();
        for chunk in headers.chunks(MAX_BINDS_PER_STATEMENT / 16) {
            let mut q = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO invoices (id, financer_id, saad_siret, aid_type, month, kind, status, line_count, \
                 billed_minutes, rejected_minutes, valued_amount, participation_amount, amount_due, created_at, \
                 close_run_id, batch_id) ",
            );
            q.push_values(chunk, |mut b, invoice| {
                b.push_bind(invoice.id.clone())
                    .push_bind(self.financer_id.clone())
                    .push_bind(invoice.saad_siret.clone())
                    .push_bind(invoice.aid_type.code())
                    .push_bind(invoice.month.to_string())
                    .push_bind(invoice_kind_code(invoice.kind))
                    .push_bind(invoice_status_code(invoice.status))
                    .push_bind(invoice.line_count)
                    .push_bind(invoice.billed_minutes)
                    .push_bind(invoice.rejected_minutes)
                    .push_bind(dec(invoice.valued_amount))
                    .push_bind(dec(invoice.participation_amount))
                    .push_bind(dec(invoice.amount_due))
                    .push_bind(ts(invoice.created_at))
                    .push_bind(invoice.close_run_id.clone())
                    .push_bind(invoice.batch_id.clone());
            });
            q.build().persistent(false).execute(&mut *tx).await?;
        }
        let lines: Vec<(&str, &InvoiceLineRecord)> = invoices
            .iter()
            .flat_map(|(h, lines)| lines.iter().map(move |l| (h.id.as_str(), l)))
            .collect();
        let packed: Vec<String> = lines
            .iter()
            .map(|(_, line)| pack_traces(&line.interventions))
            .collect::<StoreResult<_>>()?;
        let lines: Vec<(&str, &InvoiceLineRecord, &str)> = lines
            .iter()
            .zip(&packed)
            .map(|((id, line), traces)| (*id, *line, traces.as_str()))
            .collect();
        for chunk in lines.chunks(MAX_BINDS_PER_STATEMENT / 13) {
            let mut q = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO invoice_lines (invoice_id, line_no, plan_ref, beneficiary_id, billed_minutes, \
                 rejected_minutes, allotted_minutes, carried_in_minutes, hourly_rate, valued_amount, \
                 participation_amount, amount_due, interventions) ",
            );
            q.push_values(chunk, |mut b, (id, line, traces)| {
                b.push_bind(*id)
                    .push_bind(line.line_no)
                    .push_bind(line.plan_ref.as_str())
                    .push_bind(line.beneficiary_id.as_str())
                    .push_bind(line.billed_minutes)
                    .push_bind(line.rejected_minutes)
                    .push_bind(line.allotted_minutes)
                    .push_bind(line.carried_in_minutes)
                    .push_bind(dec(line.hourly_rate))
                    .push_bind(dec(line.valued_amount))
                    .push_bind(dec(line.participation_amount))
                    .push_bind(dec(line.amount_due))
                    .push_bind(*traces);
            });
            q.build().persistent(false).execute(&mut *tx).await?;
        }
        let numbered: Vec<(i64, &CloseRejectionRecord)> = rejections
            .iter()
            .enumerate()
            .map(|(i, r)| (i64::try_from(i).unwrap_or(i64::MAX), r))
            .collect();
        for chunk in numbered.chunks(MAX_BINDS_PER_STATEMENT / 13) {
            let mut q = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO close_rejections (invoice_id, seq, financer_id, saad_siret, month, plan_ref, \
                 beneficiary_id, line_id, day, code, minutes, billed_minutes, amount) ",
            );
            q.push_values(chunk, |mut b, (seq, r)| {
                b.push_bind(r.invoice_id.as_str())
                    .push_bind(*seq)
                    .push_bind(self.financer_id.as_str())
                    .push_bind(r.saad_siret.as_str())
                    .push_bind(r.month.to_string())
                    .push_bind(r.plan_ref.as_str())
                    .push_bind(r.beneficiary_id.as_str())
                    .push_bind(r.line_id.as_deref())
                    .push_bind(r.day.map(|d| d.to_string()))
                    .push_bind(r.code.as_str())
                    .push_bind(r.minutes)
                    .push_bind(r.billed_minutes)
                    .push_bind(r.amount.map(dec));
            });
            q.build().persistent(false).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// What the close of `month` did not pay `saad_siret`, in close order.
    pub(crate) async fn close_rejections(
        &self,
        saad_siret: &str,
        month: YearMonth,
    ) -> StoreResult<Vec<CloseRejectionRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM close_rejections WHERE financer_id = $1 AND saad_siret = $2 AND month = $3 \
             ORDER BY invoice_id, seq",
        )
        .bind(&self.financer_id)
        .bind(saad_siret)
        .bind(month.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let day: Option<String> = get(row, "day")?;
                Ok(CloseRejectionRecord {
                    invoice_id: get(row, "invoice_id")?,
                    saad_siret: get(row, "saad_siret")?,
                    month: parse_code::<YearMonth>(&get::<String>(row, "month")?, "month")?,
                    plan_ref: get(row, "plan_ref")?,
                    beneficiary_id: get(row, "beneficiary_id")?,
                    line_id: get(row, "line_id")?,
                    day: day
                        .map(|d| {
                            d.parse::<chrono::NaiveDate>()
                                .map_err(|_| StoreError::corrupt(format!("close rejection day {d}")))
                        })
                        .transpose()?,
                    code: get(row, "code")?,
                    minutes: get(row, "minutes")?,
                    billed_minutes: get(row, "billed_minutes")?,
                    amount: get_dec_opt(row, "amount")?,
                })
            })
            .collect()
    }

    /// The invoices a close run produced: pro-formas first, then
    /// regularisations, each by month, SAAD, aid type.
    pub(crate) async fn invoices_of_close_run(&self, close_run_id: &str) -> StoreResult<Vec<InvoiceRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM invoices WHERE financer_id = $1 AND close_run_id = $2 \
             ORDER BY kind, month, saad_siret, aid_type, id",
        )
        .bind(&self.financer_id)
        .bind(close_run_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invoice_from_row).collect()
    }

    /// Compare-and-set of an invoice's status: moves it from `expected` to
    /// `status` only if it is still `expected`. `Ok(false)` otherwise (a
    /// concurrent validation won, or the invoice is not in that state).
    pub(crate) async fn set_invoice_status_if(
        &self,
        id: &str,
        expected: InvoiceStatus,
        status: InvoiceStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE invoices SET status = $3, \
             saad_validated_at = CASE WHEN $3 = 'saad_validated' THEN $4 ELSE saad_validated_at END, \
             final_at = CASE WHEN $3 = 'final' THEN $4 ELSE final_at END \
             WHERE financer_id = $1 AND id = $2 AND status = $5",
        )
        .bind(&self.financer_id)
        .bind(id)
        .bind(invoice_status_code(status))
        .bind(ts(at))
        .bind(invoice_status_code(expected))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Every final invoice not yet in a payment batch, by SAAD, month, id.
    pub(crate) async fn final_unpaid_invoices(&self) -> StoreResult<Vec<InvoiceRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM invoices WHERE financer_id = $1 AND status = 'final' AND batch_id IS NULL \
             ORDER BY saad_siret, month, aid_type, created_at, id",
        )
        .bind(&self.financer_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invoice_from_row).collect()
    }

    /// The closed months, oldest first.
    pub(crate) async fn closed_months(&self) -> StoreResult<Vec<YearMonth>> {
        let months: Vec<String> = sqlx::query_scalar(
            "SELECT month FROM months WHERE financer_id = $1 AND status = 'closed' ORDER BY month",
        )
        .bind(&self.financer_id)
        .fetch_all(&self.pool)
        .await?;
        months.iter().map(|m| parse_code::<YearMonth>(m, "month")).collect()
    }

    /// The earliest month in `[from, to)` with a currently accepted
    /// intervention (counted start, Europe/Paris), if any.
    pub(crate) async fn first_accepted_between(
        &self,
        from: YearMonth,
        to: YearMonth,
    ) -> StoreResult<Option<DateTime<Utc>>> {
        let (start, _) = rows::month_bounds(from);
        let (end, _) = rows::month_bounds(to);
        let row = sqlx::query(
            "SELECT counted_start FROM current_interventions \
             WHERE financer_id = $1 AND counted_start >= $2 AND counted_start < $3 \
             ORDER BY counted_start LIMIT 1",
        )
        .bind(&self.financer_id)
        .bind(ts(start))
        .bind(ts(end))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| get_ts(&r, "counted_start")).transpose()
    }

    /// Every version of these plans, by plan then version (one query).
    pub(crate) async fn plan_versions_of(&self, plan_refs: &[String]) -> StoreResult<Vec<PlanVersion>> {
        let rows = sqlx::query(concat!(
            "SELECT * FROM plan_versions WHERE financer_id = $1 AND ",
            in_list!("plan_ref", "$2"),
            " ORDER BY plan_ref, version"
        ))
        .bind(&self.financer_id)
        .bind(list_param(plan_refs.iter().map(String::as_str))?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    /// Overrun authorisations of `from..=to`, summed per plan and month.
    pub(crate) async fn authorisations_between(
        &self,
        from: YearMonth,
        to: YearMonth,
    ) -> StoreResult<Vec<OverrunAuthorisation>> {
        let rows = sqlx::query(
            "SELECT plan_ref, month, CAST(SUM(minutes) AS BIGINT) AS minutes FROM overrun_authorisations \
             WHERE financer_id = $1 AND month >= $2 AND month <= $3 \
             GROUP BY plan_ref, month ORDER BY plan_ref, month",
        )
        .bind(&self.financer_id)
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(OverrunAuthorisation {
                    plan_ref: get(row, "plan_ref")?,
                    month: parse_code::<YearMonth>(&get::<String>(row, "month")?, "month")?,
                    minutes: to_u32(get(row, "minutes")?, "authorised minutes")?,
                })
            })
            .collect()
    }

    /// Every invoice of a billed month with its lines: what regularisation
    /// compares with (two queries).
    pub(crate) async fn invoices_with_lines(
        &self,
        month: YearMonth,
    ) -> StoreResult<Vec<(InvoiceRecord, Vec<InvoiceLineRecord>)>> {
        let mut conn = self.pool.acquire().await?;
        let headers = sqlx::query(
            "SELECT * FROM invoices WHERE financer_id = $1 AND month = $2 ORDER BY saad_siret, aid_type, created_at, id",
        )
        .bind(&self.financer_id)
        .bind(month.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let line_rows = sqlx::query(
            "SELECT l.* FROM invoice_lines l JOIN invoices i ON i.id = l.invoice_id \
             WHERE i.financer_id = $1 AND i.month = $2 ORDER BY l.invoice_id, l.line_no",
        )
        .bind(&self.financer_id)
        .bind(month.to_string())
        .fetch_all(&mut *conn)
        .await?;
        let mut lines: BTreeMap<String, Vec<InvoiceLineRecord>> = BTreeMap::new();
        for row in &line_rows {
            lines
                .entry(get(row, "invoice_id")?)
                .or_default()
                .push(invoice_line_from_row(row)?);
        }
        headers
            .iter()
            .map(|row| {
                let header = invoice_from_row(row)?;
                let own = lines.remove(&header.id).unwrap_or_default();
                Ok((header, own))
            })
            .collect()
    }

    /// Applies a SAAD's own INVOICE to its pro-forma in one transaction:
    /// compare-and-set `proforma → saad_validated`, each line's amount due
    /// set to what is paid, the invoice's total, and the matched lines
    /// recorded. `Ok(false)` (nothing written) when the invoice is no
    /// longer a pro-forma.
    pub(crate) async fn apply_saad_invoice(
        &self,
        invoice_id: &str,
        paid_lines: &[(i64, Decimal)],
        amount_due: Decimal,
        matched: &[SaadInvoiceLineRecord],
        at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE invoices SET status = 'saad_validated', saad_validated_at = $3, amount_due = $4 \
             WHERE financer_id = $1 AND id = $2 AND status = 'proforma'",
        )
        .bind(&self.financer_id)
        .bind(invoice_id)
        .bind(ts(at))
        .bind(dec(amount_due))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if done != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        for (line_no, paid) in paid_lines {
            sqlx::query("UPDATE invoice_lines SET amount_due = $3 WHERE invoice_id = $1 AND line_no = $2")
                .bind(invoice_id)
                .bind(*line_no)
                .bind(dec(*paid))
                .execute(&mut *tx)
                .await?;
        }
        for m in matched {
            sqlx::query(
                "INSERT INTO saad_invoice_lines (invoice_id, financer_id, saad_siret, month, saad_invoice_id, \
                 plan_ref, beneficiary_id, asked, computed, paid, code, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(invoice_id)
            .bind(&self.financer_id)
            .bind(&m.saad_siret)
            .bind(m.month.to_string())
            .bind(&m.saad_invoice_id)
            .bind(&m.plan_ref)
            .bind(&m.beneficiary_id)
            .bind(m.asked.map(dec))
            .bind(dec(m.computed))
            .bind(dec(m.paid))
            .bind(&m.code)
            .bind(ts(m.received_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// The matched lines of the SAAD invoices of a SAAD and billed month.
    pub(crate) async fn saad_invoice_lines(
        &self,
        saad_siret: &str,
        month: YearMonth,
    ) -> StoreResult<Vec<SaadInvoiceLineRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM saad_invoice_lines WHERE financer_id = $1 AND saad_siret = $2 AND month = $3 \
             ORDER BY received_at, invoice_id, plan_ref",
        )
        .bind(&self.financer_id)
        .bind(saad_siret)
        .bind(month.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(SaadInvoiceLineRecord {
                    invoice_id: get(row, "invoice_id")?,
                    saad_siret: get(row, "saad_siret")?,
                    month: parse_code::<YearMonth>(&get::<String>(row, "month")?, "month")?,
                    saad_invoice_id: get(row, "saad_invoice_id")?,
                    plan_ref: get(row, "plan_ref")?,
                    beneficiary_id: get(row, "beneficiary_id")?,
                    asked: get_dec_opt(row, "asked")?,
                    computed: get_dec(row, "computed")?,
                    paid: get_dec(row, "paid")?,
                    code: get(row, "code")?,
                    received_at: get_ts(row, "received_at")?,
                })
            })
            .collect()
    }
}
