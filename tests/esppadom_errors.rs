//! Refusals of whole documents: each says what, where (path) and at which
//! line and column; hostile inputs are bounded and never panic.

use saad_gateway::xml::{DeliveryReader, Limits, XmlErrorKind, read_delivery};

const SAMPLE: &[u8] = include_bytes!("fixtures/esppadom/delivery-apa-example.xml");

fn sample() -> String {
    String::from_utf8(SAMPLE.to_vec()).unwrap()
}

#[test]
fn malformed_xml_gives_line_and_column() {
    // Line 19 of the sample: `<ram:ID>INTV-2024-000811</ram:ID>`, closed with a wrong tag.
    let xml = sample().replace(
        "<ram:ID>INTV-2024-000811</ram:ID>",
        "<ram:ID>INTV-2024-000811</ram:IDX>",
    );
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Malformed);
    assert_eq!(error.line, 19);
    assert_eq!(error.column, 31); // the `<` of `</ram:IDX>`
    assert_eq!(
        error.path,
        "/delivery/CrossIndustryDespatchAdvice/CIDDHExchangedDocument/ID"
    );
    assert!(
        error.message.contains("not well-formed"),
        "{}",
        error.message
    );
}

#[test]
fn a_truncated_file_is_refused_with_its_position() {
    let xml = sample();
    let cut = &xml[..xml.len() / 2];
    let error = read_delivery(cut.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Malformed);
    assert!(error.line > 50, "{error}");
}

#[test]
fn a_dtd_is_refused() {
    let xml = sample().replacen(
        "<ns:delivery",
        "<!DOCTYPE delivery [<!ELEMENT delivery ANY>]>\n<ns:delivery",
        1,
    );
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Dtd);
    assert_eq!(error.line, 8);
    assert_eq!(error.column, 1);
}

#[test]
fn billion_laughs_is_refused() {
    let xml = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"#;
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Dtd);
    assert_eq!((error.line, error.column), (2, 1));
}

#[test]
fn a_custom_entity_reference_is_refused() {
    let xml = sample().replace("INTV-2024-000811", "INTV-&custom;");
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Entity);
    assert!(error.message.contains("&custom;"), "{}", error.message);
}

#[test]
fn predefined_and_character_references_are_resolved() {
    let xml = sample().replace("INTV-2024-000811", "INTV&amp;&#x41;&#66;");
    let delivery = read_delivery(xml.as_bytes()).unwrap();
    assert_eq!(delivery.lines[0].submission.line_id, "INTV&AB");
}

#[test]
fn a_wrong_namespace_is_refused() {
    let xml = sample().replace(
        "urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2",
        "urn:example:not-esppadom",
    );
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Namespace);
    assert!(
        error.message.contains("urn:example:not-esppadom"),
        "{}",
        error.message
    );
    assert_eq!(error.path, "/delivery");
}

#[test]
fn an_order_sent_as_a_delivery_is_refused() {
    let order = include_bytes!("fixtures/esppadom/order-apa-example.xml");
    let error = read_delivery(order).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::UnexpectedRoot);
    assert!(error.message.contains("ORDER"), "{}", error.message);
}

#[test]
fn a_depth_bomb_is_refused() {
    let mut xml = String::from(
        r#"<ns:delivery xmlns:ns="urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2">"#,
    );
    for _ in 0..100_000 {
        xml.push_str("<a>");
    }
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::TooDeep);
    assert_eq!(error.line, 1);
}

#[test]
fn an_oversized_text_is_refused() {
    let huge = "9".repeat(200_000);
    let xml = sample().replace("INTV-2024-000811", &huge);
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::TooLarge);
}

#[test]
fn a_document_over_the_callers_limit_is_refused() {
    let limits = Limits {
        max_document_bytes: 1000,
        ..Limits::default()
    };
    let mut reader = DeliveryReader::with_limits(SAMPLE, limits);
    let error = reader.next().unwrap().unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::TooLarge);
    assert!(error.message.contains("1000 bytes"), "{}", error.message);
    assert!(reader.next().is_none());
}

#[test]
fn invalid_utf8_is_refused_with_its_position() {
    let mut bytes = SAMPLE.to_vec();
    let at = sample().find("INTV-2024-000812").unwrap();
    bytes[at] = 0xff;
    let error = read_delivery(&bytes).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Encoding);
    assert!(error.line >= 90, "{error}");
}

#[test]
fn a_non_utf8_encoding_declaration_is_refused() {
    let xml = sample().replace(r#"encoding="UTF-8""#, r#"encoding="ISO-8859-1""#);
    let error = read_delivery(xml.as_bytes()).unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Encoding);
    assert_eq!((error.line, error.column), (1, 1));
}

#[test]
fn an_empty_document_is_refused() {
    let error = read_delivery(b"   ").unwrap_err();
    assert_eq!(error.kind, XmlErrorKind::Malformed);
    assert!(error.message.contains("empty"));
}
