//! PES V2 spending file: one Bordereau per aid type, one Piece per invoice,
//! one LigneDePiece per invoice line, consistent totals, transfer labels,
//! escaping, refusals. (No official XSD was available: see docs/payment-files.md.)

mod exports_support;

use exports_support::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use saad_gateway::exports::pes::transfer_labels;
use saad_gateway::exports::{ExportError, PES_NAMESPACE, pes_v2};

fn money(text: &str) -> Decimal {
    assert_eq!(
        text.split('.').nth(1).map(str::len),
        Some(2),
        "two decimals: {text}"
    );
    text.parse().unwrap()
}

fn bordereaux(doc: &Node) -> Vec<&Node> {
    doc.child("PES_DepenseAller")
        .children_named("Bordereau")
        .collect()
}

#[test]
fn pes_has_the_envelope_and_headers_from_configuration() {
    let doc = parse(&pes_v2(&sample_batch()).unwrap()).unwrap();
    assert_eq!(doc.name, "PES_Aller");
    assert_eq!(doc.attribute("xmlns"), Some(PES_NAMESPACE));
    assert_eq!(doc.v("Enveloppe/Parametres/TypFic"), "PESALR2");
    assert_eq!(
        doc.v("Enveloppe/Parametres/NomFic"),
        "PES_CD99_B2024-02-0001.xml"
    );
    assert_eq!(doc.v("Enveloppe/Recepteur/Sigle"), "HELIOS");
    assert_eq!(doc.v("EnTetePES/DteStr"), "2024-02-05");
    assert_eq!(doc.v("EnTetePES/IdColl"), "22990000000014");
    assert_eq!(doc.v("EnTetePES/IdPost"), "099000");
    assert_eq!(doc.v("PES_DepenseAller/EnTeteDepense/IdVer"), "2");
}

#[test]
fn pes_has_one_bordereau_per_aid_type_one_piece_per_invoice_one_line_per_invoice_line() {
    let batch = sample_batch();
    let doc = parse(&pes_v2(&batch).unwrap()).unwrap();
    let bordereaux = bordereaux(&doc);
    // APA (2 invoices: January proforma and December regularisation), PCH, AM.
    assert_eq!(bordereaux.len(), 3);
    let pieces: Vec<usize> = bordereaux
        .iter()
        .map(|b| b.children_named("Piece").count())
        .collect();
    assert_eq!(pieces, vec![2, 1, 1]);
    let invoice_count: usize = batch.payments.iter().map(|p| p.invoices.len()).sum();
    assert_eq!(pieces.iter().sum::<usize>(), invoice_count);
    let mut lines = Vec::new();
    doc.descendants("LigneDePiece", &mut lines);
    let invoice_lines: usize = batch
        .payments
        .iter()
        .flat_map(|p| &p.invoices)
        .map(|i| i.lines.len())
        .sum();
    assert_eq!(lines.len(), invoice_lines);
    let numbers: Vec<&str> = bordereaux
        .iter()
        .map(|b| b.v("BlocBordereau/IdBord"))
        .collect();
    assert_eq!(numbers, vec!["1", "2", "3"]);
    let mut pieces_ids = Vec::new();
    for b in &bordereaux {
        for piece in b.children_named("Piece") {
            pieces_ids.push(piece.v("BlocPiece/InfoPce/IdPce").to_owned());
        }
    }
    assert_eq!(pieces_ids, vec!["1", "2", "3", "4"]);
    let apa = bordereaux[0];
    assert_eq!(apa.v("BlocBordereau/Exer"), "2024");
    let natures: Vec<&str> = apa
        .children_named("Piece")
        .flat_map(|p| p.children_named("LigneDePiece"))
        .map(|l| l.v("BlocLignePiece/InfoLignePce/Nature"))
        .collect();
    assert_eq!(natures, vec!["651141"; 4]);
}

