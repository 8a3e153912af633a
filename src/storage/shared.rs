// Query code shared by both backends. This file is not a module: it is
// `include!`d by `sqlite.rs` and `postgres.rs`, each of which defines first
// the names used here (`Db`, `DbRow`, `Conn`, `BackendStore`, `IngestTx`,
// `ts`, `get_ts`, `dec`, `get_dec`, `list_param`, the `in_list!` macro, the bulk writers and
// `begin_ingest`). SQL is written with `$n` placeholders, which sqlx binds
// by number on both engines; where the dialects differ the backend module
// supplies the statement.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::stream::{BoxStream, StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use sqlx::Row;

use crate::domain::ingest::{
    BeneficiaryAlias, IngestContext,
};
use crate::domain::model::{
    Address, Event, InterventionSubmission, OverrunAuthorisation, PlanVersion, Saad, SaadAidType,
    Tariff,
};
use crate::domain::time::Period;
use crate::domain::types::{AidType, EventKind, Household, SaadStatus, Siret, YearMonth};
use crate::storage::context_json;
use crate::storage::context_pool::{ContextPool, ContextRequest, Named, NeighbourWindow};
use crate::storage::rows;
use crate::storage::rows::instant_from_text;
use crate::storage::{
    AuditEntry, BatchPaymentRecord, BilledIntervention, CommitOutcome,
    DeliveryCommit, GroupWrite,
    InvoiceKind, InvoiceLineRecord, InvoiceRecord, InvoiceStatus, MonthIntervention, MonthRecord,
    MonthStatus, PaymentBatchRecord, PlanInsert, RejectedIntervention, StoreError, StoreResult,
    StoredReceipt, TokenRecord, TokenRole, Upsert,
};

fn get<'r, T>(row: &'r DbRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    Ok(row.try_get::<T, _>(column)?)
}

fn parse_code<T: std::str::FromStr>(text: &str, what: &str) -> StoreResult<T> {
    text.parse()
        .map_err(|_| StoreError::corrupt(format!("{what} '{text}'")))
}

fn to_i64(value: u32) -> i64 {
    i64::from(value)
}

fn to_u32(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| StoreError::corrupt(format!("{what} {value}")))
}

fn invoice_kind_code(kind: InvoiceKind) -> &'static str {
    match kind {
        InvoiceKind::Proforma => "proforma",
        InvoiceKind::Regularisation => "regularisation",
    }
}

fn invoice_status_code(status: InvoiceStatus) -> &'static str {
    match status {
        InvoiceStatus::Proforma => "proforma",
        InvoiceStatus::SaadValidated => "saad_validated",
        InvoiceStatus::Final => "final",
        InvoiceStatus::Paid => "paid",
    }
}

fn plan_from_row(row: &DbRow) -> StoreResult<PlanVersion> {
    let siret: String = get(row, "saad_siret")?;
    let gir: Option<i64> = get(row, "gir")?;
    let household: Option<String> = get(row, "household")?;
    Ok(PlanVersion {
        plan_ref: get(row, "plan_ref")?,
        version: to_u32(get(row, "version")?, "plan version")?,
        beneficiary_id: get(row, "beneficiary_id")?,
        saad_siret: Siret::parse(&siret).map_err(|e| StoreError::corrupt(e.message))?,
        aid_type: parse_code::<AidType>(&get::<String>(row, "aid_type")?, "aid type")?,
        gir: gir
            .map(|g| u8::try_from(g).map_err(|_| StoreError::corrupt(format!("GIR {g}"))))
            .transpose()?,
        household: household
            .map(|h| parse_code::<Household>(&h, "household"))
            .transpose()?,
        valid_from: get(row, "valid_from")?,
        valid_to: get(row, "valid_to")?,
        monthly_minutes: to_u32(get(row, "monthly_minutes")?, "monthly minutes")?,
        hourly_rate: get_dec(row, "hourly_rate")?,
        participation_rate: get_dec_opt(row, "participation_rate")?,
        coverage_rate: get_dec_opt(row, "coverage_rate")?,
        monthly_amount: get_dec(row, "monthly_amount")?,
        respite_exemption: get(row, "respite_exemption")?,
        household_ref: get(row, "household_ref")?,
    })
}

fn event_from_row(row: &DbRow) -> StoreResult<Event> {
    Ok(Event {
        beneficiary_id: get(row, "beneficiary_id")?,
        kind: parse_code::<EventKind>(&get::<String>(row, "kind")?, "event kind")?,
        start: get(row, "start_date")?,
        end: get(row, "end_date")?,
        note: get(row, "note")?,
    })
}

fn token_from_row(row: &DbRow) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: get(row, "id")?,
        role: TokenRole::parse(&get::<String>(row, "role")?)?,
        saad_siret: get(row, "saad_siret")?,
        token_hash: get(row, "token_hash")?,
        created_at: get_ts(row, "created_at")?,
        revoked_at: get_ts_opt(row, "revoked_at")?,
    })
}

fn invoice_from_row(row: &DbRow) -> StoreResult<InvoiceRecord> {
    let kind = match get::<String>(row, "kind")?.as_str() {
        "proforma" => InvoiceKind::Proforma,
        "regularisation" => InvoiceKind::Regularisation,
        other => return Err(StoreError::corrupt(format!("invoice kind '{other}'"))),
    };
    let status = match get::<String>(row, "status")?.as_str() {
        "proforma" => InvoiceStatus::Proforma,
        "saad_validated" => InvoiceStatus::SaadValidated,
        "final" => InvoiceStatus::Final,
        "paid" => InvoiceStatus::Paid,
        other => return Err(StoreError::corrupt(format!("invoice status '{other}'"))),
    };
    Ok(InvoiceRecord {
        id: get(row, "id")?,
        saad_siret: get(row, "saad_siret")?,
        aid_type: parse_code::<AidType>(&get::<String>(row, "aid_type")?, "aid type")?,
        month: parse_code::<YearMonth>(&get::<String>(row, "month")?, "month")?,
        kind,
        status,
        line_count: get(row, "line_count")?,
        billed_minutes: get(row, "billed_minutes")?,
        rejected_minutes: get(row, "rejected_minutes")?,
        valued_amount: get_dec(row, "valued_amount")?,
        participation_amount: get_dec(row, "participation_amount")?,
        amount_due: get_dec(row, "amount_due")?,
        created_at: get_ts(row, "created_at")?,
        close_run_id: get(row, "close_run_id")?,
        batch_id: get(row, "batch_id")?,
    })
}

/// A row of [`BackendStore::accepted_in_month`], by column position.
fn month_intervention_from_row(row: &DbRow) -> StoreResult<MonthIntervention> {
    Ok(MonthIntervention {
        saad_siret: row.try_get(0)?,
        line_id: row.try_get(1)?,
        version_id: row.try_get(2)?,
        plan_ref: row.try_get(3)?,
        beneficiary_id: row.try_get(4)?,
        period: Period {
            start: instant_at(row, 5)?,
            end: instant_at(row, 6)?,
        },
        rounded_minutes: row.try_get(7)?,
        sequence: row.try_get(8)?,
        corrected: row.try_get(9)?,
    })
}

/// Rows per page of [`BackendStore::accepted_in_month_paged`] (SQLite).
const MONTH_PAGE_ROWS: usize = 10_000;

/// One row of a page of [`BackendStore::accepted_in_month_paged`]: the
/// columns of [`month_intervention_from_row`], in order (instants as the
/// text SQLite stores, borrowed from the page).
type MonthRow<'a> = (String, String, i64, String, String, &'a str, &'a str, i64, i64, i64);

fn month_intervention_from_json(row: MonthRow<'_>) -> StoreResult<MonthIntervention> {
    let (saad_siret, line_id, version_id, plan_ref, beneficiary_id, start, end, rounded, sequence, corrected) =
        row;
    Ok(MonthIntervention {
        saad_siret,
        line_id,
        version_id,
        plan_ref,
        beneficiary_id,
        period: Period {
            start: instant_from_text(start)?,
            end: instant_from_text(end)?,
        },
        rounded_minutes: rounded,
        sequence,
        corrected: corrected != 0,
    })
}

/// The instant in column `index`: native `timestamptz` on PostgreSQL; on
/// SQLite the fixed-width text it stores (`2024-01-12T08:00:00.000000Z`),
/// read in place, any other RFC 3339 text through chrono's parser.
fn instant_at(row: &DbRow, index: usize) -> StoreResult<DateTime<Utc>> {
    if std::any::TypeId::of::<Db>() != std::any::TypeId::of::<sqlx::Sqlite>() {
        return Ok(row.try_get::<DateTime<Utc>, _>(index)?);
    }
    instant_from_text(row.try_get(index)?)
}

async fn saad_on(conn: &mut Conn, financer_id: &str, siret: &str) -> StoreResult<Option<Saad>> {
    let mut found = saads_on(conn, financer_id, &BTreeSet::from([siret])).await?;
    Ok(found.remove(siret))
}

