//! Small helpers over quick-xml's `Writer` shared by the ORDER and INVOICE
//! writers: every text goes through quick-xml's escaping, numbers are
//! formatted from `Decimal` (never floats).

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use rust_decimal::{Decimal, RoundingStrategy};

/// An indented XML writer into memory.
pub(crate) struct Out {
    writer: Writer<Vec<u8>>,
}

impl Out {
    /// Starts a document with its XML declaration.
    pub(crate) fn new() -> io::Result<Self> {
        let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
        writer.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        Ok(Self { writer })
    }

    /// Opens an element with attributes.
    pub(crate) fn open_with(&mut self, name: &str, attributes: &[(&str, &str)]) -> io::Result<()> {
        let mut start = BytesStart::new(name);
        for (key, value) in attributes {
            start.push_attribute((*key, *value));
        }
        self.writer.write_event(Event::Start(start))
    }

    /// Opens an element.
    pub(crate) fn open(&mut self, name: &str) -> io::Result<()> {
        self.open_with(name, &[])
    }

    /// Closes an element.
    pub(crate) fn close(&mut self, name: &str) -> io::Result<()> {
        self.writer.write_event(Event::End(BytesEnd::new(name)))
    }

    /// `<name attributes…>text</name>`, text escaped by quick-xml.
    pub(crate) fn leaf_with(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
        text: &str,
    ) -> io::Result<()> {
        let mut start = BytesStart::new(name);
        for (key, value) in attributes {
            start.push_attribute((*key, *value));
        }
        self.writer
            .create_element(name)
            .with_attributes(start.attributes().flatten())
            .write_text_content(BytesText::new(text))?;
        Ok(())
    }

    /// `<name>text</name>`.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) -> io::Result<()> {
        self.leaf_with(name, &[], text)
    }

    /// The document's bytes, ending with a newline.
    pub(crate) fn finish(self) -> Vec<u8> {
        let mut bytes = self.writer.into_inner();
        bytes.push(b'\n');
        bytes
    }
}

/// An amount with exactly two decimals (half away from zero).
pub(crate) fn amount(value: Decimal) -> String {
    let mut rounded = value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(2);
    rounded.to_string()
}

/// Minutes as decimal hours with up to four places (exact decimal division,
/// rounded half away from zero; `round(h × 60)` gives the minutes back).
pub(crate) fn hours(minutes: i64) -> String {
    let value = (Decimal::from(minutes) / Decimal::from(60))
        .round_dp_with_strategy(4, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    if value.is_zero() {
        "0".to_owned()
    } else {
        value.to_string()
    }
}

/// The attributes of an EDESS coded value.
pub(crate) fn edess_list(list: &'static str) -> [(&'static str, &'static str); 2] {
    [("listID", list), ("listAgencyName", "EDESS")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_have_two_places_and_hours_up_to_four() {
        assert_eq!(amount(Decimal::new(24, 0)), "24.00");
        assert_eq!(amount(Decimal::new(12345, 3)), "12.35");
        assert_eq!(amount(Decimal::new(-5, 3)), "-0.01");
        assert_eq!(hours(2400), "40");
        assert_eq!(hours(165), "2.75");
        assert_eq!(hours(1), "0.0167");
        assert_eq!(hours(-45), "-0.75");
        assert_eq!(hours(0), "0");
    }
}