#[test]
fn pes_bordereau_totals_are_the_sum_of_their_pieces_and_lines() {
    let batch = sample_batch();
    let doc = parse(&pes_v2(&batch).unwrap()).unwrap();
    let mut all = Decimal::ZERO;
    for bordereau in bordereaux(&doc) {
        let mut sum = Decimal::ZERO;
        let pieces: Vec<&Node> = bordereau.children_named("Piece").collect();
        for piece in &pieces {
            for line in piece.children_named("LigneDePiece") {
                sum += money(line.v("BlocLignePiece/InfoLignePce/MtHT"));
            }
        }
        assert_eq!(money(bordereau.v("BlocBordereau/MtBordHT")), sum);
        assert_eq!(money(bordereau.v("BlocBordereau/MtCumulAnnuel")), sum);
        assert_eq!(
            bordereau.v("BlocBordereau/NbrPce"),
            pieces.len().to_string()
        );
        all += sum;
    }
    assert_eq!(all, dec!(1393.41));
    let amounts: Vec<Decimal> = bordereaux(&doc)
        .iter()
        .map(|b| money(b.v("BlocBordereau/MtBordHT")))
        .collect();
    // APA 323.45 − 30.05, PCH 100.00, AM 1000.01.
    assert_eq!(amounts, vec![dec!(293.40), dec!(100.00), dec!(1000.01)]);
}

#[test]
fn pes_numbering_and_annual_cumulative_come_from_the_caller() {
    let mut batch = sample_batch();
    batch.pes_numbering.first_bordereau = 41;
    batch.pes_numbering.first_piece = 1200;
    batch
        .pes_numbering
        .mandated_before
        .insert(saad_gateway::domain::types::AidType::Apa, dec!(10000.00));
    let doc = parse(&pes_v2(&batch).unwrap()).unwrap();
    let first = bordereaux(&doc)[0];
    assert_eq!(first.v("BlocBordereau/IdBord"), "41");
    assert_eq!(first.v("BlocBordereau/MtCumulAnnuel"), "10293.40");
    assert_eq!(first.child("Piece").v("BlocPiece/InfoPce/IdPce"), "1200");
    assert_eq!(bordereaux(&doc)[2].v("BlocBordereau/IdBord"), "43");
}

#[test]
fn pes_piece_codes_follow_the_kind_and_sign_of_the_invoice() {
    let doc = parse(&pes_v2(&sample_batch()).unwrap()).unwrap();
    let apa: Vec<&Node> = bordereaux(&doc)[0].children_named("Piece").collect();
    assert_eq!(apa[0].v("BlocPiece/InfoPce/TypPce"), "01");
    assert_eq!(
        apa[1].v("BlocPiece/InfoPce/TypPce"),
        "02",
        "negative regularisation"
    );
    assert_eq!(
        apa[1].v("BlocPiece/InfoPce/PJRef/IdUnique"),
        "R-2023-12-APA-0001"
    );
}

#[test]
fn pes_tiers_carry_siret_category_legal_nature_name_address_and_account() {
    let doc = parse(&pes_v2(&sample_batch()).unwrap()).unwrap();
    let line = bordereaux(&doc)[0].child("Piece").child("LigneDePiece");
    let tiers = line.child("Tiers");
    assert_eq!(tiers.v("InfoTiers/IdTiers"), "73282932000074");
    assert_eq!(tiers.v("InfoTiers/CatTiers"), "01");
    assert_eq!(
        tiers.v("InfoTiers/NatJur"),
        "03",
        "legal category 9220 mapped"
    );
    assert_eq!(tiers.v("InfoTiers/Nom"), "Aide & Soins <Domicile> Élan");
    assert_eq!(tiers.v("Adresse/Ville"), "Ville-Fictive");
    assert_eq!(tiers.v("CpteBancaire/IBAN"), "FR7699999000010000000000115");
    assert_eq!(tiers.v("CpteBancaire/BIC"), "AGRIFRPP");
    let am = bordereaux(&doc)[2]
        .child("Piece")
        .child("LigneDePiece")
        .child("Tiers");
    assert_eq!(am.v("InfoTiers/NatJur"), "00", "no legal category: default");
}