/// These SAADs with their aid types and tariffs, by SIRET (three statements
/// whatever their number).
async fn saads_on(
    conn: &mut Conn,
    financer_id: &str,
    sirets: &BTreeSet<&str>,
) -> StoreResult<BTreeMap<String, Saad>> {
    let list = list_param(sirets.iter().copied())?;
    let rows = sqlx::query(concat!(
        "SELECT siret, name, iban, bic, declarative, finess, legal_category, account_holder, \
         address_line1, address_postcode, address_city, address_country \
         FROM saads WHERE financer_id = $1 AND ",
        in_list!("siret", "$2")
    ))
    .bind(financer_id)
    .bind(list.clone())
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(BTreeMap::new());
    }
    let aid_rows = sqlx::query(concat!(
        "SELECT siret, aid_type, status FROM saad_aid_types WHERE financer_id = $1 AND ",
        in_list!("siret", "$2"),
        " ORDER BY siret, aid_type"
    ))
    .bind(financer_id)
    .bind(list.clone())
    .fetch_all(&mut *conn)
    .await?;
    let tariff_rows = sqlx::query(concat!(
        "SELECT siret, aid_type, valid_from, valid_to, hourly_rate FROM saad_tariffs \
         WHERE financer_id = $1 AND ",
        in_list!("siret", "$2"),
        " ORDER BY siret, aid_type, valid_from"
    ))
    .bind(financer_id)
    .bind(list)
    .fetch_all(&mut *conn)
    .await?;
    let mut tariffs: BTreeMap<(String, String), Vec<Tariff>> = BTreeMap::new();
    for t in &tariff_rows {
        tariffs
            .entry((get(t, "siret")?, get(t, "aid_type")?))
            .or_default()
            .push(Tariff {
                valid_from: get(t, "valid_from")?,
                valid_to: get(t, "valid_to")?,
                hourly_rate: get_dec(t, "hourly_rate")?,
            });
    }
    let mut aid_types: BTreeMap<String, Vec<SaadAidType>> = BTreeMap::new();
    for aid in &aid_rows {
        let siret: String = get(aid, "siret")?;
        let code: String = get(aid, "aid_type")?;
        let own_tariffs = tariffs.remove(&(siret.clone(), code.clone())).unwrap_or_default();
        aid_types.entry(siret).or_default().push(SaadAidType {
            aid_type: parse_code::<AidType>(&code, "aid type")?,
            status: parse_code::<SaadStatus>(&get::<String>(aid, "status")?, "SAAD status")?,
            tariffs: own_tariffs,
        });
    }
    let mut saads = BTreeMap::new();
    for row in &rows {
        let siret_text: String = get(row, "siret")?;
        let line1: Option<String> = get(row, "address_line1")?;
        let address = match line1 {
            Some(line1) => Some(Address {
                line1,
                postcode: get::<Option<String>>(row, "address_postcode")?.unwrap_or_default(),
                city: get::<Option<String>>(row, "address_city")?.unwrap_or_default(),
                country: get::<Option<String>>(row, "address_country")?.unwrap_or_default(),
            }),
            None => None,
        };
        let saad = Saad {
            siret: Siret::parse(&siret_text).map_err(|e| StoreError::corrupt(e.message))?,
            name: get(row, "name")?,
            iban: get(row, "iban")?,
            bic: get(row, "bic")?,
            declarative: get(row, "declarative")?,
            finess: get(row, "finess")?,
            legal_category: get(row, "legal_category")?,
            account_holder: get(row, "account_holder")?,
            address,
            aid_types: aid_types.remove(&siret_text).unwrap_or_default(),
        };
        saads.insert(siret_text, saad);
    }
    Ok(saads)
}

/// Inserts the receipts of these deliveries unless already stored (unique
/// key SAAD + transmission id); how many this transaction claimed.
async fn claim_receipts(
    conn: &mut Conn,
    financer_id: &str,
    deliveries: &[DeliveryCommit<'_>],
) -> StoreResult<usize> {
    let mut claimed = 0;
    for chunk in statement_chunks(deliveries, 1_000) {
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO receipts (financer_id, saad_siret, transmission_id, body_hash, receipt_json, line_count, received_at) ",
        );
        insert.push_values(chunk, |mut b, d| {
            b.push_bind(financer_id)
                .push_bind(d.saad_siret)
                .push_bind(d.transmission_id)
                .push_bind(d.body_hash)
                .push_bind(d.receipt_json)
                .push_bind(i64::try_from(d.result.outcomes.len()).unwrap_or(i64::MAX))
                .push_bind(ts(d.now));
        });
        insert.push(
            " ON CONFLICT (financer_id, saad_siret, transmission_id) DO NOTHING RETURNING transmission_id",
        );
        claimed += insert.build().fetch_all(&mut *conn).await?.len();
    }
    Ok(claimed)
}

async fn receipt_on(
    conn: &mut Conn,
    financer_id: &str,
    saad_siret: &str,
    transmission_id: &str,
) -> StoreResult<Option<StoredReceipt>> {
    let row = sqlx::query(
        "SELECT transmission_id, body_hash, receipt_json, received_at, parts FROM receipts \
         WHERE financer_id = $1 AND saad_siret = $2 AND transmission_id = $3",
    )
    .bind(financer_id)
    .bind(saad_siret)
    .bind(transmission_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| {
        Ok(StoredReceipt {
            transmission_id: get(&row, "transmission_id")?,
            body_hash: get(&row, "body_hash")?,
            receipt_json: get(&row, "receipt_json")?,
            received_at: get_ts(&row, "received_at")?,
            parts: get(&row, "parts")?,
        })
    })
    .transpose()
}

