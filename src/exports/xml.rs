//! A thin layer over quick-xml's [`Writer`]: open/close elements, text
//! elements and PES-style `V="…"` elements. quick-xml escapes every text and
//! attribute value; nothing is escaped by hand here.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::ExportError;

/// An XML document being written to memory, indented by two spaces.
pub struct XmlOut {
    writer: Writer<Vec<u8>>,
    file: &'static str,
}

impl XmlOut {
    /// Starts a document with its XML declaration (UTF-8).
    pub fn new(file: &'static str, capacity: usize) -> Result<Self, ExportError> {
        let mut out = Self {
            writer: Writer::new_with_indent(Vec::with_capacity(capacity), b' ', 2),
            file,
        };
        out.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        Ok(out)
    }

    /// Starts a fragment: elements written without declaration, to be
    /// spliced (possibly many times) into a document with [`XmlOut::splice`].
    pub fn fragment(file: &'static str) -> Self {
        Self {
            writer: Writer::new_with_indent(Vec::new(), b' ', 2),
            file,
        }
    }

    /// Appends a finished fragment (its bytes from [`XmlOut::into_fragment`])
    /// as the next sibling at nesting `depth`, indented like the rest of the
    /// document. The fragment was written, and escaped, by quick-xml.
    pub fn splice(&mut self, fragment: &[u8], depth: usize) {
        let indent = " ".repeat(2 * depth);
        let out = self.writer.get_mut();
        out.push(b'\n');
        out.extend_from_slice(indent.as_bytes());
        for byte in fragment {
            out.push(*byte);
            if *byte == b'\n' {
                out.extend_from_slice(indent.as_bytes());
            }
        }
    }

    /// The bytes of a fragment.
    pub fn into_fragment(self) -> Vec<u8> {
        self.writer.into_inner()
    }

    fn event(&mut self, event: Event<'_>) -> Result<(), ExportError> {
        self.writer
            .write_event(event)
            .map_err(|e| ExportError::Write {
                file: self.file,
                message: e.to_string(),
            })
    }

    /// Opens `<name attr="value"…>`.
    pub fn open_with(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
    ) -> Result<(), ExportError> {
        let start = BytesStart::new(name).with_attributes(attributes.iter().copied());
        self.event(Event::Start(start))
    }

    /// Opens `<name>`.
    pub fn open(&mut self, name: &str) -> Result<(), ExportError> {
        self.event(Event::Start(BytesStart::new(name)))
    }

    /// Closes `</name>`.
    pub fn close(&mut self, name: &str) -> Result<(), ExportError> {
        self.event(Event::End(BytesEnd::new(name)))
    }

    /// Writes `<name>text</name>`.
    pub fn text(&mut self, name: &str, text: &str) -> Result<(), ExportError> {
        self.text_with(name, &[], text)
    }

    /// Writes `<name attr="value"…>text</name>`.
    pub fn text_with(
        &mut self,
        name: &str,
        attributes: &[(&str, &str)],
        text: &str,
    ) -> Result<(), ExportError> {
        self.open_with(name, attributes)?;
        self.event(Event::Text(BytesText::new(text)))?;
        self.close(name)
    }

    /// Writes the PES form `<name V="value"/>`.
    pub fn v(&mut self, name: &str, value: &str) -> Result<(), ExportError> {
        let start = BytesStart::new(name).with_attributes([("V", value)]);
        self.event(Event::Empty(start))
    }

    /// The document's bytes, ending with a line break.
    pub fn finish(self) -> Vec<u8> {
        let mut bytes = self.writer.into_inner();
        bytes.push(b'\n');
        bytes
    }
}
