//! ISO 20022 pain.001.001.09: validity against the official XSD, totals,
//! identifiers and texts within their limits, escaping, refusals.

mod exports_support;

use exports_support::*;
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use saad_gateway::domain::types::AidType;
use saad_gateway::exports::pain001::remittance;
use saad_gateway::exports::{ExportError, InvoiceKind, PAIN001_NAMESPACE, check_batch, pain001};

const XSD: &str = "pain.001.001.09.xsd";

fn amount(node: &Node) -> Decimal {
    node.text.parse().unwrap()
}

#[test]
fn pain001_of_the_sample_batch_is_valid_against_the_official_xsd() {
    let xml = pain001(&sample_batch()).unwrap();
    validate_with_xmllint(&xml, XSD);
}

#[test]
fn pain001_matches_the_golden_fixture() {
    let xml = pain001(&sample_batch()).unwrap();
    assert_golden(&xml, "sample.pain001.xml");
}

#[test]
fn pain001_control_sum_is_the_exact_sum_and_counts_transactions() {
    let batch = sample_batch();
    let doc = parse(&pain001(&batch).unwrap()).unwrap();
    assert_eq!(doc.attribute("xmlns"), Some(PAIN001_NAMESPACE));
    let header = doc.at("CstmrCdtTrfInitn/GrpHdr");
    let info = doc.at("CstmrCdtTrfInitn/PmtInf");
    let amounts: Vec<Decimal> = info
        .children_named("CdtTrfTxInf")
        .map(|tx| amount(tx.at("Amt/InstdAmt")))
        .collect();
    assert_eq!(amounts, vec![dec!(393.40), dec!(1000.01)]);
    assert_eq!(header.child("CtrlSum").text, "1393.41");
    assert_eq!(info.child("CtrlSum").text, "1393.41");
    assert_eq!(header.child("NbOfTxs").text, "2");
    assert_eq!(info.child("NbOfTxs").text, "2");
    assert_eq!(info.child("PmtMtd").text, "TRF");
    assert_eq!(info.at("PmtTpInf/SvcLvl/Cd").text, "SEPA");
    assert_eq!(info.at("ReqdExctnDt/Dt").text, "2024-02-08");
    assert_eq!(info.child("ChrgBr").text, "SLEV");
    assert_eq!(header.child("CreDtTm").text, "2024-02-05T09:30:00Z");
    for tx in info.children_named("CdtTrfTxInf") {
        assert_eq!(tx.at("Amt/InstdAmt").attribute("Ccy"), Some("EUR"));
        assert_eq!(
            tx.at("Amt/InstdAmt").text.split('.').nth(1).map(str::len),
            Some(2)
        );
    }
    // The debtor's structured address and account come from charter/financer.toml.
    assert_eq!(info.at("Dbtr/PstlAdr/TwnNm").text, "Chef-Lieu");
    assert_eq!(
        info.at("DbtrAcct/Id/IBAN").text,
        "FR513000100099C990000000043"
    );
    assert_eq!(info.at("DbtrAgt/FinInstnId/BICFI").text, "BDFEFRPPCCT");
}

#[test]
fn pain001_special_characters_are_escaped_and_read_back_intact() {
    let xml = pain001(&sample_batch()).unwrap();
    let text = String::from_utf8(xml.clone()).unwrap();
    assert!(
        text.contains("Aide &amp; Soins &lt;Domicile&gt; Élan"),
        "{text}"
    );
    assert!(text.contains("Association Âge d'Or") || text.contains("Association Âge d&apos;Or"));
    let doc = parse(&xml).unwrap();
    let names: Vec<&str> = doc
        .at("CstmrCdtTrfInitn/PmtInf")
        .children_named("CdtTrfTxInf")
        .map(|tx| tx.at("Cdtr/Nm").text.as_str())
        .collect();
    assert_eq!(
        names,
        vec!["Aide & Soins <Domicile> Élan", "Association Âge d'Or"]
    );
}

