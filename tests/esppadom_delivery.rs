//! DELIVERY reader: golden tests on the spec's sample and the rules.md
//! "ESPPADOM mapping", one test per rule.

use saad_gateway::domain::model::LineAction;
use saad_gateway::domain::time::{Stamp, resolve_period};
use saad_gateway::xml::{DeliveryReader, XmlErrorKind, read_delivery};

const SAMPLE: &[u8] = include_bytes!("fixtures/esppadom/delivery-apa-example.xml");

fn stamp(text: &str) -> Option<Stamp> {
    Some(Stamp::parse(text).unwrap())
}

/// The sample's second message with its ActualDespatch and raw stamps replaced.
fn message(type_code: &str, retained: (&str, &str), raw: (&str, &str)) -> String {
    let sample = std::str::from_utf8(SAMPLE).unwrap();
    let second = sample.find("<ns:CrossIndustryDespatchAdvice>").unwrap();
    let second = sample[second + 10..]
        .find("<ns:CrossIndustryDespatchAdvice>")
        .unwrap()
        + second
        + 10;
    let end = sample.rfind("</ns:delivery>").unwrap();
    let header = &sample[..second];
    let mut body = sample[second..end].to_owned();
    let event_start = body.find("<ram:ActualDespatchCISupplyChainEvent>").unwrap();
    let event_end = body
        .find("</ram:AdditionalReferencedCIReferencedDocument>")
        .unwrap()
        + "</ram:AdditionalReferencedCIReferencedDocument>".len();
    let code = if type_code.is_empty() {
        String::new()
    } else {
        format!(r#"<ram:TypeCode listID="ESPPADOM_EFFECTIVITY_AJUST">{type_code}</ram:TypeCode>"#)
    };
    let side = |name: &str, value: &str| {
        if value.is_empty() {
            String::new()
        } else {
            format!(
                "<ram:{name}><ram:CertifiedDateTime>{value}</ram:CertifiedDateTime></ram:{name}>"
            )
        }
    };
    let replacement = format!(
        "<ram:ActualDespatchCISupplyChainEvent>{code}<ram:OccurrenceCISpecifiedPeriod><qdt:StartDateTime>{}</qdt:StartDateTime><qdt:EndDateTime>{}</qdt:EndDateTime></ram:OccurrenceCISpecifiedPeriod></ram:ActualDespatchCISupplyChainEvent><ram:AdditionalReferencedCIReferencedDocument><ram:EffectiveCISpecifiedPeriod>{}{}</ram:EffectiveCISpecifiedPeriod></ram:AdditionalReferencedCIReferencedDocument>",
        retained.0,
        retained.1,
        side("StartDateTime", raw.0),
        side("EndDateTime", raw.1)
    );
    body.replace_range(event_start..event_end, &replacement);
    format!("{header}{body}</ns:delivery>")
}

const R: (&str, &str) = ("2024-01-12T14:02:00", "2024-01-12T16:00:00");
const S: (&str, &str) = ("2024-01-12T14:05:00", "2024-01-12T15:50:00");

#[test]
fn golden_delivery_sample_reads_two_lines_with_the_header() {
    let delivery = read_delivery(SAMPLE).unwrap();
    assert_eq!(
        delivery.transmission_id.as_deref(),
        Some("T-DEL-20240113-0001")
    );
    assert_eq!(delivery.issue_date_time, stamp("2024-01-13T07:00:00"));
    assert_eq!(delivery.lines.len(), 2);
    let first = &delivery.lines[0];
    assert_eq!(first.saad_id.as_deref(), Some("SAAD-99-0042"));
    assert_eq!(first.saad_siret.as_deref(), Some("00000000000018"));
    assert_eq!(first.financer_id.as_deref(), Some("CD99"));
    assert_eq!(first.version.as_deref(), Some("1.4"));
    assert_eq!(first.billed_minutes, Some(45));
    assert_eq!((first.line, first.column), (13, 3));
}

#[test]
fn golden_delivery_first_line_counts_its_stamps_52_minutes() {
    let delivery = read_delivery(SAMPLE).unwrap();
    let line = &delivery.lines[0].submission;
    assert_eq!(line.line_id, "INTV-2024-000811");
    assert_eq!(line.plan_ref.as_deref(), Some("PA-APA-0001"));
    assert_eq!(line.beneficiary_id, "BEN-99-000101");
    assert_eq!(line.worker_id.as_ref().map(|w| w.as_str()), Some("IV-0417"));
    assert_eq!(line.aid_type.as_deref(), Some("APA"));
    assert_eq!(line.raw_start, stamp("2024-01-12T09:00:00"));
    assert_eq!(line.raw_end, stamp("2024-01-12T09:52:00"));
    assert_eq!(line.corrected_start, None);
    assert_eq!(line.corrected_end, None);
    assert_eq!(line.correction_reason, None);
    assert_eq!(line.declarative, Some(false));
    assert_eq!(line.action, LineAction::Count);
    assert!(line.warnings.is_empty(), "{:?}", line.warnings);
    assert_eq!(line.problem, None);
    let period = resolve_period(line.raw_start.unwrap(), line.raw_end.unwrap()).unwrap();
    assert_eq!(period.minutes(), 52);
}

#[test]
fn esppadom_mapping_cod_drops_the_missing_departure_stamp() {
    let delivery = read_delivery(SAMPLE).unwrap();
    let line = &delivery.lines[1].submission;
    assert_eq!(line.line_id, "INTV-2024-000812");
    assert_eq!(line.worker_id.as_ref().map(|w| w.as_str()), Some("IV-0833"));
    assert_eq!(line.raw_start, stamp("2024-01-12T14:02:00"));
    assert_eq!(line.raw_end, None);
    assert_eq!(line.corrected_start, stamp("2024-01-12T14:02:00"));
    assert_eq!(line.corrected_end, stamp("2024-01-12T16:00:00"));
    assert_eq!(line.correction_reason.as_deref(), Some("FORGOTTEN"));
    assert_eq!(line.declarative, Some(false));
    assert_eq!(delivery.lines[1].billed_minutes, Some(120));
    let period =
        resolve_period(line.corrected_start.unwrap(), line.corrected_end.unwrap()).unwrap();
    assert_eq!(period.minutes(), 118);
    assert!(line.warnings.is_empty(), "{:?}", line.warnings);
}

#[test]
fn esppadom_mapping_cod_drops_a_departure_stamp_even_when_present() {
    let xml = message("COD", R, S);
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!(line.raw_start, stamp(S.0));
    assert_eq!(line.raw_end, None);
    assert_eq!(line.corrected_end, stamp(R.1));
}

#[test]
fn esppadom_mapping_coa_drops_the_arrival_stamp() {
    let xml = message("COA", R, S);
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!(line.raw_start, None);
    assert_eq!(line.raw_end, stamp(S.1));
    assert_eq!(line.corrected_start, stamp(R.0));
    assert_eq!(line.corrected_end, stamp(R.1));
    assert_eq!(line.correction_reason.as_deref(), Some("FORGOTTEN"));
}

#[test]
fn esppadom_mapping_co2_drops_both_stamps() {
    let xml = message("CO2", R, S);
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!((line.raw_start, line.raw_end), (None, None));
    assert_eq!(line.corrected_start, stamp(R.0));
    assert_eq!(line.correction_reason.as_deref(), Some("FORGOTTEN"));
}

#[test]
fn esppadom_mapping_cre_is_a_no_device_correction_not_declarative() {
    let xml = message("CRE", R, ("", ""));
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!((line.raw_start, line.raw_end), (None, None));
    assert_eq!(line.corrected_start, stamp(R.0));
    assert_eq!(line.corrected_end, stamp(R.1));
    assert_eq!(line.correction_reason.as_deref(), Some("NO_DEVICE"));
    assert_eq!(line.declarative, Some(false));
    assert_eq!(line.action, LineAction::Count);
}

#[test]
fn esppadom_mapping_absent_type_code_counts_the_stamps_and_warns_when_retained_differs() {
    let xml = message("", R, S);
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!(line.raw_start, stamp(S.0));
    assert_eq!(line.raw_end, stamp(S.1));
    assert_eq!(line.corrected_start, None);
    assert_eq!(line.correction_reason, None);
    assert_eq!(line.problem, None);
    assert!(
        line.warnings
            .iter()
            .any(|w| w.contains("differs from the stamps")),
        "{:?}",
        line.warnings
    );
}

#[test]
fn esppadom_mapping_empty_type_code_element_is_like_an_absent_one() {
    let xml = message("", R, R).replace(
        "<ram:ActualDespatchCISupplyChainEvent>",
        r#"<ram:ActualDespatchCISupplyChainEvent><ram:TypeCode listID="ESPPADOM_EFFECTIVITY_AJUST"/>"#,
    );
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!(line.correction_reason, None);
    assert_eq!(line.raw_end, stamp(R.1));
    assert!(line.warnings.is_empty(), "{:?}", line.warnings);
}

#[test]
fn esppadom_mapping_mdt_counts_the_stamps() {
    let xml = message("MDT", R, R);
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!(line.raw_start, stamp(R.0));
    assert_eq!(line.corrected_start, None);
    assert_eq!(line.action, LineAction::Count);
    assert!(line.warnings.is_empty());
}

#[test]
fn esppadom_mapping_hor_is_stamps_only_and_ignores_the_retained_period() {
    let xml = message("HOR", ("0000-00-00T00:00:00", "garbage"), S);
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!(line.action, LineAction::StampsOnly);
    assert_eq!(line.raw_start, stamp(S.0));
    assert_eq!(line.raw_end, stamp(S.1));
    assert_eq!(line.corrected_start, None);
    assert_eq!(line.problem, None);
}

#[test]
fn esppadom_mapping_sup_withdraws_the_intervention() {
    let xml = message("SUP", R, ("", ""));
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!(line.action, LineAction::Withdraw);
    assert_eq!(line.line_id, "INTV-2024-000812");
    assert_eq!(line.problem, None);
}

#[test]
fn esppadom_mapping_unknown_type_code_rejects_only_that_line() {
    let xml = message("XYZ", R, S);
    let delivery = read_delivery(xml.as_bytes()).unwrap();
    assert_eq!(delivery.lines[0].submission.problem, None);
    let problem = delivery.lines[1].submission.problem.clone().unwrap();
    assert!(
        problem.message.contains("ESPPADOM_EFFECTIVITY_AJUST"),
        "{}",
        problem.message
    );
    assert!(problem.message.contains("'XYZ'"), "{}", problem.message);
    assert!(
        problem
            .path
            .ends_with("ActualDespatchCISupplyChainEvent/TypeCode"),
        "{}",
        problem.path
    );
    assert!(
        problem
            .path
            .starts_with("/delivery/CrossIndustryDespatchAdvice[2]/"),
        "{}",
        problem.path
    );
    assert!(problem.line > 60);
}

#[test]
fn esppadom_mapping_unreadable_date_rejects_only_that_line() {
    let xml = message("COD", ("2024-13-45T99:00:00", R.1), S);
    let delivery = read_delivery(xml.as_bytes()).unwrap();
    assert_eq!(delivery.lines.len(), 2);
    assert_eq!(delivery.lines[0].submission.problem, None);
    let problem = delivery.lines[1].submission.problem.clone().unwrap();
    assert!(
        problem.message.contains("unreadable retained start"),
        "{}",
        problem.message
    );
    assert!(
        problem
            .path
            .ends_with("OccurrenceCISpecifiedPeriod/StartDateTime"),
        "{}",
        problem.path
    );
    assert!(problem.column > 1);
}

#[test]
fn esppadom_mapping_missing_retained_period_rejects_only_that_line() {
    let xml =
        message("", R, R).replace("<qdt:EndDateTime>2024-01-12T16:00:00</qdt:EndDateTime>", "");
    let delivery = read_delivery(xml.as_bytes()).unwrap();
    let problem = delivery.lines[1].submission.problem.clone().unwrap();
    assert!(
        problem.message.contains("retained period has no end"),
        "{}",
        problem.message
    );
    assert_eq!(delivery.lines[0].submission.problem, None);
}

#[test]
fn esppadom_mapping_missing_worker_id_is_a_warning() {
    let xml = std::str::from_utf8(SAMPLE)
        .unwrap()
        .replace("<pie:ID>IV-0833</pie:ID>", "");
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    assert_eq!(line.worker_id, None);
    assert_eq!(line.problem, None);
    assert!(
        line.warnings
            .iter()
            .any(|w| w == "no worker id: the worker-overlap check is skipped")
    );
}

#[test]
fn esppadom_mapping_invalid_worker_id_rejects_the_line() {
    let xml = std::str::from_utf8(SAMPLE)
        .unwrap()
        .replace("IV-0833", "Marie Dupont");
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[1].submission;
    let problem = line.problem.clone().unwrap();
    assert!(problem.message.contains("worker id"), "{}", problem.message);
    assert!(problem.path.ends_with("DefinedCITradeContact/ID"));
}

#[test]
fn esppadom_mapping_person_names_are_dropped_at_the_reader() {
    let xml = std::str::from_utf8(SAMPLE).unwrap().replace(
        "<pie:ID>IV-0417</pie:ID>",
        "<pie:ID>IV-0417</pie:ID><pie:PersonName>Jeanne SECRETNAME</pie:PersonName>",
    );
    let delivery = read_delivery(xml.as_bytes()).unwrap();
    let dump = format!("{delivery:?}");
    for name in [
        "SECRETNAME",
        "Alpha",
        "Fictive",
        "FICTIVE",
        "rue de l Exemple",
        "Ville-Fictive",
    ] {
        assert!(!dump.contains(name), "{name} leaked");
    }
}

#[test]
fn esppadom_mapping_unknown_code_values_of_other_lists_are_warnings() {
    let xml = std::str::from_utf8(SAMPLE)
        .unwrap()
        .replacen(">PRE<", ">MAN<", 1)
        .replacen(">BDG<", ">NFC<", 1);
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[0].submission;
    assert_eq!(line.problem, None);
    assert!(
        line.warnings
            .iter()
            .any(|w| w.contains("ESPPADOM_CADRE") && w.contains("'MAN'"))
    );
    assert!(
        line.warnings
            .iter()
            .any(|w| w.contains("ESPPADOM_TIMESTAMP_METHOD") && w.contains("'NFC'"))
    );
}

#[test]
fn esppadom_billed_quantity_far_from_the_count_is_a_warning() {
    let xml = std::str::from_utf8(SAMPLE).unwrap().replace(
        r#"<ram:BilledQuantity unitCode="HUR">0.75</ram:BilledQuantity>"#,
        r#"<ram:BilledQuantity unitCode="HUR">1.5</ram:BilledQuantity>"#,
    );
    let delivery = read_delivery(xml.as_bytes()).unwrap();
    let line = &delivery.lines[0];
    assert_eq!(line.billed_minutes, Some(90));
    assert!(
        line.submission
            .warnings
            .iter()
            .any(|w| w.contains("BilledQuantity says 90 min")),
        "{:?}",
        line.submission.warnings
    );
    // 0.8666666666666667 h = 52 min, the counted minutes: no warning.
    let xml = std::str::from_utf8(SAMPLE)
        .unwrap()
        .replace(">0.75<", ">0.8666666666666667<");
    let line = &read_delivery(xml.as_bytes()).unwrap().lines[0];
    assert_eq!(line.billed_minutes, Some(52));
    assert!(line.submission.warnings.is_empty());
}

#[test]
fn namespaces_are_resolved_by_uri_not_prefix_and_ram_may_be_the_default_namespace() {
    let xml = std::str::from_utf8(SAMPLE)
        .unwrap()
        .replace("xmlns:ram=", "xmlns=")
        .replace("<ram:", "<")
        .replace("</ram:", "</")
        .replace("<ns:", "<x9:")
        .replace("</ns:", "</x9:")
        .replace("xmlns:ns=", "xmlns:x9=")
        .replace("qdt:", "UNECE_QDT_8p0:")
        .replace("xmlns:qdt=", "xmlns:UNECE_QDT_8p0=");
    let delivery = read_delivery(xml.as_bytes()).unwrap();
    assert_eq!(delivery, read_delivery(SAMPLE).unwrap());
}

#[test]
fn a_bare_message_root_and_version_1_3_are_accepted() {
    let sample = std::str::from_utf8(SAMPLE).unwrap();
    let start = sample.find("<ns:CrossIndustryDespatchAdvice>").unwrap();
    let end = sample.find("</ns:CrossIndustryDespatchAdvice>").unwrap()
        + "</ns:CrossIndustryDespatchAdvice>".len();
    let bare = sample[start..end]
        .replacen(
            "<ns:CrossIndustryDespatchAdvice>",
            r#"<ns:CrossIndustryDespatchAdvice xmlns:ns="urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:3" xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:8" xmlns:pie="urn:un:unece:uncefact:data:standard:PersonInformationEntity:1" xmlns:qdt="urn:un:unece:uncefact:data:standard:QualifiedDataType:8">"#,
            1,
        )
        .replace("<ram:VersionID>1.4</ram:VersionID>", "<ram:VersionID>1.3</ram:VersionID>");
    let delivery = read_delivery(bare.as_bytes()).unwrap();
    assert_eq!(delivery.lines.len(), 1);
    assert_eq!(delivery.lines[0].submission.line_id, "INTV-2024-000811");
    assert!(delivery.lines[0].submission.warnings.is_empty());
}

#[test]
fn element_order_may_vary_and_unknown_elements_are_ignored() {
    let xml = std::str::from_utf8(SAMPLE)
        .unwrap()
        .replace(
            "<ram:ID>INTV-2024-000811</ram:ID>\n      <ram:IssueDateTime>2024-01-13T07:00:00</ram:IssueDateTime>",
            "<ram:IssueDateTime>2024-01-13T07:00:00</ram:IssueDateTime><ram:Extra><ram:ID>WRONG</ram:ID></ram:Extra><ram:ID>INTV-2024-000811</ram:ID>",
        );
    let delivery = read_delivery(xml.as_bytes()).unwrap();
    assert_eq!(delivery.lines[0].submission.line_id, "INTV-2024-000811");
    assert_eq!(
        delivery.lines[0].submission.raw_end,
        stamp("2024-01-12T09:52:00")
    );
}

#[test]
fn the_streaming_reader_yields_lines_one_by_one() {
    let mut reader = DeliveryReader::new(std::io::BufReader::with_capacity(64, SAMPLE));
    let first = reader.next().unwrap().unwrap();
    assert_eq!(first.submission.line_id, "INTV-2024-000811");
    let second = reader.next().unwrap().unwrap();
    assert_eq!(second.submission.line_id, "INTV-2024-000812");
    assert!(reader.next().is_none());
}

#[test]
fn missing_intervention_id_refuses_the_whole_document() {
    let xml = std::str::from_utf8(SAMPLE)
        .unwrap()
        .replace("<ram:ID>INTV-2024-000812</ram:ID>", "");
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::MissingId);
    assert!(
        error.path.ends_with("CIDDHExchangedDocument/ID"),
        "{}",
        error.path
    );
    assert!(error.message.contains("message 2"), "{}", error.message);
}
