//! Liquidation CSV: columns, one row per invoice, totals to the cent with a
//! negative regularisation deducted; and the financer configuration loader.

mod exports_support;

use std::collections::BTreeMap;
use std::path::Path;

use exports_support::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use saad_gateway::exports::csv::CSV_COLUMNS;
use saad_gateway::exports::{ExportError, FinancerConfig, liquidation_csv};

fn rows(bytes: &[u8]) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::ReaderBuilder::new().delimiter(b';').from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let records = reader
        .records()
        .map(|r| {
            header
                .iter()
                .cloned()
                .zip(r.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, records)
}

fn amount(text: &str) -> Decimal {
    text.replace(',', ".").parse().unwrap()
}

#[test]
fn csv_has_the_documented_columns_and_one_row_per_invoice() {
    let bytes = liquidation_csv(&sample_batch()).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with("saad_siret;saad_name;iban;bic;aid_type;month;invoice_id;invoice_kind;amount;imputation_nature;imputation_fonction;payment_id;batch_id\r\n"));
    let (header, records) = rows(&bytes);
    assert_eq!(header, CSV_COLUMNS);
    assert_eq!(records.len(), 4);
    let first = &records[0];
    assert_eq!(first["saad_siret"], "73282932000074");
    assert_eq!(first["saad_name"], "Aide & Soins <Domicile> Élan");
    assert_eq!(
        first["iban"], "FR7699999000010000000000115",
        "IBAN in electronic format"
    );
    assert_eq!(first["bic"], "AGRIFRPP");
    assert_eq!(first["aid_type"], "APA");
    assert_eq!(first["month"], "2024-01");
    assert_eq!(first["invoice_id"], "F-2024-01-APA-0001");
    assert_eq!(first["invoice_kind"], "proforma");
    assert_eq!(first["amount"], "323,45");
    assert_eq!(first["imputation_nature"], "651141");
    assert_eq!(first["imputation_fonction"], "538");
    assert_eq!(first["payment_id"], "B2024-02-0001-73282932000074");
    assert_eq!(first["batch_id"], "B2024-02-0001");
    let regularisation = &records[2];
    assert_eq!(regularisation["invoice_kind"], "regularisation");
    assert_eq!(regularisation["month"], "2023-12");
    assert_eq!(regularisation["amount"], "-30,05");
    assert_eq!(records[1]["imputation_nature"], "651122", "PCH imputation");
    assert_eq!(records[3]["aid_type"], "AM");
}

#[test]
fn csv_totals_are_exact_to_the_cent_with_the_negative_regularisation_deducted() {
    let batch = sample_batch();
    let (_, records) = rows(&liquidation_csv(&batch).unwrap());
    let mut per_payment: BTreeMap<String, Decimal> = BTreeMap::new();
    for record in &records {
        let value = &record["amount"];
        let decimals = value.split(',').nth(1).unwrap();
        assert_eq!(decimals.len(), 2, "two decimals: {value}");
        *per_payment.entry(record["payment_id"].clone()).or_default() += amount(value);
    }
    assert_eq!(per_payment["B2024-02-0001-73282932000074"], dec!(393.40));
    assert_eq!(per_payment["B2024-02-0001-81234567800013"], dec!(1000.01));
    let total: Decimal = per_payment.values().sum();
    assert_eq!(total, dec!(1393.41));
    let batch_total: Decimal = batch.payments.iter().map(|p| p.amount).sum();
    assert_eq!(total, batch_total);
}

#[test]
fn csv_matches_the_golden_fixture() {
    assert_golden(
        &liquidation_csv(&sample_batch()).unwrap(),
        "sample.liquidation.csv",
    );
}

#[test]
fn csv_refuses_a_batch_with_an_invalid_iban() {
    let mut batch = sample_batch();
    batch.payments[0].saad.iban = "FR7699999000010000000000116".to_owned();
    assert!(matches!(
        liquidation_csv(&batch),
        Err(ExportError::InvalidIban { .. })
    ));
}

#[test]
fn financer_sample_loads_and_lists_its_placeholders() {
    let config = financer();
    assert_eq!(config.id, "CD99");
    assert_eq!(config.siret.as_str(), "22990000000014");
    assert_eq!(config.imputations.len(), 3);
    assert!(
        config.placeholders().len() >= 9,
        "{:?}",
        config.placeholders()
    );
    assert!(
        config
            .placeholders()
            .iter()
            .any(|p| p.starts_with("imputation APA ("))
    );
    assert_eq!(config.pes.nat_jur(Some("9220")), "03");
    assert_eq!(config.pes.nat_jur(Some("1000")), "00");
    assert_eq!(config.pes.nat_jur(None), "00");
}

fn load_edited(replace: &str, with: &str) -> String {
    let text = std::fs::read_to_string(charter_dir().join("financer.toml")).unwrap();
    assert!(text.contains(replace), "{replace}");
    let edited = text.replacen(replace, with, 1);
    let err = FinancerConfig::from_toml(Path::new("charter/financer.toml"), &edited).unwrap_err();
    err.to_string()
}

fn line_containing(text: &str) -> usize {
    let source = std::fs::read_to_string(charter_dir().join("financer.toml")).unwrap();
    source.lines().position(|l| l.contains(text)).unwrap() + 1
}

#[test]
fn financer_errors_name_the_file_and_the_line() {
    let line = line_containing("bic = \"BDFEFRPPCCT\"");
    let err = load_edited("bic = \"BDFEFRPPCCT\"", "bic = \"bdfefrppcct\"");
    assert!(
        err.starts_with(&format!("charter/financer.toml:{line}: debtor.bic")),
        "{err}"
    );

    let line = line_containing("iban = \"FR51");
    let err = load_edited(
        "iban = \"FR513000100099C990000000043\"",
        "iban = \"FR513000100099C990000000044\"",
    );
    assert!(
        err.starts_with(&format!("charter/financer.toml:{line}: debtor.iban")),
        "{err}"
    );

    let line = line_containing("siret = \"22990000000014\"");
    let err = load_edited("siret = \"22990000000014\"", "siret = \"22990000000015\"");
    assert!(
        err.starts_with(&format!("charter/financer.toml:{line}:")),
        "{err}"
    );

    let line = line_containing("id_post =");
    let err = load_edited("id_post =", "id_poste = \"1\"\nid_post =");
    assert!(
        err.starts_with(&format!("charter/financer.toml:{line}:")),
        "{err}"
    );
    assert!(err.contains("id_poste"), "{err}");

    let err = load_edited("aid_type = \"AM\"", "aid_type = \"APA\"");
    assert!(err.contains("imputation APA is listed twice"), "{err}");

    let err = load_edited("aid_type = \"PCH\"", "aid_type = \"XYZ\"");
    assert!(err.contains("unknown aid type 'XYZ'"), "{err}");
}