#[test]
fn pain001_remittance_names_the_invoices_within_140_characters() {
    let doc = parse(&pain001(&sample_batch()).unwrap()).unwrap();
    let first = doc.at("CstmrCdtTrfInitn/PmtInf/CdtTrfTxInf/RmtInf/Ustrd");
    assert_eq!(
        first.text,
        "CD99 factures F-2024-01-APA-0001 F-2024-01-PCH-0001 R-2023-12-APA-0001"
    );

    let ids: Vec<String> = (1..=12).map(|n| format!("F-2024-01-APA-{n:04}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let text = remittance("CD99", &refs);
    assert!(text.chars().count() <= 140, "{text}");
    assert!(text.starts_with("CD99 factures F-2024-01-APA-0001 "));
    let named = text.split(' ').filter(|w| w.starts_with("F-")).count();
    assert!(text.ends_with(&format!(" +{}", 12 - named)), "{text}");
    assert!(named >= 6, "{text}");
}

#[test]
fn pain001_names_are_cut_to_70_characters_and_ids_stay_within_35() {
    let mut batch = sample_batch();
    batch.payments[1].saad.name = format!("Association {}", "é".repeat(100));
    batch.payments[0].saad.account_holder = None;
    let xml = pain001(&batch).unwrap();
    validate_with_xmllint(&xml, XSD);
    let doc = parse(&xml).unwrap();
    let info = doc.at("CstmrCdtTrfInitn/PmtInf");
    for tx in info.children_named("CdtTrfTxInf") {
        assert!(tx.at("Cdtr/Nm").text.chars().count() <= 70);
        let id = &tx.at("PmtId/EndToEndId").text;
        assert!(id.len() <= 35, "{id}");
        assert!(id.starts_with("B2024-02-0001-"));
    }
    let second = info.children_named("CdtTrfTxInf").nth(1).unwrap();
    assert_eq!(second.at("Cdtr/Nm").text.chars().count(), 70);
    assert!(doc.at("CstmrCdtTrfInitn/GrpHdr/MsgId").text.len() <= 35);

    let mut long = sample_batch();
    long.id = "B".repeat(21);
    assert!(matches!(
        pain001(&long),
        Err(ExportError::UnfitBatchId { .. })
    ));
    long.id = "B 1".to_owned();
    assert!(matches!(
        pain001(&long),
        Err(ExportError::UnfitBatchId { .. })
    ));
}

#[test]
fn pain001_uses_the_account_holder_as_creditor_name() {
    let mut batch = sample_batch();
    batch.payments[1].saad.account_holder = Some("ASSOC AGE D OR".to_owned());
    let doc = parse(&pain001(&batch).unwrap()).unwrap();
    let second = doc
        .at("CstmrCdtTrfInitn/PmtInf")
        .children_named("CdtTrfTxInf")
        .nth(1)
        .unwrap();
    assert_eq!(second.at("Cdtr/Nm").text, "ASSOC AGE D OR");
}

#[test]
fn invalid_iban_is_refused() {
    let mut batch = sample_batch();
    batch.payments[1].saad.iban = "FR7699999000020000000000295".to_owned();
    let err = pain001(&batch).unwrap_err();
    assert!(
        matches!(err, ExportError::InvalidIban { ref siret, .. } if siret.as_str() == "81234567800013"),
        "{err}"
    );
    assert!(err.to_string().contains("81234567800013"));
    batch.payments[1].saad.iban = "not an iban".to_owned();
    assert!(matches!(
        pain001(&batch),
        Err(ExportError::InvalidIban { .. })
    ));
}

#[test]
fn invalid_bic_is_refused() {
    let mut batch = sample_batch();
    batch.payments[0].saad.bic = "agrifrpp".to_owned();
    assert!(matches!(
        pain001(&batch),
        Err(ExportError::InvalidBic { .. })
    ));
}

#[test]
fn non_positive_payment_is_refused() {
    let mut batch = sample_batch();
    let refund = invoice(
        "R-2023-11-AM-0009",
        "2023-11",
        AidType::Am,
        InvoiceKind::Regularisation,
        vec![line("P-AM-7", -3000, dec!(-1000.01))],
    );
    batch.payments[1].invoices.push(refund);
    batch.payments[1].amount = Decimal::ZERO;
    let err = pain001(&batch).unwrap_err();
    assert!(
        matches!(err, ExportError::NonPositivePayment { .. }),
        "{err}"
    );
}

#[test]
fn totals_that_do_not_add_up_are_refused() {
    let mut batch = sample_batch();
    batch.payments[0].amount = dec!(393.41);
    assert!(matches!(
        pain001(&batch),
        Err(ExportError::PaymentMismatch { .. })
    ));

    let mut batch = sample_batch();
    batch.payments[1].invoices[0].lines[0].amount = dec!(1000.02);
    assert!(matches!(
        pain001(&batch),
        Err(ExportError::InvoiceMismatch { .. })
    ));

    let mut batch = sample_batch();
    batch.payments[1].invoices[0].lines[0].amount = dec!(1000.005);
    batch.payments[1].invoices[0].amount = dec!(1000.005);
    batch.payments[1].amount = dec!(1000.005);
    assert!(matches!(
        pain001(&batch),
        Err(ExportError::NotInCents { .. })
    ));
}

#[test]
fn duplicate_payee_and_duplicate_invoice_are_refused() {
    let mut batch = sample_batch();
    let copy = batch.payments[0].clone();
    batch.payments.push(copy);
    assert!(matches!(
        pain001(&batch),
        Err(ExportError::DuplicatePayee { .. })
    ));

    let mut batch = sample_batch();
    batch.payments[1].invoices[0].id = "F-2024-01-APA-0001".to_owned();
    assert!(matches!(
        pain001(&batch),
        Err(ExportError::DuplicateInvoice { .. })
    ));
}

// ---- property tests (generators in exports_support) ---------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pain001_control_sum_equals_payments_and_invoices_and_is_well_formed(batch in arb_batch()) {
        let xml = pain001(&batch).unwrap();
        let doc = parse(&xml).expect("well-formed");
        let info = doc.at("CstmrCdtTrfInitn/PmtInf");
        let control: Decimal = doc.at("CstmrCdtTrfInitn/GrpHdr/CtrlSum").text.parse().unwrap();
        let written: Decimal = info.children_named("CdtTrfTxInf").map(|tx| amount(tx.at("Amt/InstdAmt"))).sum();
        let payments: Decimal = batch.payments.iter().map(|p| p.amount).sum();
        let invoices: Decimal = batch.payments.iter().flat_map(|p| &p.invoices).map(|i| i.amount).sum();
        prop_assert_eq!(control, payments);
        prop_assert_eq!(control, invoices);
        prop_assert_eq!(control, written);
        prop_assert_eq!(check_batch(&batch).unwrap().total, control);
        prop_assert_eq!(info.children_named("CdtTrfTxInf").count(), batch.payments.len());
        for (tx, payment) in info.children_named("CdtTrfTxInf").zip(&batch.payments) {
            let name = &tx.at("Cdtr/Nm").text;
            prop_assert!(name.chars().count() <= 70);
            prop_assert!(payment.saad.name.trim().starts_with(name.as_str()));
            prop_assert!(tx.at("RmtInf/Ustrd").text.chars().count() <= 140);
            prop_assert!(tx.at("PmtId/EndToEndId").text.len() <= 35);
        }
    }
}

#[test]
fn a_few_random_batches_are_valid_against_the_official_xsd() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for _ in 0..4 {
        let batch = arb_batch().new_tree(&mut runner).unwrap().current();
        if !validate_with_xmllint(&pain001(&batch).unwrap(), XSD) {
            return;
        }
    }
}
