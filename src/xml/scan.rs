//! Streaming scanner shared by the three message readers.
//!
//! [`Tracked`] wraps the input to bound its size and to locate offsets as
//! lines and columns, counted lazily in bulk when a position is needed (each
//! byte counted once, in document order). [`Cursor`] turns quick-xml's `NsReader` events into a small
//! event set with namespaces classified by URI, refuses DTDs and custom
//! entities, and enforces the [`Limits`]. [`Document`] walks the root (a bare
//! message or a wrapper of 1..n messages) and hands out one message at a time
//! as a [`Scanned`] record: the values of the leaves named in a static
//! [`Node`] tree, whatever their order, every other element being skipped.

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

use super::MessageKind;
use super::error::{Limits, Pos, XmlError, XmlErrorKind};

/// Which limit the input wrapper hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitHit {
    Token,
    Document,
}

/// Input wrapper: bounds the document and each token, and keeps what is
/// needed to locate a byte offset as a line and column.
///
/// Line and column are computed lazily: consuming bytes only copies them to a
/// small window (one `memcpy`); they are counted (newlines, UTF-8 characters)
/// when a position is asked for ([`Tracked::position_at`]: errors, the start
/// of a message, the start of a kept value) or when the window grows past
/// [`WINDOW_FLUSH`] bytes, in one bulk pass. Positions are asked for in
/// document order, so every byte is counted once.
pub(crate) struct Tracked<R> {
    inner: R,
    consumed: u64,
    token_start: u64,
    max_token: u64,
    max_document: u64,
    hit: Option<LimitHit>,
    lines: LineTracker,
}

/// Window flushed (counted) at the next event start past this many bytes.
const WINDOW_FLUSH: usize = 32 * 1024;

/// Counts of the bytes before `offset`, plus the bytes consumed since.
#[derive(Default)]
struct LineTracker {
    /// Offset up to which `newlines` and `column_chars` are counted.
    offset: u64,
    newlines: u64,
    column_chars: u64,
    /// Bytes from `offset` on, starting at `window[start]`.
    window: Vec<u8>,
    start: usize,
}

impl LineTracker {
    /// Counts the bytes up to `offset` (clamped to what was consumed) and
    /// returns its 1-based position.
    fn advance_to(&mut self, offset: u64) -> Pos {
        let pending = self.window.len().saturating_sub(self.start);
        let wanted = usize::try_from(offset.saturating_sub(self.offset))
            .unwrap_or(usize::MAX)
            .min(pending);
        let end = self.start.saturating_add(wanted);
        if let Some(chunk) = self.window.get(self.start..end) {
            match chunk.iter().rposition(|&b| b == b'\n') {
                Some(last) => {
                    let count = chunk.iter().filter(|&&b| b == b'\n').count();
                    self.newlines = self.newlines.saturating_add(count as u64);
                    let tail = chunk.get(last + 1..).unwrap_or(&[]);
                    self.column_chars = count_chars(tail);
                }
                None => {
                    self.column_chars = self.column_chars.saturating_add(count_chars(chunk));
                }
            }
        }
        self.start = end;
        self.offset = self.offset.saturating_add(wanted as u64);
        if self.start >= self.window.len() {
            self.window.clear();
            self.start = 0;
        } else if self.start > WINDOW_FLUSH && self.start * 2 > self.window.len() {
            self.window.drain(..self.start);
            self.start = 0;
        }
        Pos {
            line: self.newlines.saturating_add(1),
            column: self.column_chars.saturating_add(1),
        }
    }
}

impl<R: BufRead> Tracked<R> {
    fn new(inner: R, limits: &Limits) -> Self {
        Self {
            inner,
            consumed: 0,
            token_start: 0,
            max_token: limits.max_token_bytes,
            max_document: limits.max_document_bytes,
            hit: None,
            lines: LineTracker::default(),
        }
    }

    /// Offset of the next byte to be consumed.
    fn offset(&self) -> u64 {
        self.consumed
    }

