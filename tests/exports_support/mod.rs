//! Shared builders and an XML reader for the exports tests.
#![allow(dead_code, reason = "each test binary uses part of the support module")]

use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use quick_xml::Reader;
use quick_xml::events::Event;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use saad_gateway::domain::model::Address;
use saad_gateway::domain::types::{AidType, Siret, YearMonth};
use saad_gateway::exports::{
    BatchExport, FINANCER_FILE, FinancerConfig, InvoiceExport, InvoiceKind, InvoiceLineExport,
    PaymentExport, PesNumbering, SaadPayee,
};

pub fn charter_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/charter"))
}

pub fn financer() -> FinancerConfig {
    FinancerConfig::load(&charter_dir().join(FINANCER_FILE)).unwrap()
}

pub fn month(text: &str) -> YearMonth {
    text.parse().unwrap()
}

pub fn line(plan_ref: &str, minutes: i64, amount: Decimal) -> InvoiceLineExport {
    InvoiceLineExport {
        plan_ref: plan_ref.to_owned(),
        beneficiary_id: format!("B-{plan_ref}"),
        billed_minutes: minutes,
        amount,
    }
}

pub fn invoice(
    id: &str,
    month_text: &str,
    aid_type: AidType,
    kind: InvoiceKind,
    lines: Vec<InvoiceLineExport>,
) -> InvoiceExport {
    InvoiceExport {
        id: id.to_owned(),
        month: month(month_text),
        aid_type,
        kind,
        amount: lines.iter().map(|l| l.amount).sum(),
        lines,
    }
}

pub fn payee(siret: &str, name: &str, iban: &str, bic: &str) -> SaadPayee {
    SaadPayee {
        siret: Siret::parse(siret).unwrap(),
        name: name.to_owned(),
        iban: iban.to_owned(),
        bic: bic.to_owned(),
        legal_category: Some("9220".to_owned()),
        account_holder: None,
        address: Some(Address {
            line1: "12 rue des Lilas".to_owned(),
            postcode: "99100".to_owned(),
            city: "Ville-Fictive".to_owned(),
            country: "FR".to_owned(),
        }),
    }
}

pub fn payment(saad: SaadPayee, invoices: Vec<InvoiceExport>) -> PaymentExport {
    PaymentExport {
        saad,
        amount: invoices.iter().map(|i| i.amount).sum(),
        invoices,
    }
}

/// The sample batch of the tests and of tests/fixtures/exports/: two SAADs;
/// the first is paid two January invoices (APA 323.45, PCH 100.00) minus a
/// December APA regularisation (−30.05) = 393.40; the second one AM invoice
/// of 1000.01. Total 1393.41.
pub fn sample_batch() -> BatchExport {
    use AidType::*;
    use InvoiceKind::*;
    let first = payment(
        SaadPayee {
            account_holder: Some("Aide & Soins <Domicile> Élan".to_owned()),
            ..payee(
                "73282932000074",
                "Aide & Soins <Domicile> Élan",
                "FR76 9999 9000 0100 0000 0000 115",
                "AGRIFRPP",
            )
        },
        vec![
            invoice(
                "F-2024-01-APA-0001",
                "2024-01",
                Apa,
                Proforma,
                vec![
                    line("P-APA-1", 420, dec!(123.45)),
                    line("P-APA-2", 600, dec!(200.00)),
                ],
            ),
            invoice(
                "F-2024-01-PCH-0001",
                "2024-01",
                Pch,
                Proforma,
                vec![
                    line("P-PCH-1", 120, dec!(50.10)),
                    line("P-PCH-2", 120, dec!(49.90)),
                ],
            ),
            invoice(
                "R-2023-12-APA-0001",
                "2023-12",
                Apa,
                Regularisation,
                vec![
                    line("P-APA-1", -60, dec!(-20.05)),
                    line("P-APA-2", -30, dec!(-10.00)),
                ],
            ),
        ],
    );
    let second = payment(
        SaadPayee {
            legal_category: None,
            ..payee(
                "81234567800013",
                "Association Âge d'Or",
                "FR7699999000020000000000294",
                "CMCIFR2A",
            )
        },
        vec![invoice(
            "F-2024-01-AM-0002",
            "2024-01",
            Am,
            Proforma,
            vec![line("P-AM-7", 3000, dec!(1000.01))],
        )],
    );
    BatchExport {
        id: "B2024-02-0001".to_owned(),
        created_at: Utc.with_ymd_and_hms(2024, 2, 5, 9, 30, 0).unwrap(),
        requested_execution_date: NaiveDate::from_ymd_opt(2024, 2, 8).unwrap(),
        financer: financer(),
        pes_numbering: PesNumbering::default(),
        payments: vec![first, second],
    }
}

/// An element of a parsed document.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> &Node {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>", self.name))
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a `/`-separated path of first children.
    pub fn at(&self, path: &str) -> &Node {
        path.split('/').fold(self, |node, name| node.child(name))
    }

    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `V` attribute of the child at `path` (PES style).
    pub fn v(&self, path: &str) -> &str {
        self.at(path)
            .attribute("V")
            .unwrap_or_else(|| panic!("{path} has no V"))
    }

    /// Every descendant (and self) named `name`.
    pub fn descendants<'a>(&'a self, name: &str, out: &mut Vec<&'a Node>) {
        if self.name == name {
            out.push(self);
        }
        for child in &self.children {
            child.descendants(name, out);
        }
    }
}

