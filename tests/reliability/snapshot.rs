//! What a request stored: row counts of every business table (everything
//! but the audit log and the token table), read straight from storage.

use saad_gateway::storage::Store;

/// The tables a refused request must leave untouched.
pub const BUSINESS_TABLES: &[&str] = &[
    "saads",
    "saad_aid_types",
    "saad_tariffs",
    "plan_versions",
    "beneficiary_aliases",
    "events",
    "overrun_authorisations",
    "receipts",
    "intervention_versions",
    "current_interventions",
    "raw_stamps",
    "withdrawals",
    "months",
    "invoices",
    "invoice_lines",
    "payment_batches",
    "batch_payments",
];

/// `(table, rows)` for every business table.
pub async fn counts(store: &Store) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in BUSINESS_TABLES {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        let n: i64 = match store {
            Store::Sqlite(s) => sqlx::query_scalar(&sql).fetch_one(s.pool()).await,
            Store::Postgres(s) => sqlx::query_scalar(&sql).fetch_one(s.pool()).await,
        }
        .unwrap_or_else(|e| panic!("count {table}: {e}"));
        out.push((*table, n));
    }
    out
}

/// Rows of the audit log.
pub async fn audit_rows(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*) FROM audit_log";
    match store {
        Store::Sqlite(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
        Store::Postgres(s) => sqlx::query_scalar(sql).fetch_one(s.pool()).await,
    }
    .expect("count audit_log")
}