    /// Position of `offset`, which must not be before an offset already
    /// asked for (earlier bytes are forgotten).
    fn position_at(&mut self, offset: u64) -> Pos {
        self.lines.advance_to(offset)
    }

    /// Starts a new token: the per-token budget is counted from here, and the
    /// line window is counted when it has grown large.
    fn mark_token(&mut self) {
        self.token_start = self.consumed;
        if self.lines.window.len().saturating_sub(self.lines.start) > WINDOW_FLUSH {
            self.lines.advance_to(self.consumed);
        }
    }
}

impl<R: BufRead> Read for Tracked<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(target), Some(source)) = (out.get_mut(..n), available.get(..n)) {
            target.copy_from_slice(source);
        }
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Tracked<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let token_room = self
            .token_start
            .saturating_add(self.max_token)
            .saturating_sub(self.consumed);
        let document_room = self.max_document.saturating_sub(self.consumed);
        let room = token_room.min(document_room);
        let buf = self.inner.fill_buf()?;
        if buf.is_empty() {
            return Ok(buf);
        }
        if room == 0 {
            self.hit = Some(if document_room == 0 {
                LimitHit::Document
            } else {
                LimitHit::Token
            });
            return Err(io::Error::other("size limit reached"));
        }
        let n = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        Ok(buf.get(..n).unwrap_or(buf))
    }

    fn consume(&mut self, amount: usize) {
        if amount > 0 {
            if let Ok(buf) = self.inner.fill_buf() {
                let chunk = buf.get(..amount).unwrap_or(buf);
                self.lines.window.extend_from_slice(chunk);
            }
            self.consumed = self.consumed.saturating_add(amount as u64);
        }
        self.inner.consume(amount);
    }
}

/// Characters in a UTF-8 byte slice (bytes that are not continuation bytes).
fn count_chars(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count() as u64
}

/// Namespace of an element, classified by URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    Ram,
    Pie,
    Qdt,
    Message(MessageKind),
    /// Any other namespace, with the URI kept out (see [`Cursor::last_uri`]).
    Other,
    /// No namespace.
    None,
}

impl Ns {
    fn classify(resolved: &ResolveResult<'_>) -> Self {
        match resolved {
            ResolveResult::Bound(ns) => {
                let uri: &str = ns.0;
                if uri == super::NS_RAM {
                    Ns::Ram
                } else if uri == super::NS_PIE {
                    Ns::Pie
                } else if uri == super::NS_QDT {
                    Ns::Qdt
                } else if let Some(kind) = MessageKind::from_namespace(uri) {
                    Ns::Message(kind)
                } else {
                    Ns::Other
                }
            }
            ResolveResult::Unbound => Ns::None,
            ResolveResult::Unknown(_) => Ns::Other,
        }
    }

    /// Whether an element of this namespace may be an ESPPADOM element of a
    /// message of `kind` (the three common namespaces or the message's own).
    pub(crate) fn is_esppadom(self, kind: MessageKind) -> bool {
        match self {
            Ns::Ram | Ns::Pie | Ns::Qdt => true,
            Ns::Message(k) => k == kind,
            Ns::Other | Ns::None => false,
        }
    }
}

/// One event, simplified.
pub(crate) enum Ev<'a> {
    Start {
        ns: Ns,
        element: BytesStart<'a>,
        empty: bool,
    },
    End,
    Text(Cow<'a, str>),
    /// Comment, processing instruction or declaration.
    Skip,
    Eof,
}

/// Event reader over the tracked input, with the element path kept.
pub(crate) struct Cursor<R> {
    reader: NsReader<Tracked<R>>,
    buf: Vec<u8>,
    limits: Limits,
    depth: usize,
    /// `/a/b/c` of the open elements (local names).
    path: String,
    path_lengths: Vec<usize>,
    /// Byte offset of the start of the last event read (see [`Cursor::event_pos`]).
    event_offset: u64,
    /// URI of the last element whose namespace was not recognised.
    last_uri: String,
}