#[test]
fn pes_values_are_escaped_in_attributes() {
    let bytes = pes_v2(&sample_batch()).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    assert!(
        text.contains(r#"<Nom V="Aide &amp; Soins &lt;Domicile&gt; Élan"/>"#),
        "{text}"
    );
    assert!(!text.contains("Soins <Domicile>"));
}

#[test]
fn pes_transfer_labels_are_at_most_32_characters_cut_on_a_character_boundary() {
    let mut batch = sample_batch();
    batch.payments[0].invoices[0].id = "FACTURE-ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ".to_owned();
    let (first, second) = transfer_labels("CD99", &batch.payments[0].invoices[0]);
    assert_eq!(first, "CD99 APA 2024-01");
    assert_eq!(second.chars().count(), 32);
    assert!(second.starts_with("FACT FACTURE-É"));
    let (first, _) = transfer_labels("CD99", &batch.payments[0].invoices[2]);
    assert_eq!(first, "CD99 APA 2023-12 REGUL");
    let doc = parse(&pes_v2(&batch).unwrap()).unwrap();
    let mut lines = Vec::new();
    doc.descendants("InfoLignePce", &mut lines);
    for line in lines {
        assert!(line.v("LibVir1").chars().count() <= 32);
        assert!(line.v("LibVir2").chars().count() <= 32);
    }
}

#[test]
fn pes_matches_the_golden_fixture() {
    assert_golden(&pes_v2(&sample_batch()).unwrap(), "sample.pes.xml");
}

#[test]
fn pes_refuses_a_saad_without_address_and_an_invalid_iban() {
    let mut batch = sample_batch();
    batch.payments[1].saad.address = None;
    assert!(matches!(
        pes_v2(&batch),
        Err(ExportError::MissingAddress { .. })
    ));
    let mut batch = sample_batch();
    batch.payments[1].saad.iban = "FR00".to_owned();
    assert!(matches!(
        pes_v2(&batch),
        Err(ExportError::InvalidIban { .. })
    ));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    #[test]
    fn pes_totals_and_counts_match_the_batch_for_random_batches(batch in arb_batch()) {
        let doc = parse(&pes_v2(&batch).unwrap()).expect("well-formed");
        let invoices: Vec<_> = batch.payments.iter().flat_map(|p| &p.invoices).collect();
        let mut aid_types: Vec<_> = invoices.iter().map(|i| i.aid_type).collect();
        aid_types.sort();
        aid_types.dedup();
        let bordereaux = bordereaux(&doc);
        proptest::prop_assert_eq!(bordereaux.len(), aid_types.len());
        let mut pieces = 0;
        let mut lines = 0;
        let mut total = Decimal::ZERO;
        for bordereau in &bordereaux {
            let mut sum = Decimal::ZERO;
            for piece in bordereau.children_named("Piece") {
                pieces += 1;
                for line in piece.children_named("LigneDePiece") {
                    lines += 1;
                    sum += money(line.v("BlocLignePiece/InfoLignePce/MtHT"));
                    proptest::prop_assert!(line.v("BlocLignePiece/InfoLignePce/LibVir2").chars().count() <= 32);
                }
            }
            proptest::prop_assert_eq!(money(bordereau.v("BlocBordereau/MtBordHT")), sum);
            total += sum;
        }
        proptest::prop_assert_eq!(pieces, invoices.len());
        proptest::prop_assert_eq!(lines, invoices.iter().map(|i| i.lines.len()).sum::<usize>());
        proptest::prop_assert_eq!(total, batch.payments.iter().map(|p| p.amount).sum::<Decimal>());
    }
}