/// Parses a whole document with quick-xml (unescaping texts and attributes);
/// `Err` if it is not well-formed.
pub fn parse(bytes: &[u8]) -> Result<Node, String> {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(start) => {
                stack.push(element(&start)?);
            }
            Event::Empty(start) => {
                let node = element(&start)?;
                stack.last_mut().ok_or("no parent")?.children.push(node);
            }
            Event::End(_) => {
                let mut node = stack.pop().ok_or("unbalanced")?;
                if !node.children.is_empty() {
                    node.text.clear(); // indentation between children
                }
                stack.last_mut().ok_or("unbalanced")?.children.push(node);
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                stack.last_mut().ok_or("no parent")?.text.push_str(&content);
            }
            Event::GeneralRef(reference) => {
                let name = reference.xml10_content();
                let entity = format!("&{name};");
                let unescaped = quick_xml::escape::unescape(&entity).map_err(|e| e.to_string())?;
                stack
                    .last_mut()
                    .ok_or("no parent")?
                    .text
                    .push_str(&unescaped);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let mut root = stack.pop().ok_or("unbalanced")?;
    if !stack.is_empty() || root.children.len() != 1 {
        return Err("not one root element".to_owned());
    }
    Ok(root.children.remove(0))
}

fn element(start: &quick_xml::events::BytesStart<'_>) -> Result<Node, String> {
    let name = start.name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        let key = attribute.key.as_ref().to_owned();
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Node {
        name,
        attributes,
        ..Node::default()
    })
}

/// Validates `xml` against `schemas/iso20022/<xsd>` with xmllint. Returns
/// `false` (after a notice) when xmllint is missing outside CI; panics when
/// it is missing under `CI=true` or when the file is invalid.
pub fn validate_with_xmllint(xml: &[u8], xsd: &str) -> bool {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas/iso20022")
        .join(xsd);
    let available = Command::new("xmllint").arg("--version").output().is_ok();
    if !available {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("xmllint is required under CI=true (Debian package libxml2-utils)");
        }
        eprintln!(
            "notice: xmllint not found, skipping validation against {xsd} (apt-get install libxml2-utils)"
        );
        return false;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("document.xml");
    std::fs::write(&file, xml).unwrap();
    let output = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "xmllint refused the document:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        String::from_utf8_lossy(xml)
    );
    true
}

/// Compares `bytes` with `tests/fixtures/exports/<name>`; with
/// `UPDATE_EXPORT_FIXTURES=1`, rewrites the fixture instead.
pub fn assert_golden(bytes: &[u8], name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exports")
        .join(name);
    if std::env::var_os("UPDATE_EXPORT_FIXTURES").is_some() {
        std::fs::write(&path, bytes).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_EXPORT_FIXTURES=1)",
            path.display()
        )
    });
    assert_eq!(
        String::from_utf8_lossy(bytes),
        String::from_utf8_lossy(&expected),
        "{name} differs from its fixture (review, then UPDATE_EXPORT_FIXTURES=1)"
    );
}

// ---- proptest generators ------------------------------------------------

pub const NAME_CHARS: &str = "[A-Za-zéÂ&<][A-Za-zéèÂç&<>'\" .-]{0,89}";

prop_compose! {
    pub fn arb_line()(cents in -50_000i64..200_000, minutes in -600i64..6000, plan in "[A-Z0-9]{1,8}") -> saad_gateway::exports::InvoiceLineExport {
        line(&plan, minutes, Decimal::new(cents, 2))
    }
}

prop_compose! {
    pub fn arb_payment(index: usize)(
        name in NAME_CHARS,
        invoices in prop::collection::vec((0usize..3, prop::bool::ANY, prop::collection::vec(arb_line(), 1..6)), 1..6),
        top_up in 1i64..100_000,
    ) -> saad_gateway::exports::PaymentExport {
        let aids = [AidType::Apa, AidType::Pch, AidType::Am];
        let mut invoices: Vec<_> = invoices
            .into_iter()
            .enumerate()
            .map(|(n, (aid, regul, lines))| {
                let kind = if regul { InvoiceKind::Regularisation } else { InvoiceKind::Proforma };
                invoice(&format!("F-{index}-{n}"), "2024-01", aids[aid], kind, lines)
            })
            .collect();
        // Keep the payment strictly positive: a proforma tops it up.
        let net: Decimal = invoices.iter().map(|i| i.amount).sum();
        let needed = if net <= Decimal::ZERO { -net + Decimal::new(top_up, 2) } else { Decimal::new(top_up, 2) };
        invoices.push(invoice(&format!("F-{index}-top"), "2024-01", AidType::Apa, InvoiceKind::Proforma, vec![line("TOP", 60, needed)]));
        let siret = nth_siret(index);
        payment(payee(&siret, &name, "FR7699999000030000000000376", "AGRIFRPP"), invoices)
    }
}

/// A Luhn-valid SIRET for each index.
pub fn nth_siret(index: usize) -> String {
    let base = format!("{:013}", 1_000_000 + index);
    (0..10)
        .map(|k| format!("{base}{k}"))
        .find(|s| saad_gateway::domain::types::Siret::parse(s).is_ok())
        .unwrap()
}

pub fn arb_batch() -> impl Strategy<Value = BatchExport> {
    (1usize..12)
        .prop_flat_map(|n| (0..n).map(arb_payment).collect::<Vec<_>>())
        .prop_map(|payments| BatchExport {
            payments,
            ..sample_batch()
        })
}