impl<R: BufRead> Cursor<R> {
    pub(crate) fn new(input: R, limits: Limits) -> Self {
        let mut reader = NsReader::from_reader(Tracked::new(input, &limits));
        let config = reader.config_mut();
        config.trim_text(false);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Self {
            reader,
            buf: Vec::new(),
            limits,
            depth: 0,
            path: String::new(),
            path_lengths: Vec::new(),
            event_offset: 0,
            last_uri: String::new(),
        }
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Path of the open elements, `/` when none.
    pub(crate) fn path(&self) -> &str {
        if self.path.is_empty() {
            "/"
        } else {
            &self.path
        }
    }

    /// URI of the last element in an unrecognised namespace.
    pub(crate) fn last_uri(&self) -> &str {
        &self.last_uri
    }

    /// Position of the start of the last event read (counted on demand).
    pub(crate) fn event_pos(&mut self) -> Pos {
        let offset = self.event_offset;
        self.reader.get_mut().position_at(offset)
    }

    /// An error at the start of the last event, at the current path.
    pub(crate) fn error(&mut self, kind: XmlErrorKind, message: impl Into<String>) -> XmlError {
        let pos = self.event_pos();
        self.error_at(kind, message, pos, self.path().to_owned())
    }

    pub(crate) fn error_at(
        &self,
        kind: XmlErrorKind,
        message: impl Into<String>,
        pos: Pos,
        path: String,
    ) -> XmlError {
        located(kind, message.into(), pos, &path)
    }

    /// Reads the next event (one quick-xml event; comments, processing
    /// instructions and the declaration come back as [`Ev::Skip`]).
    ///
    /// After the read, only fields other than `buf` are touched, directly or
    /// through free functions, so that returning a borrow of `buf` is accepted.
    pub(crate) fn next(&mut self) -> Result<Ev<'_>, XmlError> {
        self.buf.clear();
        self.event_offset = self.reader.get_ref().offset();
        self.reader.get_mut().mark_token();
        let result = self.reader.read_resolved_event_into(&mut self.buf);
        let (resolved, event) = match result {
            Ok(pair) => pair,
            Err(error) => {
                let hit = self.reader.get_ref().hit;
                let pos = self.reader.get_mut().position_at(self.event_offset);
                return Err(translate(error, hit, &self.limits, pos, &self.path));
            }
        };
        match event {
            Event::Start(element) => {
                let ns = Ns::classify(&resolved);
                note_uri(&mut self.last_uri, ns, &resolved);
                self.depth += 1;
                {
                    let local = element.local_name();
                    let local: &str = local.as_ref();
                    self.path_lengths.push(self.path.len());
                    self.path.push('/');
                    self.path.push_str(truncated(local, 80));
                }
                if self.depth > self.limits.max_depth {
                    return Err(too_deep(self.limits.max_depth, self.reader.get_mut().position_at(self.event_offset), &self.path));
                }
                Ok(Ev::Start {
                    ns,
                    element,
                    empty: false,
                })
            }
            Event::Empty(element) => {
                let ns = Ns::classify(&resolved);
                note_uri(&mut self.last_uri, ns, &resolved);
                if self.depth + 1 > self.limits.max_depth {
                    return Err(too_deep(self.limits.max_depth, self.reader.get_mut().position_at(self.event_offset), &self.path));
                }
                Ok(Ev::Start {
                    ns,
                    element,
                    empty: true,
                })
            }
            Event::End(_) => {
                self.depth = self.depth.saturating_sub(1);
                if let Some(length) = self.path_lengths.pop() {
                    self.path.truncate(length);
                }
                Ok(Ev::End)
            }
            Event::Text(text) => Ok(Ev::Text(text.xml10_content())),
            Event::CData(data) => Ok(Ev::Text(data.into_inner())),
            Event::GeneralRef(reference) => {
                if reference.is_char_ref() {
                    return match reference.resolve_char_ref() {
                        Ok(Some(c)) => Ok(Ev::Text(Cow::Owned(c.to_string()))),
                        _ => Err(located(
                            XmlErrorKind::Malformed,
                            "invalid character reference: use a valid &#NNN; or &#xHHH; code point".to_owned(),
                            self.reader.get_mut().position_at(self.event_offset),
                            &self.path,
                        )),
                    };
                }
                let name: &str = &reference;
                let replacement = match name {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    other => {
                        let shown: String = other.chars().take(40).collect();
                        return Err(located(
                            XmlErrorKind::Entity,
                            format!(
                                "the entity reference &{shown}; is not allowed: only &amp; &lt; &gt; &quot; &apos; and character references are accepted"
                            ),
                            self.reader.get_mut().position_at(self.event_offset),
                            &self.path,
                        ));
                    }
                };
                Ok(Ev::Text(Cow::Borrowed(replacement)))
            }
            Event::DocType(_) => Err(located(
                XmlErrorKind::Dtd,
                "a DOCTYPE declaration is not accepted: remove the <!DOCTYPE …> (DTDs and entity declarations are refused)".to_owned(),
                self.reader.get_mut().position_at(self.event_offset),
                &self.path,
            )),
            Event::Decl(declaration) => {
                if let Some(encoding) = declaration.encoding() {
                    let name: String = match encoding {
                        Ok(name) => name.chars().take(40).collect(),
                        Err(_) => String::from("?"),
                    };
                    if !name.eq_ignore_ascii_case("utf-8") {
                        return Err(located(
                            XmlErrorKind::Encoding,
                            format!("the file declares the encoding '{name}': only UTF-8 is accepted"),
                            self.reader.get_mut().position_at(self.event_offset),
                            &self.path,
                        ));
                    }
                }
                Ok(Ev::Skip)
            }
            Event::Comment(_) | Event::PI(_) => Ok(Ev::Skip),
            Event::Eof => Ok(Ev::Eof),
        }
    }

