//! ORDER and INVOICE: golden readings of the spec's samples, and write →
//! read round trips (proptest).

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;
use rust_decimal::Decimal;
use saad_gateway::domain::model::PlanVersion;
use saad_gateway::domain::types::{AidType, Siret, YearMonth};
use saad_gateway::xml::{
    InvoiceDocument, InvoiceDocumentLine, InvoiceKind, InvoiceSaad, OrderParties, PartyRef,
    read_invoice, read_order, write_invoice, write_order,
};

const ORDER: &[u8] = include_bytes!("fixtures/esppadom/order-apa-example.xml");
const INVOICE: &[u8] = include_bytes!("fixtures/esppadom/invoice-apa-example.xml");

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn golden_order_sample_gives_one_plan_with_its_ceiling_and_rate() {
    let plans = read_order(ORDER).unwrap();
    assert_eq!(plans.len(), 1);
    let plan = &plans[0];
    assert_eq!(plan.order_id.as_deref(), Some("PA-APA-0001"));
    assert_eq!(plan.plan_ref, "PA-APA-0001");
    assert_eq!(plan.beneficiary_id, "BEN-99-000101");
    assert_eq!(plan.saad_id.as_deref(), Some("SAAD-99-0042"));
    assert_eq!(plan.saad_siret.as_deref(), Some("00000000000018"));
    assert_eq!(plan.financer_id.as_deref(), Some("CD99"));
    assert_eq!(plan.aid_type.as_deref(), Some("APA"));
    assert_eq!(plan.valid_from, Some(day(2024, 1, 1)));
    assert_eq!(plan.valid_to, Some(day(2024, 12, 31)));
    assert_eq!(plan.monthly_minutes, Some(2400));
    assert_eq!(plan.hourly_rate, Some(Decimal::new(2400, 2)));
    // ORDER cannot carry these: left for R7 PLAN_INCOMPLETE.
    assert_eq!((plan.gir, plan.household, plan.version), (None, None, None));
    assert_eq!((plan.participation_rate, plan.monthly_amount), (None, None));
    assert_eq!(plan.problem, None);
    let dump = format!("{plans:?}");
    assert!(!dump.contains("Fictive") && !dump.contains("Alpha"));
}

#[test]
fn order_end_date_time_at_midnight_is_that_day() {
    let xml = std::str::from_utf8(ORDER)
        .unwrap()
        .replace("2024-12-31T23:59:59", "2024-06-30T00:00:00");
    assert_eq!(
        read_order(xml.as_bytes()).unwrap()[0].valid_to,
        Some(day(2024, 6, 30))
    );
}

#[test]
fn order_unreadable_quantity_is_a_plan_problem_not_a_refusal() {
    let xml = std::str::from_utf8(ORDER)
        .unwrap()
        .replace(">40<", ">forty<");
    let plan = &read_order(xml.as_bytes()).unwrap()[0];
    let problem = plan.problem.clone().unwrap();
    assert!(problem.message.contains("'forty'"), "{}", problem.message);
    assert!(problem.path.contains("IncludedCIOLSupplyChainTradeLineItem[1]/SpecifiedCIOLSupplyChainTradeDelivery/RequestedQuantity"), "{}", problem.path);
}

#[test]
fn golden_invoice_sample_gives_165_minutes_for_66_euros() {
    let invoices = read_invoice(INVOICE).unwrap();
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(invoice.id.as_deref(), Some("FAC-2024-01-APA-0007"));
    assert_eq!(invoice.type_code.as_deref(), Some("380"));
    assert_eq!(invoice.kind, Some(InvoiceKind::Proforma));
    assert_eq!(invoice.seller_siret.as_deref(), Some("00000000000018"));
    assert_eq!(invoice.buyer_id.as_deref(), Some("CD99"));
    assert_eq!(invoice.order_ref.as_deref(), Some("PA-APA-0001"));
    assert_eq!(invoice.month, Some(YearMonth::new(2024, 1).unwrap()));
    assert_eq!(invoice.grand_total, Some(Decimal::new(6600, 2)));
    assert_eq!(invoice.due_payable, Some(Decimal::new(6600, 2)));
    assert_eq!(invoice.lines.len(), 1);
    let line = &invoice.lines[0];
    assert_eq!(line.plan_ref.as_deref(), Some("PA-APA-0001"));
    assert_eq!(line.beneficiary_id.as_deref(), Some("BEN-99-000101"));
    assert_eq!(line.billed_minutes, Some(165));
    assert_eq!(line.hourly_rate, Some(Decimal::new(2400, 2)));
    assert_eq!(line.amount, Some(Decimal::new(6600, 2)));
    assert_eq!(line.problem, None);
    assert_eq!(invoice.problem, None);
}

fn parties() -> OrderParties {
    OrderParties {
        transaction_id: "T-ORD-1".to_owned(),
        issued_at: NaiveDateTime::parse_from_str("2024-01-02T08:00:00", "%Y-%m-%dT%H:%M:%S")
            .unwrap(),
        saad_id: "SAAD-99-0042".to_owned(),
        saad_name: "SAAD <Exemple> & Fils".to_owned(),
        financer_id: "CD99".to_owned(),
        financer_name: "Département \"99\"".to_owned(),
    }
}

fn plan(
    plan_ref: String,
    beneficiary: String,
    aid: AidType,
    from: NaiveDate,
    days: u32,
    minutes: u32,
    cents: i64,
) -> PlanVersion {
    PlanVersion {
        plan_ref,
        version: 1,
        beneficiary_id: beneficiary,
        saad_siret: Siret::parse("00000000000018").unwrap(),
        aid_type: aid,
        gir: None,
        household: None,
        valid_from: from,
        valid_to: from + chrono::Days::new(u64::from(days)),
        monthly_minutes: minutes,
        hourly_rate: Decimal::new(cents, 2),
        participation_rate: None,
        coverage_rate: None,
        monthly_amount: Decimal::ZERO,
        respite_exemption: false,
        household_ref: None,
    }
}