impl BackendStore {
    /// Applies this backend's embedded migrations.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        // Nothing writes the legacy `raw_stamps` table any more (migration
        // 20261123000002; it refuses updates and deletes): empty now, empty
        // for good, and the context load need not probe it for every line.
        let legacy: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM raw_stamps)")
            .fetch_one(&self.pool)
            .await?;
        self.legacy_raw
            .store(legacy, std::sync::atomic::Ordering::Relaxed);
        self.after_migrate().await
    }

    pub(crate) async fn upsert_saad(&self, saad: &Saad, now: DateTime<Utc>) -> StoreResult<Upsert> {
        let mut tx = self.begin_write().await?;
        let siret = saad.siret.as_str();
        let address = saad.address.as_ref();
        let created = sqlx::query("SELECT 1 FROM saads WHERE financer_id = $1 AND siret = $2")
            .bind(&self.financer_id)
            .bind(siret)
            .fetch_optional(&mut *tx)
            .await?
            .is_none();
        sqlx::query(
            "INSERT INTO saads (financer_id, siret, name, iban, bic, declarative, finess, legal_category, \
             account_holder, address_line1, address_postcode, address_city, address_country, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
             ON CONFLICT (financer_id, siret) DO UPDATE SET name = excluded.name, iban = excluded.iban, \
             bic = excluded.bic, declarative = excluded.declarative, finess = excluded.finess, \
             legal_category = excluded.legal_category, account_holder = excluded.account_holder, \
             address_line1 = excluded.address_line1, address_postcode = excluded.address_postcode, \
             address_city = excluded.address_city, address_country = excluded.address_country, \
             updated_at = excluded.updated_at",
        )
        .bind(&self.financer_id)
        .bind(siret)
        .bind(&saad.name)
        .bind(&saad.iban)
        .bind(&saad.bic)
        .bind(saad.declarative)
        .bind(&saad.finess)
        .bind(&saad.legal_category)
        .bind(&saad.account_holder)
        .bind(address.map(|a| a.line1.as_str()))
        .bind(address.map(|a| a.postcode.as_str()))
        .bind(address.map(|a| a.city.as_str()))
        .bind(address.map(|a| a.country.as_str()))
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        if !created {
            sqlx::query("DELETE FROM saad_tariffs WHERE financer_id = $1 AND siret = $2")
                .bind(&self.financer_id)
                .bind(siret)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM saad_aid_types WHERE financer_id = $1 AND siret = $2")
                .bind(&self.financer_id)
                .bind(siret)
                .execute(&mut *tx)
                .await?;
        }
        for aid in &saad.aid_types {
            sqlx::query(
                "INSERT INTO saad_aid_types (financer_id, siret, aid_type, status) VALUES ($1, $2, $3, $4)",
            )
            .bind(&self.financer_id)
            .bind(siret)
            .bind(aid.aid_type.code())
            .bind(aid.status.code())
            .execute(&mut *tx)
            .await?;
            for tariff in &aid.tariffs {
                sqlx::query(
                    "INSERT INTO saad_tariffs (financer_id, siret, aid_type, valid_from, valid_to, hourly_rate) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&self.financer_id)
                .bind(siret)
                .bind(aid.aid_type.code())
                .bind(tariff.valid_from)
                .bind(tariff.valid_to)
                .bind(dec(tariff.hourly_rate))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(if created { Upsert::Created } else { Upsert::Updated })
    }

    pub(crate) async fn ping(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SELECT 1").execute(&mut *conn).await?;
        Ok(())
    }

    pub(crate) async fn get_saad(&self, siret: &str) -> StoreResult<Option<Saad>> {
        let mut conn = self.pool.acquire().await?;
        saad_on(&mut conn, &self.financer_id, siret).await
    }

    pub(crate) async fn list_saads(&self) -> StoreResult<Vec<Saad>> {
        let mut conn = self.pool.acquire().await?;
        let sirets: Vec<String> =
            sqlx::query_scalar("SELECT siret FROM saads WHERE financer_id = $1 ORDER BY siret")
                .bind(&self.financer_id)
                .fetch_all(&mut *conn)
                .await?;
        let wanted: BTreeSet<&str> = sirets.iter().map(String::as_str).collect();
        let mut found = saads_on(&mut conn, &self.financer_id, &wanted).await?;
        Ok(sirets.iter().filter_map(|s| found.remove(s)).collect())
    }

    pub(crate) async fn create_token(&self, token: &TokenRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (id, financer_id, role, saad_siret, token_hash, created_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&token.id)
        .bind(&self.financer_id)
        .bind(token.role.code())
        .bind(&token.saad_siret)
        .bind(&token.token_hash)
        .bind(ts(token.created_at))
        .bind(token.revoked_at.map(ts))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn find_token_by_hash(&self, token_hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query(
            "SELECT id, role, saad_siret, token_hash, created_at, revoked_at FROM api_tokens \
             WHERE financer_id = $1 AND token_hash = $2",
        )
        .bind(&self.financer_id)
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(token_from_row).transpose()
    }

    pub(crate) async fn revoke_token(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $3 WHERE financer_id = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(&self.financer_id)
        .bind(id)
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub(crate) async fn insert_plan_version(
        &self,
        plan: &PlanVersion,
        now: DateTime<Utc>,
    ) -> StoreResult<PlanInsert> {
        let inserted = sqlx::query(
            "INSERT INTO plan_versions (financer_id, plan_ref, version, beneficiary_id, saad_siret, aid_type, gir, \
             household, valid_from, valid_to, monthly_minutes, hourly_rate, participation_rate, coverage_rate, \
             monthly_amount, respite_exemption, household_ref, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (financer_id, plan_ref, version) DO NOTHING RETURNING version",
        )
        .bind(&self.financer_id)
        .bind(&plan.plan_ref)
        .bind(to_i64(plan.version))
        .bind(&plan.beneficiary_id)
        .bind(plan.saad_siret.as_str())
        .bind(plan.aid_type.code())
        .bind(plan.gir.map(i64::from))
        .bind(plan.household.map(|h| h.code()))
        .bind(plan.valid_from)
        .bind(plan.valid_to)
        .bind(to_i64(plan.monthly_minutes))
        .bind(dec(plan.hourly_rate))
        .bind(plan.participation_rate.map(dec))
        .bind(plan.coverage_rate.map(dec))
        .bind(dec(plan.monthly_amount))
        .bind(plan.respite_exemption)
        .bind(&plan.household_ref)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        if inserted.is_some() {
            return Ok(PlanInsert::Inserted);
        }
        let stored = self
            .plan_versions(&plan.plan_ref)
            .await?
            .into_iter()
            .find(|v| v.version == plan.version)
            .ok_or(StoreError::NotFound)?;
        // Compare on values (decimals by value, not by scale).
        if same_plan(&stored, plan) {
            Ok(PlanInsert::Identical)
        } else {
            Ok(PlanInsert::Conflicting(Box::new(stored)))
        }
    }

    pub(crate) async fn plan_versions(&self, plan_ref: &str) -> StoreResult<Vec<PlanVersion>> {
        let rows = sqlx::query(
            "SELECT plan_ref, version, beneficiary_id, saad_siret, aid_type, gir, household, valid_from, valid_to, \
             monthly_minutes, hourly_rate, participation_rate, coverage_rate, monthly_amount, respite_exemption, \
             household_ref FROM plan_versions WHERE financer_id = $1 AND plan_ref = $2 ORDER BY version",
        )
        .bind(&self.financer_id)
        .bind(plan_ref)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    pub(crate) async fn saad_plans_between(
        &self,
        saad_siret: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<PlanVersion>> {
        let rows = sqlx::query(
            "SELECT plan_ref, version, beneficiary_id, saad_siret, aid_type, gir, household, valid_from, valid_to, \
             monthly_minutes, hourly_rate, participation_rate, coverage_rate, monthly_amount, respite_exemption, \
             household_ref FROM plan_versions \
             WHERE financer_id = $1 AND saad_siret = $2 AND valid_from <= $4 AND valid_to >= $3 \
             ORDER BY plan_ref, version",
        )
        .bind(&self.financer_id)
        .bind(saad_siret)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    pub(crate) async fn plans_between(&self, from: NaiveDate, to: NaiveDate) -> StoreResult<Vec<PlanVersion>> {
        let rows = sqlx::query(
            "SELECT plan_ref, version, beneficiary_id, saad_siret, aid_type, gir, household, valid_from, valid_to, \
             monthly_minutes, hourly_rate, participation_rate, coverage_rate, monthly_amount, respite_exemption, \
             household_ref FROM plan_versions \
             WHERE financer_id = $1 AND valid_from <= $3 AND valid_to >= $2 ORDER BY plan_ref, version",
        )
        .bind(&self.financer_id)
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    pub(crate) async fn household_am_plans(&self, household_ref: &str) -> StoreResult<Vec<PlanVersion>> {
        let rows = sqlx::query(
            "SELECT plan_ref, version, beneficiary_id, saad_siret, aid_type, gir, household, valid_from, valid_to, \
             monthly_minutes, hourly_rate, participation_rate, coverage_rate, monthly_amount, respite_exemption, \
             household_ref FROM plan_versions \
             WHERE financer_id = $1 AND household_ref = $2 AND aid_type = 'AM' ORDER BY plan_ref, version",
        )
        .bind(&self.financer_id)
        .bind(household_ref)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    pub(crate) async fn upsert_event(&self, event: &Event, now: DateTime<Utc>) -> StoreResult<Upsert> {
        let mut tx = self.begin_write().await?;
        let created = sqlx::query(
            "INSERT INTO events (financer_id, beneficiary_id, kind, start_date, end_date, note, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (financer_id, beneficiary_id, kind, start_date) DO NOTHING RETURNING kind",
        )
        .bind(&self.financer_id)
        .bind(&event.beneficiary_id)
        .bind(event.kind.code())
        .bind(event.start)
        .bind(event.end)
        .bind(&event.note)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !created {
            // Re-sending with an end sets the end; the change time moves only
            // when something changed (it drives regularisation).
            sqlx::query(
                "UPDATE events SET end_date = COALESCE($5, end_date), note = COALESCE($6, note), updated_at = $7 \
                 WHERE financer_id = $1 AND beneficiary_id = $2 AND kind = $3 AND start_date = $4 \
                 AND (($5 IS NOT NULL AND end_date IS DISTINCT FROM $5) OR ($6 IS NOT NULL AND note IS DISTINCT FROM $6))",
            )
            .bind(&self.financer_id)
            .bind(&event.beneficiary_id)
            .bind(event.kind.code())
            .bind(event.start)
            .bind(event.end)
            .bind(&event.note)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(if created { Upsert::Created } else { Upsert::Updated })
    }

    pub(crate) async fn events_of(&self, beneficiary_ids: &[String]) -> StoreResult<Vec<Event>> {
        let mut conn = self.pool.acquire().await?;
        events_on(&mut conn, &self.financer_id, beneficiary_ids.iter().map(String::as_str)).await
    }

    pub(crate) async fn events_changed_since(
        &self,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(Event, DateTime<Utc>)>> {
        let rows = sqlx::query(
            "SELECT beneficiary_id, kind, start_date, end_date, note, updated_at FROM events \
             WHERE financer_id = $1 AND updated_at >= $2 ORDER BY updated_at, beneficiary_id, kind, start_date",
        )
        .bind(&self.financer_id)
        .bind(ts(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((event_from_row(row)?, get_ts(row, "updated_at")?)))
            .collect()
    }

    pub(crate) async fn insert_overrun_authorisation(
        &self,
        authorisation: &OverrunAuthorisation,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO overrun_authorisations (financer_id, plan_ref, month, minutes, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&self.financer_id)
        .bind(&authorisation.plan_ref)
        .bind(authorisation.month.to_string())
        .bind(to_i64(authorisation.minutes))
        .bind(ts(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn authorised_minutes(&self, plan_ref: &str, month: YearMonth) -> StoreResult<i64> {
        let total: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(minutes), 0) AS BIGINT) FROM overrun_authorisations \
             WHERE financer_id = $1 AND plan_ref = $2 AND month = $3",
        )
        .bind(&self.financer_id)
        .bind(plan_ref)
        .bind(month.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(total)
    }

    pub(crate) async fn saad_aliases(&self, saad_siret: &str) -> StoreResult<Vec<BeneficiaryAlias>> {
        let rows = sqlx::query(
            "SELECT plan_ref, alias_id, beneficiary_id FROM beneficiary_aliases \
             WHERE financer_id = $1 AND saad_siret = $2 ORDER BY plan_ref, alias_id",
        )
        .bind(&self.financer_id)
        .bind(saad_siret)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(BeneficiaryAlias {
                    plan_ref: get(row, "plan_ref")?,
                    alias_id: get(row, "alias_id")?,
                    beneficiary_id: get(row, "beneficiary_id")?,
                })
            })
            .collect()
    }

    pub(crate) async fn get_receipt(
        &self,
        saad_siret: &str,
        transmission_id: &str,
    ) -> StoreResult<Option<StoredReceipt>> {
        let mut conn = self.pool.acquire().await?;
        receipt_on(&mut conn, &self.financer_id, saad_siret, transmission_id).await
    }

    pub(crate) async fn receipt_part(
        &self,
        saad_siret: &str,
        transmission_id: &str,
        part_no: i64,
    ) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar::<_, String>(
            "SELECT lines_json FROM receipt_parts \
             WHERE financer_id = $1 AND saad_siret = $2 AND transmission_id = $3 AND part_no = $4",
        )
        .bind(&self.financer_id)
        .bind(saad_siret)
        .bind(transmission_id)
        .bind(part_no)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub(crate) fn accepted_in_month(
        &self,
        month: YearMonth,
    ) -> BoxStream<'_, StoreResult<MonthIntervention>> {
        let (start, end) = rows::month_bounds(month);
        if std::any::TypeId::of::<Db>() == std::any::TypeId::of::<sqlx::Sqlite>() {
            // `ts` is the stored text on SQLite (`to_string` copies it).
            return self.accepted_in_month_paged(ts(start).to_string(), ts(end).to_string());
        }
        // Decoded by position (no column-name look-up per value): the month
        // close reads hundreds of thousands of these rows.
        sqlx::query(
            "SELECT saad_siret, line_id, version_id, plan_ref, beneficiary_id, counted_start, counted_end, \
             rounded_minutes, sequence, corrected FROM current_interventions \
             WHERE financer_id = $1 AND counted_start >= $2 AND counted_start < $3 \
             ORDER BY counted_start, sequence",
        )
        .bind(self.financer_id.clone())
        .bind(ts(start))
        .bind(ts(end))
        .fetch(&self.pool)
        .map_err(StoreError::from)
        .and_then(|row| async move { month_intervention_from_row(&row) })
        .boxed()
    }

    /// [`Self::accepted_in_month`] on SQLite: the same rows, in the same
    /// order, as pages of [`MONTH_PAGE_ROWS`] rows, each page ONE value (a
    /// JSON array of rows built by SQLite), all pages in one read
    /// transaction (one snapshot, as a single statement would see).
    ///
    /// sqlx's SQLite driver hands every row from its worker thread to the
    /// caller through a channel, copying each value with SQLite's allocator
    /// (whose mutex both threads then contend for) and freeing it on the
    /// other side: about 10 µs per row, 3 s of a 300 000-row close, where
    /// SQLite itself reads the rows in a fraction of that. One value per
    /// page pays that cost 30 times instead of 300 000. The index it scans
    /// carries every column read here (migration
    /// `20261205000001_close_covering_index`), so no row is looked up in
    /// the table. `start` and `end` are the month's bounds as SQLite
    /// stores instants.
    /// One page of [`Self::accepted_in_month_paged`]: $1 financer, $2 the
    /// counted start to read from, $3 the month's end, $4 the sequence
    /// after which rows of start $2 are read, $5 the page size.
    const MONTH_PAGE_SQL: &'static str =
        "SELECT json_group_array(json_array(saad_siret, line_id, version_id, plan_ref, \
         beneficiary_id, counted_start, counted_end, rounded_minutes, sequence, corrected)) \
         FROM (SELECT saad_siret, line_id, version_id, plan_ref, beneficiary_id, counted_start, \
         counted_end, rounded_minutes, sequence, corrected FROM current_interventions \
         WHERE financer_id = $1 AND counted_start >= $2 AND counted_start < $3 \
         AND (counted_start > $2 OR sequence > $4) \
         ORDER BY counted_start, sequence LIMIT $5)";

    fn accepted_in_month_paged(
        &self,
        start: String,
        end: String,
    ) -> BoxStream<'_, StoreResult<MonthIntervention>> {
        struct Page {
            tx: Option<sqlx::Transaction<'static, Db>>,
            /// (counted start as stored, sequence) of the last row read.
            after: Option<(String, i64)>,
            done: bool,
        }
        let first = Page {
            tx: None,
            after: None,
            done: false,
        };
        futures_util::stream::try_unfold(first, move |mut page| {
            let (start, end) = (start.clone(), end.clone());
            async move {
                if page.done {
                    return StoreResult::Ok(None);
                }
                let mut tx = match page.tx.take() {
                    Some(tx) => tx,
                    None => self.pool.begin().await?,
                };
                // Each page starts strictly after the last row of the one
                // before in (counted_start, sequence) order, the index's:
                // `counted_start >= $2` is the range the index scans from.
                let (from, after_sequence) = match page.after.take() {
                    Some((text, sequence)) => (text, sequence),
                    None => (start, i64::MIN),
                };
                let json: String = sqlx::query_scalar(Self::MONTH_PAGE_SQL)
                .bind(self.financer_id.as_str())
                .bind(from)
                .bind(end)
                .bind(after_sequence)
                .bind(i64::try_from(MONTH_PAGE_ROWS).unwrap_or(i64::MAX))
                .fetch_one(&mut *tx)
                .await?;
                let mut raw: Vec<MonthRow<'_>> = serde_json::from_str(&json)?;
                if raw.len() < MONTH_PAGE_ROWS {
                    tx.rollback().await?;
                    page.done = true;
                } else {
                    page.tx = Some(tx);
                }
                // The aggregate's input order is not its output's promise:
                // ordered here (already in order: one linear pass), by the
                // stored text as SQLite orders it.
                raw.sort_by_key(|r| (r.5, r.8));
                page.after = raw.last().map(|r| (r.5.to_owned(), r.8));
                let rows: Vec<StoreResult<MonthIntervention>> =
                    raw.into_iter().map(month_intervention_from_json).collect();
                Ok(Some((futures_util::stream::iter(rows), page)))
            }
        })
        .try_flatten()
        .boxed()
    }

    pub(crate) async fn rejected_in_month(
        &self,
        saad_siret: &str,
        month: YearMonth,
    ) -> StoreResult<Vec<RejectedIntervention>> {
        let rows = sqlx::query(
            "SELECT v.id, v.line_id, v.transmission_id, v.reasons, v.plan_ref, v.beneficiary_id, \
             v.counted_start, v.counted_end, v.counted_minutes, v.received_at \
             FROM intervention_versions v \
             WHERE v.financer_id = $1 AND v.saad_siret = $2 AND v.month = $3 AND v.status = 'rejected' \
             AND NOT EXISTS (SELECT 1 FROM intervention_versions w WHERE w.financer_id = v.financer_id \
                 AND w.saad_siret = v.saad_siret AND w.line_id = v.line_id AND w.status = 'accepted' AND w.id > v.id) \
             ORDER BY v.id",
        )
        .bind(&self.financer_id)
        .bind(saad_siret)
        .bind(month.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let start = get_ts_opt(row, "counted_start")?;
                let end = get_ts_opt(row, "counted_end")?;
                let reasons: String = get(row, "reasons")?;
                Ok(RejectedIntervention {
                    version_id: get(row, "id")?,
                    line_id: get(row, "line_id")?,
                    transmission_id: get(row, "transmission_id")?,
                    reasons: reasons
                        .split(',')
                        .filter(|r| !r.is_empty())
                        .map(str::to_owned)
                        .collect(),
                    plan_ref: get(row, "plan_ref")?,
                    beneficiary_id: get(row, "beneficiary_id")?,
                    period: start.zip(end).map(|(start, end)| Period { start, end }),
                    counted_minutes: get(row, "counted_minutes")?,
                    received_at: get_ts(row, "received_at")?,
                })
            })
            .collect()
    }

    pub(crate) async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        audit_insert(&self.financer_id, entry).execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn audit_since(&self, since: DateTime<Utc>) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, token_id, saad_siret, action, target, outcome, detail FROM audit_log \
             WHERE financer_id = $1 AND at >= $2 ORDER BY at, id",
        )
        .bind(&self.financer_id)
        .bind(ts(since))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: get_ts(row, "at")?,
                    token_id: get(row, "token_id")?,
                    saad_siret: get(row, "saad_siret")?,
                    action: get(row, "action")?,
                    target: get(row, "target")?,
                    outcome: get(row, "outcome")?,
                    detail: get(row, "detail")?,
                })
            })
            .collect()
    }

    pub(crate) async fn get_month(&self, month: YearMonth) -> StoreResult<MonthRecord> {
        let row = sqlx::query(
            "SELECT status, closed_at, close_run_id FROM months WHERE financer_id = $1 AND month = $2",
        )
        .bind(&self.financer_id)
        .bind(month.to_string())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(MonthRecord {
                month,
                status: MonthStatus::Open,
                closed_at: None,
                close_run_id: None,
            }),
            Some(row) => Ok(MonthRecord {
                month,
                status: if get::<String>(&row, "status")? == "closed" {
                    MonthStatus::Closed
                } else {
                    MonthStatus::Open
                },
                closed_at: get_ts_opt(&row, "closed_at")?,
                close_run_id: get(&row, "close_run_id")?,
            }),
        }
    }

    pub(crate) async fn close_month(
        &self,
        month: YearMonth,
        closed_at: DateTime<Utc>,
        close_run_id: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO months (financer_id, month, status, closed_at, close_run_id) VALUES ($1, $2, 'closed', $3, $4) \
             ON CONFLICT (financer_id, month) DO UPDATE SET status = 'closed', closed_at = $3, close_run_id = $4 \
             WHERE months.status <> 'closed'",
        )
        .bind(&self.financer_id)
        .bind(month.to_string())
        .bind(ts(closed_at))
        .bind(close_run_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn insert_invoice(
        &self,
        invoice: &InvoiceRecord,
        lines: &[InvoiceLineRecord],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO invoices (id, financer_id, saad_siret, aid_type, month, kind, status, line_count, \
             billed_minutes, rejected_minutes, valued_amount, participation_amount, amount_due, created_at, \
             close_run_id, batch_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
        )
        .bind(&invoice.id)
        .bind(&self.financer_id)
        .bind(&invoice.saad_siret)
        .bind(invoice.aid_type.code())
        .bind(invoice.month.to_string())
        .bind(invoice_kind_code(invoice.kind))
        .bind(invoice_status_code(invoice.status))
        .bind(invoice.line_count)
        .bind(invoice.billed_minutes)
        .bind(invoice.rejected_minutes)
        .bind(dec(invoice.valued_amount))
        .bind(dec(invoice.participation_amount))
        .bind(dec(invoice.amount_due))
        .bind(ts(invoice.created_at))
        .bind(&invoice.close_run_id)
        .bind(&invoice.batch_id)
        .execute(&mut *tx)
        .await?;
        for line in lines {
            sqlx::query(
                "INSERT INTO invoice_lines (invoice_id, line_no, plan_ref, beneficiary_id, billed_minutes, \
                 rejected_minutes, hourly_rate, valued_amount, participation_amount, amount_due, \
                 allotted_minutes, carried_in_minutes, interventions) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&invoice.id)
            .bind(line.line_no)
            .bind(&line.plan_ref)
            .bind(&line.beneficiary_id)
            .bind(line.billed_minutes)
            .bind(line.rejected_minutes)
            .bind(dec(line.hourly_rate))
            .bind(dec(line.valued_amount))
            .bind(dec(line.participation_amount))
            .bind(dec(line.amount_due))
            .bind(line.allotted_minutes)
            .bind(line.carried_in_minutes)
            .bind(pack_traces(&line.interventions)?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_invoice(
        &self,
        id: &str,
        saad_siret: Option<&str>,
    ) -> StoreResult<Option<(InvoiceRecord, Vec<InvoiceLineRecord>)>> {
        let mut conn = self.pool.acquire().await?;
        let Some(row) = sqlx::query(
            "SELECT * FROM invoices WHERE financer_id = $1 AND id = $2 AND ($3 IS NULL OR saad_siret = $3)",
        )
        .bind(&self.financer_id)
        .bind(id)
        .bind(saad_siret)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let invoice = invoice_from_row(&row)?;
        let line_rows = sqlx::query("SELECT * FROM invoice_lines WHERE invoice_id = $1 ORDER BY line_no")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
        let lines = line_rows
            .iter()
            .map(invoice_line_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Some((invoice, lines)))
    }

    pub(crate) async fn list_invoices(
        &self,
        month: YearMonth,
        saad_siret: Option<&str>,
    ) -> StoreResult<Vec<InvoiceRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM invoices WHERE financer_id = $1 AND month = $2 AND ($3 IS NULL OR saad_siret = $3) \
             ORDER BY saad_siret, aid_type, created_at, id",
        )
        .bind(&self.financer_id)
        .bind(month.to_string())
        .bind(saad_siret)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(invoice_from_row).collect()
    }

    pub(crate) async fn set_invoice_status(
        &self,
        id: &str,
        status: InvoiceStatus,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE invoices SET status = $3, \
             saad_validated_at = CASE WHEN $3 = 'saad_validated' THEN $4 ELSE saad_validated_at END, \
             final_at = CASE WHEN $3 = 'final' THEN $4 ELSE final_at END \
             WHERE financer_id = $1 AND id = $2",
        )
        .bind(&self.financer_id)
        .bind(id)
        .bind(invoice_status_code(status))
        .bind(ts(at))
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    pub(crate) async fn insert_payment_batch(&self, batch: &PaymentBatchRecord) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO payment_batches (id, financer_id, created_at, status, total) VALUES ($1, $2, $3, 'issued', $4)",
        )
        .bind(&batch.id)
        .bind(&self.financer_id)
        .bind(ts(batch.created_at))
        .bind(dec(batch.total))
        .execute(&mut *tx)
        .await?;
        for payment in &batch.payments {
            sqlx::query(
                "INSERT INTO batch_payments (batch_id, saad_siret, iban, bic, amount, invoice_ids) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&batch.id)
            .bind(&payment.saad_siret)
            .bind(&payment.iban)
            .bind(&payment.bic)
            .bind(dec(payment.amount))
            .bind(serde_json::to_string(&payment.invoice_ids)?)
            .execute(&mut *tx)
            .await?;
            for invoice_id in &payment.invoice_ids {
                let done = sqlx::query(
                    "UPDATE invoices SET status = 'paid', batch_id = $3 \
                     WHERE financer_id = $1 AND id = $2 AND status = 'final' AND batch_id IS NULL",
                )
                .bind(&self.financer_id)
                .bind(invoice_id)
                .bind(&batch.id)
                .execute(&mut *tx)
                .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "invoice {invoice_id} is not a final unpaid invoice"
                    )));
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn get_payment_batch(&self, id: &str) -> StoreResult<Option<PaymentBatchRecord>> {
        let mut conn = self.pool.acquire().await?;
        let Some(row) = sqlx::query(
            "SELECT id, created_at, total FROM payment_batches WHERE financer_id = $1 AND id = $2",
        )
        .bind(&self.financer_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        else {
            return Ok(None);
        };
        let payment_rows = sqlx::query(
            "SELECT saad_siret, iban, bic, amount, invoice_ids FROM batch_payments WHERE batch_id = $1 ORDER BY saad_siret",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let mut payments = Vec::with_capacity(payment_rows.len());
        for p in &payment_rows {
            let ids: String = get(p, "invoice_ids")?;
            payments.push(BatchPaymentRecord {
                saad_siret: get(p, "saad_siret")?,
                iban: get(p, "iban")?,
                bic: get(p, "bic")?,
                amount: get_dec(p, "amount")?,
                invoice_ids: serde_json::from_str(&ids)?,
            });
        }
        Ok(Some(PaymentBatchRecord {
            id: get(&row, "id")?,
            created_at: get_ts(&row, "created_at")?,
            total: get_dec(&row, "total")?,
            payments,
        }))
    }

    pub(crate) async fn list_payment_batches(&self) -> StoreResult<Vec<PaymentBatchRecord>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM payment_batches WHERE financer_id = $1 ORDER BY created_at, id",
        )
        .bind(&self.financer_id)
        .fetch_all(&self.pool)
        .await?;
        let mut batches = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(batch) = self.get_payment_batch(&id).await? {
                batches.push(batch);
            }
        }
        Ok(batches)
    }
}

fn same_plan(a: &PlanVersion, b: &PlanVersion) -> bool {
    a.plan_ref == b.plan_ref
        && a.version == b.version
        && a.beneficiary_id == b.beneficiary_id
        && a.saad_siret == b.saad_siret
        && a.aid_type == b.aid_type
        && a.gir == b.gir
        && a.household == b.household
        && a.valid_from == b.valid_from
        && a.valid_to == b.valid_to
        && a.monthly_minutes == b.monthly_minutes
        && a.hourly_rate.normalize() == b.hourly_rate.normalize()
        && a.participation_rate.map(|d| d.normalize()) == b.participation_rate.map(|d| d.normalize())
        && a.coverage_rate.map(|d| d.normalize()) == b.coverage_rate.map(|d| d.normalize())
        && a.monthly_amount.normalize() == b.monthly_amount.normalize()
        && a.respite_exemption == b.respite_exemption
        && a.household_ref == b.household_ref
}

async fn events_on<'a>(
    conn: &mut Conn,
    financer_id: &str,
    beneficiary_ids: impl IntoIterator<Item = &'a str>,
) -> StoreResult<Vec<Event>> {
    let rows = sqlx::query(concat!(
        "SELECT beneficiary_id, kind, start_date, end_date, note FROM events \
         WHERE financer_id = $1 AND ",
        in_list!("beneficiary_id", "$2"),
        " ORDER BY beneficiary_id, start_date, kind"
    ))
    .bind(financer_id)
    .bind(list_param(beneficiary_ids)?)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(event_from_row).collect()
}

/// The audit row insert, for the pool or an open transaction.
fn audit_insert<'q>(
    financer_id: &'q str,
    entry: &'q AuditEntry,
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    sqlx::query(
        "INSERT INTO audit_log (financer_id, at, token_id, saad_siret, action, target, outcome, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(financer_id)
    .bind(ts(entry.at))
    .bind(&entry.token_id)
    .bind(&entry.saad_siret)
    .bind(&entry.action)
    .bind(&entry.target)
    .bind(&entry.outcome)
    .bind(&entry.detail)
}

/// The ingestion critical section of one delivery (see `crate::storage::IngestTx`).
pub struct IngestTx {
    tx: sqlx::Transaction<'static, Db>,
    financer_id: String,
    /// The highest version id and acceptance sequence stored, read once per
    /// transaction: it holds the ingestion lock, so only its own writes move
    /// them (a group of deliveries would otherwise read them twice each).
    /// Forgotten when a savepoint is rolled back.
    high_water: Option<HighWater>,
    /// Whether the legacy `raw_stamps` table holds rows (see `migrate`).
    legacy_raw: bool,
    /// Interventions written so far (released savepoints included).
    written: u64,
    /// `written` when the current savepoint was opened.
    written_at_savepoint: u64,
    /// Told how many interventions a successful commit stored (PostgreSQL:
    /// keeps the planner statistics current, see `PgStore::note_stored`).
    after_commit: Option<AfterCommit>,
}

/// Until `migrate` has looked, the legacy `raw_stamps` table is read.
fn legacy_raw_unknown() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true))
}