    /// Skips the content of the element whose start was just read.
    pub(crate) fn skip_element(&mut self) -> Result<(), XmlError> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next()? {
                Ev::Start { empty: false, .. } => depth += 1,
                Ev::Start { empty: true, .. } | Ev::Text(_) | Ev::Skip => {}
                Ev::End => depth -= 1,
                Ev::Eof => {
                    return Err(self.error(
                        XmlErrorKind::Malformed,
                        "the document ends before this element is closed",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncated(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

/// Keeps the URI (or undeclared prefix) of an unrecognised namespace for messages.
fn note_uri(last_uri: &mut String, ns: Ns, resolved: &ResolveResult<'_>) {
    if ns == Ns::Other {
        last_uri.clear();
        match resolved {
            ResolveResult::Bound(uri) => last_uri.extend(uri.0.chars().take(200)),
            ResolveResult::Unknown(prefix) => {
                last_uri.push_str("undeclared prefix ");
                last_uri.extend(prefix.chars().take(80));
            }
            ResolveResult::Unbound => {}
        }
    }
}

/// An error at `pos`, element `path` (`/` when empty).
fn located(kind: XmlErrorKind, message: String, pos: Pos, path: &str) -> XmlError {
    XmlError {
        kind,
        message,
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        },
        line: pos.line,
        column: pos.column,
    }
}

fn too_deep(max_depth: usize, pos: Pos, path: &str) -> XmlError {
    located(
        XmlErrorKind::TooDeep,
        format!(
            "elements are nested more than {max_depth} levels deep: an ESPPADOM file is never that deep"
        ),
        pos,
        path,
    )
}

/// Turns a quick-xml error into a located refusal.
fn translate(
    error: quick_xml::Error,
    hit: Option<LimitHit>,
    limits: &Limits,
    pos: Pos,
    path: &str,
) -> XmlError {
    use quick_xml::Error as E;
    let (kind, message) = match (hit, &error) {
        (Some(LimitHit::Document), _) => (
            XmlErrorKind::TooLarge,
            format!(
                "the document is larger than the {} bytes accepted: split it into several files",
                limits.max_document_bytes
            ),
        ),
        (Some(LimitHit::Token), _) => (
            XmlErrorKind::TooLarge,
            format!(
                "a tag, text or comment is longer than the {} bytes accepted",
                limits.max_token_bytes
            ),
        ),
        (None, E::Io(io)) => (
            XmlErrorKind::Io,
            format!("the document could not be read: {io}"),
        ),
        (None, E::Encoding(_)) => (
            XmlErrorKind::Encoding,
            "the text from here on is not valid UTF-8: save the file as UTF-8".to_owned(),
        ),
        (None, E::Syntax(syntax)) => (
            XmlErrorKind::Malformed,
            format!("the file is not well-formed XML: {syntax}"),
        ),
        (None, E::IllFormed(ill)) => (
            XmlErrorKind::Malformed,
            format!("the file is not well-formed XML: {ill}"),
        ),
        (None, E::InvalidAttr(attr)) => (
            XmlErrorKind::Malformed,
            format!("invalid attribute: {attr}"),
        ),
        (None, E::Escape(escape)) => (
            XmlErrorKind::Entity,
            format!("invalid entity or character reference: {escape}"),
        ),
        (None, E::Namespace(ns)) => (
            XmlErrorKind::Namespace,
            format!("namespace declaration problem: {ns}"),
        ),
    };
    located(kind, message, pos, path)
}

/// Where a leaf's value goes in a [`Scanned`] record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Once per message.
    Header(usize),
    /// Once per repeated group (line item).
    Group(usize),
}

/// One node of the static tree of elements a reader looks for.
pub(crate) struct Node {
    pub name: &'static str,
    pub slot: Option<Slot>,
    /// A repeatable element: each occurrence opens a new group.
    pub group: bool,
    pub children: &'static [Node],
}

/// A leaf element to keep.
pub(crate) const fn leaf(name: &'static str, slot: Slot) -> Node {
    Node {
        name,
        slot: Some(slot),
        group: false,
        children: &[],
    }
}

/// An element whose children matter.
pub(crate) const fn branch(name: &'static str, children: &'static [Node]) -> Node {
    Node {
        name,
        slot: None,
        group: false,
        children,
    }
}

/// A repeatable element (each occurrence is a line) whose children matter.
pub(crate) const fn group(name: &'static str, children: &'static [Node]) -> Node {
    Node {
        name,
        slot: None,
        group: true,
        children,
    }
}

/// Path of the element holding `slot`, relative to `root` (`A/B/C`).
pub(crate) fn path_of(root: &Node, slot: Slot) -> String {
    fn walk(node: &Node, slot: Slot, trail: &mut Vec<&'static str>) -> bool {
        for child in node.children {
            trail.push(child.name);
            if child.slot == Some(slot) || walk(child, slot, trail) {
                return true;
            }
            trail.pop();
        }
        false
    }
    let mut trail = Vec::new();
    walk(root, slot, &mut trail);
    trail.join("/")
}

/// The value of one leaf element.
#[derive(Debug, Clone, Default)]
pub(crate) struct Leaf {
    pub text: String,
    pub pos: Pos,
    pub list_id: Option<String>,
    pub unit_code: Option<String>,
}

impl Leaf {
    /// The trimmed text, `None` when empty.
    pub(crate) fn value(&self) -> Option<&str> {
        let text = self.text.trim();
        (!text.is_empty()).then_some(text)
    }
}

/// One message's kept values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scanned {
    pub header: Vec<Option<Leaf>>,
    pub groups: Vec<Vec<Option<Leaf>>>,
    /// Position of the message's start tag.
    pub start: Pos,
    /// 1-based index of the message in the document.
    pub index: usize,
    /// Path of the message element (`/delivery/CrossIndustryDespatchAdvice[2]`).
    pub path: String,
}

impl Scanned {
    pub(crate) fn header(&self, index: usize) -> Option<&Leaf> {
        self.header.get(index).and_then(Option::as_ref)
    }
}

/// Shape of one message type: its tree and the sizes of its records.
pub(crate) struct Shape {
    pub root: &'static Node,
    pub header_slots: usize,
    pub group_slots: usize,
}

fn read_attributes(element: &BytesStart<'_>, leaf: &mut Leaf) -> Result<(), String> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| format!("invalid attribute: {e}"))?;
        let local = attribute.key.local_name();
        let key: &str = local.as_ref();
        let wanted = matches!(key, "listID" | "unitCode");
        if wanted {
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("invalid attribute value: {e}"))?;
            if value.len() > 1024 {
                return Err("an attribute value is longer than 1024 bytes".to_owned());
            }
            if key == "listID" {
                leaf.list_id = Some(value.into_owned());
            } else {
                leaf.unit_code = Some(value.into_owned());
            }
        }
    }
    Ok(())
}

/// Reads one message whose start tag was just read (`empty`: it was `<x/>`).
pub(crate) fn scan_message<R: BufRead>(
    cursor: &mut Cursor<R>,
    kind: MessageKind,
    shape: &Shape,
    empty: bool,
) -> Result<Scanned, XmlError> {
    let mut scanned = Scanned {
        header: vec![None; shape.header_slots],
        groups: Vec::new(),
        start: cursor.event_pos(),
        index: 0,
        path: String::new(),
    };
    if empty {
        return Ok(scanned);
    }
    let max_groups = cursor.limits().max_lines_per_message;
    let max_text = cursor.limits().max_text_bytes;
    let mut stack: Vec<Option<&'static Node>> = vec![Some(shape.root)];
    // (slot, stack depth of the captured element, value)
    let mut capture: Option<(Slot, usize, Leaf)> = None;
    loop {
        match cursor.next()? {
            Ev::Start { ns, element, empty } => {
                let parent = stack.last().copied().flatten();
                let node = match parent {
                    Some(parent) if ns.is_esppadom(kind) => {
                        let local = element.local_name();
                        let local: &str = local.as_ref();
                        parent.children.iter().find(|child| child.name == local)
                    }
                    _ => None,
                };
                let mut value = Leaf::default();
                let attributes = match node {
                    Some(Node { slot: Some(_), .. }) if capture.is_none() => {
                        read_attributes(&element, &mut value)
                    }
                    _ => Ok(()),
                };
                drop(element);
                attributes.map_err(|m| cursor.error(XmlErrorKind::Malformed, m))?;
                if let Some(node) = node {
                    if node.group {
                        if scanned.groups.len() >= max_groups {
                            return Err(cursor.error(
                                XmlErrorKind::TooLarge,
                                format!(
                                    "more than {max_groups} line items in one message: split the message"
                                ),
                            ));
                        }
                        scanned.groups.push(vec![None; shape.group_slots]);
                    }
                    if let (Some(slot), None) = (node.slot, &capture) {
                        value.pos = cursor.event_pos();
                        if empty {
                            store(&mut scanned, slot, value);
                        } else {
                            capture = Some((slot, stack.len() + 1, value));
                        }
                    }
                }
                if !empty {
                    stack.push(node);
                }
            }
            Ev::Text(text) => {
                if let Some((_, depth, value)) = &mut capture {
                    if *depth == stack.len() {
                        if value.text.len() + text.len() > max_text {
                            drop(text);
                            let message =
                                format!("a value is longer than the {max_text} bytes accepted");
                            return Err(cursor.error(XmlErrorKind::TooLarge, message));
                        }
                        value.text.push_str(&text);
                    }
                }
            }
            Ev::Skip => {}
            Ev::End => {
                if capture
                    .as_ref()
                    .is_some_and(|(_, depth, _)| *depth == stack.len())
                {
                    if let Some((slot, _, value)) = capture.take() {
                        store(&mut scanned, slot, value);
                    }
                }
                stack.pop();
                if stack.is_empty() {
                    return Ok(scanned);
                }
            }
            Ev::Eof => {
                return Err(cursor.error(
                    XmlErrorKind::Malformed,
                    format!(
                        "the document ends inside a {} message: the file is truncated",
                        kind.message()
                    ),
                ));
            }
        }
    }
}

fn store(scanned: &mut Scanned, slot: Slot, value: Leaf) {
    let target = match slot {
        Slot::Header(index) => scanned.header.get_mut(index),
        Slot::Group(index) => scanned
            .groups
            .last_mut()
            .and_then(|group| group.get_mut(index)),
    };
    if let Some(target) = target {
        if target.is_none() {
            *target = Some(value);
        }
    }
}

/// Where the document walk stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeforeRoot,
    InWrapper,
    AfterRoot,
    Done,
}

