//! Writes the three payment files for a national-scale batch.
//!
//! `cargo bench --bench exports`: 5 000 SAADs × 3 aid types (one invoice
//! each) × `EXPORTS_BENCH_LINES` lines per invoice (default 20, so 300 000
//! invoice lines). Figures are recorded in docs/payment-files.md.

use std::hint::black_box;
use std::time::Duration;

use chrono::{NaiveDate, TimeZone, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use saad_gateway::domain::model::Address;
use saad_gateway::domain::types::{AidType, Siret, YearMonth};
use saad_gateway::exports::{
    BatchExport, FINANCER_FILE, FinancerConfig, InvoiceExport, InvoiceKind, InvoiceLineExport,
    PaymentExport, PesNumbering, SaadPayee, liquidation_csv, pain001, pes_v2,
};

const SAADS: usize = 5_000;

fn siret(index: usize) -> Siret {
    let base = format!("{:013}", 1_000_000 + index);
    (0..10)
        .find_map(|k| Siret::parse(&format!("{base}{k}")).ok())
        .expect("some check digit is valid")
}

fn national_batch(lines_per_invoice: usize) -> BatchExport {
    let financer = FinancerConfig::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("charter")
            .join(FINANCER_FILE),
    )
    .expect("charter/financer.toml loads");
    let month: YearMonth = "2024-01".parse().expect("month");
    let payments = (0..SAADS)
        .map(|s| {
            let invoices: Vec<InvoiceExport> = AidType::ALL
                .iter()
                .map(|aid| {
                    let lines: Vec<InvoiceLineExport> = (0..lines_per_invoice)
                        .map(|l| InvoiceLineExport {
                            plan_ref: format!("P{s}-{aid}-{l}"),
                            beneficiary_id: format!("B{s}-{l}"),
                            billed_minutes: 600 + i64::try_from(l % 60).unwrap_or(0),
                            amount: Decimal::new(23_450 + i64::try_from(l % 997).unwrap_or(0), 2),
                        })
                        .collect();
                    InvoiceExport {
                        id: format!("F-2024-01-{aid}-{s:05}"),
                        month,
                        aid_type: *aid,
                        kind: InvoiceKind::Proforma,
                        amount: lines.iter().map(|l| l.amount).sum(),
                        lines,
                    }
                })
                .collect();
            PaymentExport {
                saad: SaadPayee {
                    siret: siret(s),
                    name: format!("Service d'aide à domicile n° {s} & associés"),
                    iban: "FR7699999000030000000000376".to_owned(),
                    bic: "AGRIFRPP".to_owned(),
                    legal_category: Some("9220".to_owned()),
                    account_holder: None,
                    address: Some(Address {
                        line1: format!("{s} avenue de la République"),
                        postcode: "99100".to_owned(),
                        city: "Ville-Fictive".to_owned(),
                        country: "FR".to_owned(),
                    }),
                },
                amount: invoices.iter().map(|i| i.amount).sum(),
                invoices,
            }
        })
        .collect();
    BatchExport {
        id: "B2024-02-NATIONAL".to_owned(),
        created_at: Utc
            .with_ymd_and_hms(2024, 2, 5, 9, 30, 0)
            .single()
            .expect("date"),
        requested_execution_date: NaiveDate::from_ymd_opt(2024, 2, 8).expect("date"),
        financer,
        pes_numbering: PesNumbering::default(),
        payments,
    }
}

fn exports(c: &mut Criterion) {
    let lines = std::env::var("EXPORTS_BENCH_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let batch = national_batch(lines);
    let invoices = SAADS * AidType::ALL.len();
    let total_lines = u64::try_from(invoices * lines).unwrap_or(0);
    for (name, bytes) in [
        ("liquidation.csv", liquidation_csv(&batch).map(|b| b.len())),
        ("pes.xml", pes_v2(&batch).map(|b| b.len())),
        ("pain001.xml", pain001(&batch).map(|b| b.len())),
    ] {
        eprintln!(
            "{name}: {} bytes ({SAADS} SAADs, {invoices} invoices, {total_lines} lines)",
            bytes.unwrap_or(0)
        );
    }
    let mut group = c.benchmark_group(format!("exports_{SAADS}_saads_{lines}_lines"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(total_lines));
    group.bench_function("liquidation_csv", |b| {
        b.iter(|| liquidation_csv(black_box(&batch)))
    });
    group.bench_function("pes_v2", |b| b.iter(|| pes_v2(black_box(&batch))));
    group.bench_function("pain001", |b| b.iter(|| pain001(black_box(&batch))));
    group.finish();
}

criterion_group!(benches, exports);
criterion_main!(benches);