#[test]
fn written_order_escapes_text_and_reads_back() {
    let plans = vec![plan(
        "PA&<1>".to_owned(),
        "BEN\"1'".to_owned(),
        AidType::Pch,
        day(2024, 3, 1),
        30,
        61,
        2350,
    )];
    let xml = write_order(&plans, &parties()).unwrap();
    let text = String::from_utf8(xml.clone()).unwrap();
    assert!(text.contains("SAAD &lt;Exemple&gt; &amp; Fils"), "{text}");
    assert!(
        text.contains(r#"<ram:RequestedQuantity unitCode="HUR">1.0167</ram:RequestedQuantity>"#),
        "{text}"
    );
    assert!(
        text.contains(r#"<ram:ChargeAmount currencyID="EUR">23.50</ram:ChargeAmount>"#),
        "{text}"
    );
    let read = read_order(&xml).unwrap();
    assert_eq!(read[0].plan_ref, "PA&<1>");
    assert_eq!(read[0].beneficiary_id, "BEN\"1'");
    assert_eq!(read[0].monthly_minutes, Some(61));
}

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9<>&\"' _.-]{1,20}"
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("non-empty", |s| !s.is_empty())
}

fn aid() -> impl Strategy<Value = AidType> {
    prop_oneof![Just(AidType::Apa), Just(AidType::Pch), Just(AidType::Am)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn order_write_then_read_gives_the_same_values(
        specs in proptest::collection::vec((id(), id(), aid(), 0u32..3000, 0u32..400, 0u32..20_000, 0i64..100_000), 1..5)
    ) {
        let plans: Vec<PlanVersion> = specs
            .into_iter()
            .map(|(r, b, a, offset, days, minutes, cents)| plan(r, b, a, day(2020, 1, 1) + chrono::Days::new(u64::from(offset)), days, minutes, cents))
            .collect();
        let xml = write_order(&plans, &parties()).unwrap();
        let read = read_order(&xml).unwrap();
        prop_assert_eq!(read.len(), plans.len());
        for (written, read) in plans.iter().zip(&read) {
            prop_assert_eq!(&read.plan_ref, &written.plan_ref);
            prop_assert_eq!(&read.beneficiary_id, &written.beneficiary_id);
            prop_assert_eq!(read.saad_siret.as_deref(), Some(written.saad_siret.as_str()));
            prop_assert_eq!(read.aid_type.as_deref(), Some(written.aid_type.code()));
            prop_assert_eq!(read.valid_from, Some(written.valid_from));
            prop_assert_eq!(read.valid_to, Some(written.valid_to));
            prop_assert_eq!(read.monthly_minutes, Some(written.monthly_minutes));
            prop_assert_eq!(read.hourly_rate, Some(written.hourly_rate));
            prop_assert_eq!(&read.problem, &None);
        }
    }

    #[test]
    fn invoice_write_then_read_gives_the_same_values(
        invoice_id in id(),
        regularisation in any::<bool>(),
        month in 1u32..=12,
        lines in proptest::collection::vec((id(), id(), -20_000i64..20_000, 0i64..100_000, -10_000_000i64..10_000_000), 1..6),
        total_cents in -10_000_000i64..10_000_000,
    ) {
        let document = InvoiceDocument {
            id: invoice_id,
            kind: if regularisation { InvoiceKind::Regularisation } else { InvoiceKind::Proforma },
            month: YearMonth::new(2024, month).unwrap(),
            issued_at: NaiveDateTime::parse_from_str("2024-02-01T09:00:00", "%Y-%m-%dT%H:%M:%S").unwrap(),
            aid_type: AidType::Apa,
            saad: InvoiceSaad { siret: Siret::parse("00000000000018").unwrap(), name: "SAAD & co".to_owned() },
            financer: PartyRef { id: "CD99".to_owned(), name: "CD <99>".to_owned() },
            lines: lines
                .into_iter()
                .map(|(plan_ref, beneficiary_id, billed_minutes, rate, amount)| InvoiceDocumentLine {
                    plan_ref,
                    beneficiary_id,
                    billed_minutes,
                    hourly_rate: Decimal::new(rate, 2),
                    amount: Decimal::new(amount, 2),
                })
                .collect(),
            total: Decimal::new(total_cents, 2),
        };
        let xml = write_invoice(&document).unwrap();
        let read = read_invoice(&xml).unwrap();
        prop_assert_eq!(read.len(), 1);
        let read = &read[0];
        prop_assert_eq!(read.id.as_deref(), Some(document.id.as_str()));
        prop_assert_eq!(read.kind, Some(document.kind));
        prop_assert_eq!(read.month, Some(document.month));
        prop_assert_eq!(read.seller_siret.as_deref(), Some("00000000000018"));
        prop_assert_eq!(read.due_payable, Some(document.total));
        prop_assert_eq!(read.lines.len(), document.lines.len());
        for (written, read) in document.lines.iter().zip(&read.lines) {
            prop_assert_eq!(read.plan_ref.as_deref(), Some(written.plan_ref.as_str()));
            prop_assert_eq!(read.beneficiary_id.as_deref(), Some(written.beneficiary_id.as_str()));
            prop_assert_eq!(read.billed_minutes, Some(written.billed_minutes));
            prop_assert_eq!(read.hourly_rate, Some(written.hourly_rate));
            prop_assert_eq!(read.amount, Some(written.amount));
            prop_assert_eq!(&read.problem, &None);
        }
    }
}