/// Walks a document of one message kind: a bare message or a wrapper.
pub(crate) struct Document<R> {
    pub(crate) cursor: Cursor<R>,
    kind: MessageKind,
    shape: &'static Shape,
    state: State,
    count: usize,
    wrapper_path: String,
    /// `versionID` of the wrapper, when present.
    pub(crate) wrapper_version: Option<String>,
}

impl<R: BufRead> Document<R> {
    pub(crate) fn new(input: R, kind: MessageKind, shape: &'static Shape, limits: Limits) -> Self {
        Self {
            cursor: Cursor::new(input, limits),
            kind,
            shape,
            state: State::BeforeRoot,
            count: 0,
            wrapper_path: String::new(),
            wrapper_version: None,
        }
    }

    fn scan(&mut self, empty: bool) -> Result<Scanned, XmlError> {
        self.count += 1;
        let mut scanned = scan_message(&mut self.cursor, self.kind, self.shape, empty)?;
        scanned.index = self.count;
        scanned.path = if self.wrapper_path.is_empty() {
            format!("/{}", self.kind.message())
        } else {
            format!(
                "{}/{}[{}]",
                self.wrapper_path,
                self.kind.message(),
                self.count
            )
        };
        Ok(scanned)
    }

    fn namespace_error(&mut self, ns: Ns, local: &str) -> XmlError {
        let found = match ns {
            Ns::None => "no namespace".to_owned(),
            Ns::Message(other) => format!("the {} namespace", other.label()),
            _ => format!("the namespace '{}'", self.cursor.last_uri()),
        };
        let (kind, message) = match ns {
            Ns::Message(other) if other != self.kind => (
                XmlErrorKind::UnexpectedRoot,
                format!(
                    "this is an ESPPADOM {} document, not a {}: send it to the right address",
                    other.label(),
                    self.kind.label()
                ),
            ),
            _ => (
                XmlErrorKind::Namespace,
                format!(
                    "<{local}> is in {found}: an ESPPADOM {} must use a namespace starting with {}",
                    self.kind.label(),
                    self.kind.namespace_prefix()
                ),
            ),
        };
        self.cursor.error(kind, message)
    }