/// See [`IngestTx::after_commit`].
pub(crate) type AfterCommit = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// See [`IngestTx::high_water`].
#[derive(Debug, Clone, Copy)]
struct HighWater {
    max_id: i64,
    max_sequence: i64,
}

/// The highest version id and acceptance sequence (0 when none), from the
/// cache or the database.
async fn high_water(
    conn: &mut Conn,
    financer: &str,
    cache: &mut Option<HighWater>,
) -> StoreResult<HighWater> {
    if let Some(known) = *cache {
        return Ok(known);
    }
    let (max_id, max_sequence): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT), CAST(COALESCE((SELECT MAX(sequence) \
         FROM intervention_versions WHERE financer_id = $1), 0) AS BIGINT) FROM intervention_versions",
    )
    .bind(financer)
    .fetch_one(&mut *conn)
    .await?;
    let known = HighWater {
        max_id,
        max_sequence,
    };
    *cache = Some(known);
    Ok(known)
}

impl std::fmt::Debug for IngestTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestTx").field("financer_id", &self.financer_id).finish()
    }
}

impl IngestTx {
    /// Loads what the checks need (see `IngestContext`), inside the lock.
    pub async fn load_context(
        &mut self,
        saad_siret: &str,
        lines: &[InterventionSubmission],
        now: DateTime<Utc>,
    ) -> StoreResult<IngestContext> {
        let request = ContextRequest {
            saad_siret,
            lines,
            now,
        };
        let pool = self.load_pool(&[request]).await?;
        pool.context_for(&request, pool.next_sequence)
            .ok_or_else(|| StoreError::other("a delivery is not covered by its own context load"))
    }