    /// The next message, `None` at the end of the document.
    pub(crate) fn next_message(&mut self) -> Result<Option<Scanned>, XmlError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::BeforeRoot => match self.cursor.next()? {
                    Ev::Start { ns, element, empty } => {
                        let local = element.local_name();
                        let local: String = local.as_ref().chars().take(80).collect();
                        let version = if local == self.kind.wrapper() {
                            read_version(&element)
                        } else {
                            None
                        };
                        drop(element);
                        if ns != Ns::Message(self.kind) {
                            return Err(self.namespace_error(ns, &local));
                        }
                        if local == self.kind.wrapper() {
                            self.wrapper_version = version;
                            self.wrapper_path = format!("/{local}");
                            if empty {
                                self.state = State::AfterRoot;
                            } else {
                                self.state = State::InWrapper;
                            }
                        } else if local == self.kind.message() {
                            self.state = State::AfterRoot;
                            return self.scan(empty).map(Some);
                        } else {
                            return Err(self.cursor.error(
                                XmlErrorKind::UnexpectedRoot,
                                format!(
                                    "the root element <{local}> is not an ESPPADOM {}: expected <{}> or <{}>",
                                    self.kind.label(),
                                    self.kind.wrapper(),
                                    self.kind.message()
                                ),
                            ));
                        }
                    }
                    Ev::Text(text) => {
                        if !text.trim().is_empty() {
                            return Err(self.cursor.error(
                                XmlErrorKind::Malformed,
                                "text before the root element: the file must start with an XML element",
                            ));
                        }
                    }
                    Ev::Skip => {}
                    Ev::End => {
                        return Err(self
                            .cursor
                            .error(XmlErrorKind::Malformed, "a closing tag before any element"));
                    }
                    Ev::Eof => {
                        return Err(self.cursor.error(
                            XmlErrorKind::Malformed,
                            "the document is empty: no XML element found",
                        ));
                    }
                },
                State::InWrapper => match self.cursor.next()? {
                    Ev::Start { ns, element, empty } => {
                        let local = element.local_name();
                        let is_message = {
                            let local: &str = local.as_ref();
                            local == self.kind.message()
                        };
                        drop(element);
                        if is_message {
                            if ns != Ns::Message(self.kind) {
                                let local: String = self.kind.message().to_owned();
                                return Err(self.namespace_error(ns, &local));
                            }
                            return self.scan(empty).map(Some);
                        }
                        if !empty {
                            self.cursor.skip_element()?;
                        }
                    }
                    Ev::Text(_) | Ev::Skip => {}
                    Ev::End => self.state = State::AfterRoot,
                    Ev::Eof => {
                        return Err(self.cursor.error(
                            XmlErrorKind::Malformed,
                            "the document ends before the root element is closed: the file is truncated",
                        ));
                    }
                },
                State::AfterRoot => match self.cursor.next()? {
                    Ev::Eof => self.state = State::Done,
                    Ev::Skip => {}
                    Ev::Text(text) => {
                        if !text.trim().is_empty() {
                            return Err(self.cursor.error(
                                XmlErrorKind::Malformed,
                                "text after the end of the root element",
                            ));
                        }
                    }
                    Ev::Start { .. } | Ev::End => {
                        return Err(self.cursor.error(
                            XmlErrorKind::Malformed,
                            "content after the end of the root element: a file holds one root element",
                        ));
                    }
                },
            }
        }
    }
}