    /// The contexts of several deliveries, read in ONE statement into a
    /// [`ContextPool`], which gives each delivery exactly what
    /// [`Self::load_context`] of that delivery alone would return now (see
    /// `storage::context_pool`).
    ///
    /// The statement reads what the checks of the deliveries may look at,
    /// each table's rows as one JSON value (`json_rows!`): the SAADs, the
    /// aliases the SAADs recorded under the beneficiary ids the lines name,
    /// the plans named (directly or through those aliases) and the plans of
    /// these SAADs for the beneficiaries named, the aliases of those plans,
    /// the events of their beneficiaries, the raw sides and current version
    /// of each (SAAD, line id), the current interventions of those
    /// beneficiaries (any SAAD) and of the lines' (SAAD, worker)s around the
    /// deliveries' stamps, and the highest version id and sequence. One
    /// statement instead of a dozen: on PostgreSQL one round trip, on SQLite
    /// one hand-off from sqlx's worker thread instead of one per statement
    /// and per row. The lists only widen what is read (a SAAD's alias under
    /// an id another SAAD's line names, say); the pool's split repeats each
    /// delivery's own filters.
    pub async fn load_pool(&mut self, requests: &[ContextRequest<'_>]) -> StoreResult<ContextPool> {
        let financer = self.financer_id.clone();
        let named: Vec<Named<'_>> = requests.iter().map(|r| Named::of(r.lines)).collect();
        let saads: BTreeSet<&str> = requests.iter().map(|r| r.saad_siret).collect();
        let beneficiaries: BTreeSet<&str> =
            named.iter().flat_map(|n| n.beneficiaries.iter().copied()).collect();
        let plans: BTreeSet<&str> = named.iter().flat_map(|n| n.plans.iter().copied()).collect();
        // (SAAD, id) pairs as one list of SIRET (14 digits) followed by the
        // id: each pair is one probe of a (SAAD, id) index. Two lists
        // (`saad_siret = ANY(…) AND line_id IN (…)`) made PostgreSQL's
        // planner scan every version row.
        let mut line_keys: BTreeSet<String> = BTreeSet::new();
        let mut workers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut span: Option<NeighbourWindow> = None;
        for (r, n) in requests.iter().zip(&named) {
            if r.saad_siret.len() != 14 {
                return Err(StoreError::other(format!(
                    "SAAD '{}' is not a 14-digit SIRET",
                    r.saad_siret
                )));
            }
            line_keys.extend(n.line_ids.iter().map(|l| format!("{}{l}", r.saad_siret)));
            if let Some(window) = NeighbourWindow::of(r.lines) {
                span = Some(span.map_or(window, |s| s.union(window)));
                workers.entry(r.saad_siret).or_default().extend(n.workers.iter().copied());
            }
        }
        let worker_keys: BTreeSet<String> = workers
            .iter()
            .flat_map(|(saad, ids)| ids.iter().map(move |w| format!("{saad}{w}")))
            .collect();
        let row = sqlx::query(concat!(
            "WITH named_aliases AS (SELECT saad_siret, plan_ref, alias_id, beneficiary_id FROM beneficiary_aliases \
             WHERE financer_id = $1 AND ", in_list!("saad_siret", "$2"), " AND ", in_list!("alias_id", "$3"), "), \
             plan_keys AS (SELECT value AS plan_ref FROM ", list_rows!("$4"),
            " UNION SELECT plan_ref FROM named_aliases), \
             beneficiary_keys AS (SELECT value AS beneficiary_id FROM ", list_rows!("$3"),
            " UNION SELECT beneficiary_id FROM named_aliases), \
             plans AS (SELECT * FROM plan_versions WHERE financer_id = $1 AND plan_ref IN (\
             SELECT plan_ref FROM plan_keys UNION SELECT p.plan_ref FROM beneficiary_keys b \
             CROSS JOIN plan_versions p WHERE p.financer_id = $1 AND p.beneficiary_id = b.beneficiary_id \
             AND ", in_list!("p.saad_siret", "$2"), ")), \
             plan_beneficiaries AS (SELECT DISTINCT beneficiary_id FROM plans), \
             searched AS (SELECT beneficiary_id FROM beneficiary_keys \
             UNION SELECT beneficiary_id FROM plan_beneficiaries) \
             SELECT ",
            json_rows!(
                "s.siret, s.name, s.iban, s.bic, s.declarative, s.finess, s.legal_category, s.account_holder, \
                 s.address_line1, s.address_postcode, s.address_city, s.address_country",
                concat!("FROM saads s WHERE s.financer_id = $1 AND ", in_list!("s.siret", "$2"))
            ),
            ", ",
            json_rows!(
                "a.siret, a.aid_type, a.status",
                concat!("FROM saad_aid_types a WHERE a.financer_id = $1 AND ", in_list!("a.siret", "$2"))
            ),
            ", ",
            json_rows!(
                concat!("t.siret, t.aid_type, t.valid_from, t.valid_to, ", dec_text!("t.hourly_rate")),
                concat!("FROM saad_tariffs t WHERE t.financer_id = $1 AND ", in_list!("t.siret", "$2"))
            ),
            ", ",
            json_rows!(
                "n.saad_siret, n.plan_ref, n.alias_id, n.beneficiary_id",
                "FROM named_aliases n"
            ),
            ", ",
            json_rows!(
                concat!(
                    "p.plan_ref, p.version, p.beneficiary_id, p.saad_siret, p.aid_type, p.gir, p.household, \
                     p.valid_from, p.valid_to, p.monthly_minutes, ", dec_text!("p.hourly_rate"), ", ",
                    dec_text!("p.participation_rate"), ", ", dec_text!("p.coverage_rate"), ", ",
                    dec_text!("p.monthly_amount"), ", p.respite_exemption, p.household_ref"
                ),
                "FROM plans p"
            ),
            ", ",
            json_rows!(
                "a.saad_siret, a.plan_ref, a.alias_id, a.beneficiary_id",
                concat!(
                    "FROM beneficiary_aliases a WHERE a.financer_id = $1 AND ", in_list!("a.saad_siret", "$2"),
                    " AND a.plan_ref IN (SELECT plan_ref FROM plans)"
                )
            ),
            ", ",
            json_rows!(
                "e.beneficiary_id, e.kind, e.start_date, e.end_date, e.note",
                "FROM events e WHERE e.financer_id = $1 AND e.beneficiary_id IN (SELECT beneficiary_id FROM plan_beneficiaries)"
            ),
            ", ",
            json_rows!(
                "r.saad_siret, r.line_id, r.side, r.stamp, r.received_at",
                concat!(
                    "FROM ", list_rows!("$5"), " CROSS JOIN raw_stamps r WHERE $10 AND r.financer_id = $1 \
                     AND r.saad_siret = substr(j.value, 1, 14) AND r.line_id = substr(j.value, 15)"
                )
            ),
            ", ",
            json_rows!(
                "v.id, v.saad_siret, v.line_id, v.raw_start, v.raw_start_received_at, v.raw_end, v.raw_end_received_at",
                concat!(
                    "FROM ", list_rows!("$5"), " CROSS JOIN intervention_versions v WHERE v.financer_id = $1 \
                     AND v.saad_siret = substr(j.value, 1, 14) AND v.line_id = substr(j.value, 15) \
                     AND (v.raw_start IS NOT NULL OR v.raw_end IS NOT NULL)"
                )
            ),
            ", ",
            json_rows!(
                "c.saad_siret, c.line_id, c.beneficiary_id, c.worker_id, c.counted_start, c.counted_end, \
                 c.shared_time, c.plan_ref, c.sequence, c.rounded_minutes, c.corrected, c.fingerprint",
                concat!(
                    "FROM ", list_rows!("$5"), " CROSS JOIN current_interventions c WHERE c.financer_id = $1 \
                     AND c.saad_siret = substr(j.value, 1, 14) AND c.line_id = substr(j.value, 15)"
                )
            ),
            ", ",
            // Neighbours: accepted interventions of the beneficiaries (any
            // SAAD) or the workers of the lines' SAADs around the stamps. An
            // accepted period is at most 24 h long (R1), so one that ends
            // after `$7` starts after `$9`: a bounded index range. The lists
            // drive (one index range per beneficiary and per (SAAD,
            // worker)); UNION reads an intervention found both ways once.
            json_rows!(
                "c.saad_siret, c.line_id, c.beneficiary_id, c.worker_id, c.counted_start, c.counted_end, \
                 c.shared_time, c.plan_ref, c.sequence, c.rounded_minutes, c.corrected, c.fingerprint",
                concat!(
                    "FROM (SELECT c.* FROM searched b CROSS JOIN current_interventions c \
                     WHERE c.financer_id = $1 AND c.beneficiary_id = b.beneficiary_id AND c.counted_start >= $9 \
                     AND c.counted_start < $8 AND c.counted_end > $7 \
                     UNION SELECT c.* FROM ", list_rows!("$6"), " CROSS JOIN current_interventions c \
                     WHERE c.financer_id = $1 AND c.saad_siret = substr(j.value, 1, 14) \
                     AND c.worker_id = substr(j.value, 15) \
                     AND c.counted_start >= $9 AND c.counted_start < $8 AND c.counted_end > $7) c"
                )
            ),
            ", CAST(COALESCE((SELECT MAX(id) FROM intervention_versions), 0) AS BIGINT), \
             CAST(COALESCE((SELECT MAX(sequence) FROM intervention_versions WHERE financer_id = $1), 0) AS BIGINT)"
        ))
        .bind(&financer)
        .bind(list_param(saads.iter().copied())?)
        .bind(list_param(beneficiaries.iter().copied())?)
        .bind(list_param(plans.iter().copied())?)
        .bind(list_param(line_keys.iter().map(String::as_str))?)
        .bind(list_param(worker_keys.iter().map(String::as_str))?)
        .bind(span.map(|w| ts(w.low)))
        .bind(span.map(|w| ts(w.high)))
        .bind(span.map(|w| ts(w.earliest_start)))
        .bind(self.legacy_raw)
        .fetch_one(&mut *self.tx)
        .await?;
        let section = |index: usize| -> StoreResult<String> { Ok(row.try_get::<String, _>(index)?) };

        let mut pool = ContextPool::default();
        pool.note_saads(saads.iter().copied());
        pool.set_saads(context_json::saads(&section(0)?, &section(1)?, &section(2)?)?);
        pool.note_alias_ids(beneficiaries.iter().copied());
        let named_aliases = context_json::aliases(&section(3)?)?;
        let mut loaded_plans: BTreeSet<String> = plans.iter().map(|p| (*p).to_owned()).collect();
        let mut loaded_beneficiaries: BTreeSet<String> =
            beneficiaries.iter().map(|b| (*b).to_owned()).collect();
        for (saad, alias) in named_aliases {
            loaded_plans.insert(alias.plan_ref.clone());
            loaded_beneficiaries.insert(alias.beneficiary_id.clone());
            pool.add_named_alias(&saad, alias);
        }
        pool.note_plan_query(
            loaded_plans.iter().map(String::as_str),
            loaded_beneficiaries.iter().map(String::as_str),
        );
        let plan_rows = context_json::plans(&section(4)?)?;
        let context_plans: BTreeSet<String> = plan_rows.iter().map(|p| p.plan_ref.clone()).collect();
        let plan_beneficiaries: BTreeSet<String> =
            plan_rows.iter().map(|p| p.beneficiary_id.clone()).collect();
        for plan in plan_rows {
            pool.add_plan(plan);
        }
        pool.note_context_plan_refs(context_plans.iter().map(String::as_str));
        for (saad, alias) in context_json::aliases(&section(5)?)? {
            pool.add_plan_alias(&saad, alias);
        }
        for event in context_json::events(&section(6)?)? {
            pool.add_event(event);
        }
        pool.note_event_beneficiaries(plan_beneficiaries.iter().map(String::as_str));
        for (r, n) in requests.iter().zip(&named) {
            pool.note_line_ids(r.saad_siret, n.line_ids.iter().copied());
        }
        // Legacy sides (the `raw_stamps` table) are older than any side on a
        // version row: first. The first reception of a side is the evidence.
        let legacy = context_json::legacy_raw(&section(7)?)?;
        for (saad, line_id, stamp) in legacy.into_iter().chain(context_json::version_raw(&section(8)?)?) {
            pool.add_raw(&saad, &line_id, stamp);
        }
        for (accepted, fingerprint) in context_json::current(&section(9)?)? {
            pool.add_current(accepted, fingerprint);
        }
        for (neighbour, _) in context_json::current(&section(10)?)? {
            pool.add_neighbour(neighbour);
        }
        let searched: BTreeSet<&str> = if span.is_some() {
            loaded_beneficiaries
                .iter()
                .chain(&plan_beneficiaries)
                .map(String::as_str)
                .collect()
        } else {
            BTreeSet::new()
        };
        pool.note_neighbour_query(searched.iter().copied(), &workers, span);
        let known = HighWater {
            max_id: row.try_get(11)?,
            max_sequence: row.try_get(12)?,
        };
        let high = *self.high_water.get_or_insert(known);
        pool.next_sequence = high.max_sequence + 1;
        Ok(pool)
    }

    /// Writes the delivery in this transaction and commits (see
    /// `crate::storage::IngestTx::commit`).
    pub async fn commit(mut self, delivery: DeliveryCommit<'_>) -> StoreResult<CommitOutcome> {
        let outcome = self.write(delivery).await?;
        match outcome {
            CommitOutcome::Stored => {
                self.tx.commit().await?;
                if let Some(hook) = &self.after_commit {
                    hook(self.written);
                }
            }
            // Nothing was written: give the transaction (and the lock) back.
            CommitOutcome::AlreadyStored { .. } | CommitOutcome::AlreadyStoredInParts { .. } => {
                self.tx.rollback().await?
            }
        }
        Ok(outcome)
    }

    /// Commits what was written (group commit: several deliveries).
    pub async fn finish(self) -> StoreResult<()> {
        self.tx.commit().await?;
        if let Some(hook) = &self.after_commit {
            hook(self.written);
        }
        Ok(())
    }

    /// Opens a savepoint: a delivery of a group that fails is rolled back
    /// to it without touching the others.
    pub async fn savepoint(&mut self) -> StoreResult<()> {
        self.written_at_savepoint = self.written;
        sqlx::query("SAVEPOINT ingest_delivery").execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Appends an audit row inside the ingestion transaction: it commits
    /// with the delivery it describes, and takes no write lock of its own.
    pub async fn append_audit(&mut self, entry: &AuditEntry) -> StoreResult<()> {
        audit_insert(&self.financer_id, entry).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Keeps what was written since the savepoint.
    pub async fn release_savepoint(&mut self) -> StoreResult<()> {
        sqlx::query("RELEASE SAVEPOINT ingest_delivery").execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Undoes what was written since the savepoint (and releases it).
    pub async fn rollback_to_savepoint(&mut self) -> StoreResult<()> {
        self.high_water = None;
        self.written = self.written_at_savepoint;
        sqlx::query("ROLLBACK TO SAVEPOINT ingest_delivery").execute(&mut *self.tx).await?;
        sqlx::query("RELEASE SAVEPOINT ingest_delivery").execute(&mut *self.tx).await?;
        Ok(())
    }

    /// The receipts already stored for these (SAAD, transmission id) pairs,
    /// in their order (one statement).
    pub async fn stored_receipts(
        &mut self,
        keys: &[(&str, &str)],
    ) -> StoreResult<Vec<Option<StoredReceipt>>> {
        let saads: BTreeSet<&str> = keys.iter().map(|(s, _)| *s).collect();
        let tids: BTreeSet<&str> = keys.iter().map(|(_, t)| *t).collect();
        let rows = sqlx::query(concat!(
            "SELECT saad_siret, transmission_id, body_hash, receipt_json, received_at, parts FROM receipts \
             WHERE financer_id = $1 AND ",
            in_list!("saad_siret", "$2"),
            " AND ",
            in_list!("transmission_id", "$3")
        ))
        .bind(&self.financer_id)
        .bind(list_param(saads.iter().copied())?)
        .bind(list_param(tids.iter().copied())?)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut found: BTreeMap<(String, String), StoredReceipt> = BTreeMap::new();
        for row in &rows {
            found.insert(
                (get(row, "saad_siret")?, get(row, "transmission_id")?),
                StoredReceipt {
                    transmission_id: get(row, "transmission_id")?,
                    body_hash: get(row, "body_hash")?,
                    receipt_json: get(row, "receipt_json")?,
                    received_at: get_ts(row, "received_at")?,
                    parts: get(row, "parts")?,
                },
            );
        }
        Ok(keys
            .iter()
            .map(|(s, t)| found.get(&((*s).to_owned(), (*t).to_owned())).cloned())
            .collect())
    }

    /// Writes the delivery in this transaction without committing; nothing is
    /// written when the transmission is already stored (`AlreadyStored`).
    pub async fn write(&mut self, delivery: DeliveryCommit<'_>) -> StoreResult<CommitOutcome> {
        // The receipt first: the unique key decides who stores the transmission.
        if claim_receipts(&mut self.tx, &self.financer_id, &[delivery]).await? == 0 {
            let stored = receipt_on(
                &mut self.tx,
                &self.financer_id,
                delivery.saad_siret,
                delivery.transmission_id,
            )
            .await?
            .ok_or_else(|| StoreError::other("receipt vanished after a unique conflict"))?;
            return Ok(stored.outcome());
        }
        self.write_claimed(&[(delivery, 1)]).await?;
        Ok(CommitOutcome::Stored)
    }

    /// Writes several deliveries, none of which reads what another writes
    /// (the group committer's waves), with one statement per table, and
    /// their audit rows. Returns `false` after claiming some receipts when
    /// another one is already stored: the caller must then roll back to its
    /// savepoint and write them one by one.
    pub async fn write_many(&mut self, writes: &[GroupWrite<'_>]) -> StoreResult<bool> {
        let deliveries: Vec<DeliveryCommit<'_>> = writes.iter().map(|w| w.delivery).collect();
        if claim_receipts(&mut self.tx, &self.financer_id, &deliveries).await? != deliveries.len() {
            return Ok(false);
        }
        let numbered: Vec<(DeliveryCommit<'_>, i64)> = deliveries.iter().map(|d| (*d, 1)).collect();
        self.write_claimed(&numbered).await?;
        let audits: Vec<&AuditEntry> = writes.iter().filter_map(|w| w.audit).collect();
        for chunk in statement_chunks(&audits, 1_000) {
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO audit_log (financer_id, at, token_id, saad_siret, action, target, outcome, detail) ",
            );
            insert.push_values(chunk, |mut b, entry| {
                b.push_bind(self.financer_id.as_str())
                    .push_bind(ts(entry.at))
                    .push_bind(entry.token_id.as_deref())
                    .push_bind(entry.saad_siret.as_deref())
                    .push_bind(entry.action.as_str())
                    .push_bind(entry.target.as_deref())
                    .push_bind(entry.outcome.as_str())
                    .push_bind(entry.detail.as_deref());
            });
            insert.build().execute(&mut *self.tx).await?;
        }
        Ok(true)
    }

    /// Writes the rows of one part of a delivery ingested as it is read: its
    /// lines (numbered from `first_line_no`) and its receipt part `part_no`
    /// (`delivery.receipt_json`: the part's receipt lines, comma separated).
    /// The receipt itself is claimed at the end by
    /// [`Self::claim_receipt_in_parts`]; until the transaction commits
    /// nothing of it is visible.
    pub async fn write_part(
        &mut self,
        delivery: DeliveryCommit<'_>,
        part_no: i64,
        first_line_no: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO receipt_parts (financer_id, saad_siret, transmission_id, part_no, lines_json) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&self.financer_id)
        .bind(delivery.saad_siret)
        .bind(delivery.transmission_id)
        .bind(part_no)
        .bind(delivery.receipt_json)
        .execute(&mut *self.tx)
        .await?;
        self.write_claimed(&[(delivery, first_line_no)]).await
    }

    /// Claims the receipt of a delivery written in `parts` parts
    /// ([`Self::write_part`]): `prefix` is the receipt up to `"lines":[`.
    /// `false` when the transmission is already stored (the caller rolls
    /// back what it wrote).
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
        let claimed = sqlx::query(
            "INSERT INTO receipts (financer_id, saad_siret, transmission_id, body_hash, receipt_json, line_count, \
             received_at, parts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (financer_id, saad_siret, transmission_id) DO NOTHING RETURNING transmission_id",
        )
        .bind(&self.financer_id)
        .bind(saad_siret)
        .bind(transmission_id)
        .bind(body_hash)
        .bind(prefix)
        .bind(i64::try_from(line_count).unwrap_or(i64::MAX))
        .bind(ts(now))
        .bind(parts)
        .fetch_optional(&mut *self.tx)
        .await?;
        Ok(claimed.is_some())
    }

    /// The rows of deliveries whose receipts this transaction has claimed
    /// (or claims at the end, for a part), each with the number of its
    /// first line.
    async fn write_claimed(&mut self, numbered: &[(DeliveryCommit<'_>, i64)]) -> StoreResult<()> {
        let (deliveries, first_line_nos): (Vec<DeliveryCommit<'_>>, Vec<i64>) =
            numbered.iter().copied().unzip();
        let financer = self.financer_id.clone();
        let conn: &mut Conn = &mut self.tx;
        let HighWater {
            mut max_id,
            mut max_sequence,
        } = high_water(conn, &financer, &mut self.high_water).await?;
        let mut all_rows = Vec::with_capacity(deliveries.len());
        for (delivery, first_line_no) in deliveries.iter().zip(first_line_nos) {
            let rows = rows::commit_rows(delivery, max_id + 1, first_line_no)?;
            if let Some(min_sequence) = rows.min_sequence {
                if min_sequence <= max_sequence {
                    return Err(StoreError::Conflict(format!(
                        "acceptance sequence {min_sequence} is not after the last one ({max_sequence}): \
                         the context was loaded outside this ingestion transaction"
                    )));
                }
            }
            max_id += i64::try_from(rows.versions.len()).unwrap_or(i64::MAX);
            max_sequence = rows
                .versions
                .iter()
                .filter_map(|v| v.sequence)
                .fold(max_sequence, i64::max);
            all_rows.push(rows);
        }
        let batches: Vec<rows::VersionBatch<'_>> = deliveries
            .iter()
            .zip(&all_rows)
            .map(|(d, r)| rows::VersionBatch {
                saad_siret: d.saad_siret,
                transmission_id: d.transmission_id,
                received_at: d.now,
                rows: &r.versions,
            })
            .collect();
        insert_versions(conn, &financer, &batches).await?;
        // The final current version of each line the deliveries touch, in
        // delivery order: a later delivery of the same write may withdraw
        // (or replace) what an earlier one made current. A withdrawal names
        // the version current just before it: one of its own delivery, else
        // one written by an earlier delivery here, else the stored one (read
        // before any current row of this write changes).
        let mut touched: BTreeMap<(&str, &str), Option<&rows::CurrentRow>> = BTreeMap::new();
        for (delivery, rows) in deliveries.iter().zip(&all_rows) {
            for withdrawal in &rows.withdrawals {
                let key = (delivery.saad_siret, withdrawal.line_id.as_str());
                let known = match withdrawal.withdrawn {
                    rows::Withdrawn::Version(id) => Some(Some(id)),
                    rows::Withdrawn::Nothing => Some(None),
                    rows::Withdrawn::Stored => touched
                        .get(&key)
                        .map(|earlier| earlier.map(|row| row.version_id)),
                };
                let statement = match known {
                    None => sqlx::query(
                        "INSERT INTO withdrawals (financer_id, saad_siret, line_id, version_id, withdrawn_version_id, \
                         transmission_id, withdrawn_at) \
                         VALUES ($1, $2, $3, $4, (SELECT version_id FROM current_interventions \
                         WHERE financer_id = $1 AND saad_siret = $2 AND line_id = $3), $5, $6)",
                    ),
                    Some(_) => sqlx::query(
                        "INSERT INTO withdrawals (financer_id, saad_siret, line_id, version_id, withdrawn_version_id, \
                         transmission_id, withdrawn_at) VALUES ($1, $2, $3, $4, $7, $5, $6)",
                    ),
                };
                statement
                    .bind(&financer)
                    .bind(delivery.saad_siret)
                    .bind(&withdrawal.line_id)
                    .bind(withdrawal.version_id)
                    .bind(delivery.transmission_id)
                    .bind(ts(delivery.now))
                    .bind(known.flatten())
                    .execute(&mut *conn)
                    .await?;
                touched.insert(key, None);
            }
            for row in &rows.current {
                touched.insert((delivery.saad_siret, row.line_id.as_str()), Some(row));
            }
        }
        let mut current: BTreeMap<&str, Vec<rows::CurrentRow>> = BTreeMap::new();
        for ((saad, line_id), state) in &touched {
            match state {
                Some(row) => current.entry(*saad).or_default().push((*row).clone()),
                None => {
                    sqlx::query(
                        "DELETE FROM current_interventions WHERE financer_id = $1 AND saad_siret = $2 AND line_id = $3",
                    )
                    .bind(&financer)
                    .bind(*saad)
                    .bind(*line_id)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        let current: Vec<(&str, &[rows::CurrentRow])> = current
            .iter()
            .map(|(saad, rows)| (*saad, rows.as_slice()))
            .collect();
        upsert_current(conn, &financer, &current).await?;
        let lines: usize = deliveries.iter().map(|d| d.lines.len()).sum();
        self.written = self
            .written
            .saturating_add(u64::try_from(lines).unwrap_or(u64::MAX));
        self.high_water = Some(HighWater {
            max_id,
            max_sequence,
        });
        for delivery in deliveries {
            for alias in &delivery.result.new_aliases {
                sqlx::query(
                    "INSERT INTO beneficiary_aliases (financer_id, saad_siret, plan_ref, alias_id, beneficiary_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (financer_id, saad_siret, plan_ref, alias_id) DO NOTHING",
                )
                .bind(&financer)
                .bind(delivery.saad_siret)
                .bind(&alias.plan_ref)
                .bind(&alias.alias_id)
                .bind(&alias.beneficiary_id)
                .bind(ts(delivery.now))
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    /// Rolls the transaction back (releases the lock).
    pub async fn rollback(self) -> StoreResult<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}