/// `versionID` attribute of a wrapper.
fn read_version(element: &BytesStart<'_>) -> Option<String> {
    element.attributes().flatten().find_map(|attribute| {
        let local = attribute.key.local_name();
        let key: &str = local.as_ref();
        (key == "versionID").then(|| {
            attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(|v| v.chars().take(40).collect::<String>())
                .unwrap_or_default()
        })
    })
}

/// The kind of message a document holds, from its root element's namespace
/// (reads only up to the root start tag).
pub(crate) fn detect_kind(bytes: &[u8], limits: Limits) -> Result<MessageKind, XmlError> {
    let mut cursor = Cursor::new(bytes, limits);
    loop {
        match cursor.next()? {
            Ev::Start { ns, element, .. } => {
                return match ns {
                    Ns::Message(kind) => Ok(kind),
                    _ => {
                        let local: String = {
                            let local = element.local_name();
                            let local: &str = local.as_ref();
                            local.chars().take(80).collect()
                        };
                        drop(element);
                        let found = match ns {
                            Ns::None => "no namespace".to_owned(),
                            _ => format!("the namespace '{}'", cursor.last_uri()),
                        };
                        Err(cursor.error(
                            XmlErrorKind::Namespace,
                            format!(
                                "the root element <{local}> is in {found}: not an ESPPADOM DELIVERY, ORDER or INVOICE (namespaces starting with urn:un:unece:uncefact:data:standard:CrossIndustry…)"
                            ),
                        ))
                    }
                };
            }
            Ev::Text(_) | Ev::Skip => {}
            Ev::End | Ev::Eof => {
                return Err(cursor.error(
                    XmlErrorKind::Malformed,
                    "the document is empty: no XML element found",
                ));
            }
        }
    }
}
