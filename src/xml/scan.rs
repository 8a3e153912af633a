//! Streaming scanner shared by the three message readers.
//!
//! [`Tracked`] wraps the input to bound its size. [`Cursor`] locates event
//! starts as lines and columns, counted in bulk when a position is needed
//! (each byte counted once, in document order), and turns quick-xml's `NsReader` events into a small
//! event set with namespaces classified by URI, refuses DTDs and custom
//! entities, and enforces the [`Limits`]. [`Document`] walks the root (a bare
//! message or a wrapper of 1..n messages) and hands out one message at a time
//! as a [`Scanned`] record: the values of the leaves named in a static
//! [`Node`] tree, whatever their order, every other element being skipped.

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use quick_xml::NsReader;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesStart, BytesText, Event};
use quick_xml::name::{NamespaceResolver, ResolveResult};

use super::MessageKind;
use super::error::{Limits, Pos, XmlError, XmlErrorKind};

/// Which limit the input wrapper hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitHit {
    Token,
    Document,
}

/// Input wrapper: bounds the document and each token.
pub(crate) struct Tracked<R> {
    inner: R,
    consumed: u64,
    /// Offset the current token may not reach: the smaller of the token's
    /// and the document's budgets.
    limit: u64,
    max_token: u64,
    max_document: u64,
    hit: Option<LimitHit>,
}

/// Events kept for counting: past this many bytes they are counted and
/// dropped before the next event is read.
const WINDOW_FLUSH: usize = 32 * 1024;

/// The UTF-8 byte-order mark, which quick-xml skips before the first event
/// without putting it in the event's bytes.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Lines and columns of the events read, counted up to the start of an
/// event when its position is asked for.
///
/// quick-xml appends the bytes of each event to the cursor's buffer; the
/// buffer is not cleared from one event to the next, so it holds every byte
/// since the last count (no copy). The bytes are counted (newlines, UTF-8
/// characters) when the position of an event is asked for ([`Cursor::event_pos`]:
/// errors, the start of a message) or when the buffer grows past
/// [`WINDOW_FLUSH`] bytes. Each byte is counted once.
///
/// The start of a kept value is only marked ([`Cursor::mark`]): it is
/// counted when a problem names it ([`Positions::of`]), or on the way when
/// the count passes it. Marks are dropped at the next message.
#[derive(Default)]
struct Located {
    lines: LineCount,
    /// Bytes of the buffer already counted.
    counted: usize,
    /// A byte-order mark was skipped before the buffer's first byte and is
    /// not counted yet (it counts as one character, the first event's
    /// position excepted).
    bom: bool,
    /// The marks of the current message, in document order.
    marks: Vec<Marked>,
    /// Marks before this one are counted.
    uncounted: usize,
}

/// A mark of [`Located`].
#[derive(Debug, Clone, Copy)]
enum Marked {
    /// Not counted yet: where it is in the buffer.
    At(usize),
    Counted(Pos),
}

/// Where a kept value starts, counted as a line and column only when asked
/// for (see [`Located`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Mark(usize);

impl Located {
    /// Position of the byte at `at` in `buf` (a byte not counted yet, or the
    /// last one counted), counting the marks it passes.
    fn pos(&mut self, buf: &[u8], at: usize) -> Pos {
        while let Some(&Marked::At(marked)) = self.marks.get(self.uncounted) {
            if marked > at {
                break;
            }
            let pos = self.count_to(buf, marked);
            if let Some(mark) = self.marks.get_mut(self.uncounted) {
                *mark = Marked::Counted(pos);
            }
            self.uncounted += 1;
        }
        self.count_to(buf, at)
    }

    fn count_to(&mut self, buf: &[u8], at: usize) -> Pos {
        if at > self.counted {
            if std::mem::take(&mut self.bom) {
                self.lines.count(UTF8_BOM);
            }
            self.lines.count(buf.get(self.counted..at).unwrap_or(&[]));
            self.counted = at;
        }
        self.lines.pos()
    }

    /// Counts all of `buf`, which is then cleared.
    fn flush(&mut self, buf: &[u8]) {
        self.pos(buf, buf.len());
        self.counted = 0;
    }

    /// Marks the byte at `at` in `buf`.
    fn mark(&mut self, at: usize) -> Mark {
        self.marks.push(Marked::At(at));
        Mark(self.marks.len() - 1)
    }

    /// Drops the marks (the message they belong to is done).
    fn clear_marks(&mut self) {
        self.marks.clear();
        self.uncounted = 0;
    }

    /// Position of `mark`, counted on a copy when it is not counted yet
    /// (a mark not counted is past the bytes counted).
    fn mark_pos(&self, buf: &[u8], mark: Mark) -> Pos {
        match self.marks.get(mark.0) {
            Some(Marked::Counted(pos)) => *pos,
            Some(&Marked::At(at)) => {
                let mut lines = self.lines.clone();
                if self.bom && at > self.counted {
                    lines.count(UTF8_BOM);
                }
                lines.count(buf.get(self.counted..at).unwrap_or(&[]));
                lines.pos()
            }
            None => self.lines.pos(),
        }
    }
}

/// Positions of the marked values of the message just read (see [`Located`]).
pub(crate) struct Positions<'a> {
    located: &'a Located,
    buf: &'a [u8],
}

impl Positions<'_> {
    /// Position of the start tag of `leaf`.
    pub(crate) fn of(&self, leaf: &Leaf) -> Pos {
        self.located.mark_pos(self.buf, leaf.mark)
    }
}

/// Lines and columns of the bytes consumed so far.
#[derive(Default, Clone)]
struct LineCount {
    newlines: u64,
    /// Characters since the last newline.
    column_chars: u64,
}

impl LineCount {
    fn count(&mut self, chunk: &[u8]) {
        let (newlines, continuations) = tally(chunk);
        if newlines == 0 {
            let chars = chunk.len() as u64 - continuations;
            self.column_chars = self.column_chars.saturating_add(chars);
        } else {
            self.newlines = self.newlines.saturating_add(newlines);
            let after = last_newline(chunk)
                .and_then(|last| chunk.get(last + 1..))
                .unwrap_or(&[]);
            let (_, continuations) = tally(after);
            self.column_chars = after.len() as u64 - continuations;
        }
    }

    /// 1-based position of the next byte.
    fn pos(&self) -> Pos {
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
            limit: limits.max_token_bytes.min(limits.max_document_bytes),
            max_token: limits.max_token_bytes,
            max_document: limits.max_document_bytes,
            hit: None,
        }
    }

    /// Starts a new token at the next byte: the per-token budget is counted
    /// from here. Returns the token's offset.
    fn mark_token(&mut self) -> u64 {
        self.limit = self
            .consumed
            .saturating_add(self.max_token)
            .min(self.max_document);
        self.consumed
    }

    /// [`BufRead::fill_buf`] with no room left: the end of the input, or the
    /// refusal of the limit reached.
    #[cold]
    #[inline(never)]
    fn fill_buf_at_limit(&mut self) -> io::Result<&[u8]> {
        let at_end = self.inner.fill_buf()?.is_empty();
        if at_end {
            return Ok(&[]);
        }
        self.hit = Some(if self.consumed >= self.max_document {
            LimitHit::Document
        } else {
            LimitHit::Token
        });
        Err(io::Error::other("size limit reached"))
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
    // Inlined into quick-xml's read loops (called several times per event):
    // the refusal is out of line so that what is left is small.
    #[inline(always)]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let room = self.limit.saturating_sub(self.consumed);
        if room == 0 {
            return self.fill_buf_at_limit();
        }
        let buf = self.inner.fill_buf()?;
        let n = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        Ok(buf.get(..n).unwrap_or(buf))
    }

    #[inline]
    fn consume(&mut self, amount: usize) {
        self.consumed = self.consumed.saturating_add(amount as u64);
        self.inner.consume(amount);
    }
}

/// Newlines and UTF-8 continuation bytes in `bytes`.
///
/// Whole 32-byte blocks are counted into byte-wide counters (a loop the
/// compiler turns into vector code), summed every 255 blocks at most so that
/// no counter overflows; the last bytes, zero-padded to a block, go into the
/// same counters, which are summed once per call.
fn tally(bytes: &[u8]) -> (u64, u64) {
    let mut newlines = 0u64;
    let mut continuations = 0u64;
    // 254 whole blocks and the padded rest: at most 255 counts per counter.
    for round in bytes.chunks(32 * 254 + 31) {
        let blocks = round.chunks_exact(32);
        let rest = blocks.remainder();
        let mut lane_newlines = [0u8; 32];
        let mut lane_continuations = [0u8; 32];
        for block in blocks {
            if let Ok(block) = <&[u8; 32]>::try_from(block) {
                tally_block(&mut lane_newlines, &mut lane_continuations, block);
            }
        }
        let mut last = [0u8; 32];
        if let Some(target) = last.get_mut(..rest.len()) {
            // Zero padding counts as neither.
            target.copy_from_slice(rest);
        }
        tally_block(&mut lane_newlines, &mut lane_continuations, &last);
        newlines += sum_lanes(&lane_newlines);
        continuations += sum_lanes(&lane_continuations);
    }
    (newlines, continuations)
}

/// Adds one block to the byte-wide counters of [`tally`].
#[inline(always)]
fn tally_block(newlines: &mut [u8; 32], continuations: &mut [u8; 32], block: &[u8; 32]) {
    for ((newline, continuation), &byte) in
        newlines.iter_mut().zip(continuations.iter_mut()).zip(block)
    {
        *newline += u8::from(byte == b'\n');
        *continuation += u8::from(is_continuation(byte));
    }
}

/// Index of the last newline of `bytes`: the last 32-byte block holding one
/// is found with a vectorisable test, then searched byte by byte.
fn last_newline(bytes: &[u8]) -> Option<usize> {
    let whole = bytes.len() - bytes.len() % 32;
    let (blocks, rest) = bytes.split_at(whole);
    if let Some(index) = rest.iter().rposition(|&b| b == b'\n') {
        return Some(whole + index);
    }
    let (number, block) = blocks
        .chunks_exact(32)
        .enumerate()
        .rev()
        .find(|(_, block)| block.iter().fold(false, |any, &b| any | (b == b'\n')))?;
    block
        .iter()
        .rposition(|&b| b == b'\n')
        .map(|index| number * 32 + index)
}

/// Sum of 32 byte-wide counters (at most 255 each).
fn sum_lanes(lanes: &[u8; 32]) -> u64 {
    const PAIRS: u64 = 0x00FF_00FF_00FF_00FF;
    // Four 16-bit sums per word of two bytes each (at most 510), added over
    // the four words (at most 2 040), then their total in the top 16 bits
    // (at most 8 160).
    let pairs = lanes
        .chunks_exact(8)
        .map(|word| {
            let word = u64::from_le_bytes(word.try_into().unwrap_or_default());
            (word & PAIRS) + ((word >> 8) & PAIRS)
        })
        .fold(0u64, u64::wrapping_add);
    pairs.wrapping_mul(0x0001_0001_0001_0001) >> 48
}

/// Whether `byte` continues a UTF-8 character (`10xxxxxx`).
fn is_continuation(byte: u8) -> bool {
    (byte & 0xC0) == 0x80
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
        /// Where the local name starts in the element's name (see [`local_name`]).
        local: usize,
    },
    End,
    Text(Text<'a>),
    /// Comment, processing instruction or declaration.
    Skip,
    Eof,
}

/// The local name of `element`, which starts at byte `local` of its name
/// (as [`Ev::Start`] gives it, from the namespace classification).
pub(crate) fn local_name<'e>(element: &'e BytesStart<'_>, local: usize) -> &'e str {
    element.name().0.get(local..).unwrap_or("")
}

/// A text event, decoded only when its content is wanted.
pub(crate) enum Text<'a> {
    /// Character data, end-of-lines not yet normalised.
    Raw(BytesText<'a>),
    /// CDATA content, or what a reference stands for.
    Decoded(Cow<'a, str>),
}

impl<'a> Text<'a> {
    /// The text, XML 1.0 end-of-lines normalised.
    pub(crate) fn content(&self) -> Cow<'a, str> {
        match self {
            Text::Raw(text) => text.xml10_content(),
            Text::Decoded(text) => text.clone(),
        }
    }

    /// Whether the text is only whitespace.
    pub(crate) fn is_blank(&self) -> bool {
        self.content().trim().is_empty()
    }
}

/// The next event of a [`Cursor`], or returns its refusal, located.
macro_rules! next_event {
    ($cursor:expr) => {
        match $cursor.next() {
            Ok(event) => event,
            Err(failure) => return Err($cursor.locate(failure)),
        }
    };
}

/// Event reader over the tracked input, with the element path kept.
pub(crate) struct Cursor<R> {
    reader: NsReader<Tracked<R>>,
    /// quick-xml's buffer: the bytes of the events read since the last
    /// count was flushed (see [`Located`]).
    buf: Vec<u8>,
    /// Where the last event read starts in `buf`.
    event: usize,
    located: Located,
    /// No event was read yet.
    first: bool,
    limits: Limits,
    depth: usize,
    /// `/a/b/c` of the open elements (local names).
    path: String,
    path_lengths: Vec<usize>,
    /// URI of the last element whose namespace was not recognised.
    last_uri: String,
    prefixes: PrefixCache,
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
            event: 0,
            located: Located::default(),
            first: true,
            limits,
            depth: 0,
            path: String::new(),
            path_lengths: Vec::new(),
            last_uri: String::new(),
            prefixes: PrefixCache::default(),
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

    /// Position of the start of the last event read.
    pub(crate) fn event_pos(&mut self) -> Pos {
        self.located.pos(&self.buf, self.event)
    }

    /// Marks the start of the last event read (see [`Located`]).
    pub(crate) fn mark(&mut self) -> Mark {
        self.located.mark(self.event)
    }

    /// Positions of the values marked in the current message.
    pub(crate) fn positions(&self) -> Positions<'_> {
        Positions {
            located: &self.located,
            buf: &self.buf,
        }
    }

    /// Locates a refusal found while reading the last event.
    pub(crate) fn locate(&mut self, failure: Unlocated) -> XmlError {
        let Unlocated(mut error) = failure;
        let pos = self.event_pos();
        error.line = pos.line;
        error.column = pos.column;
        error
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
    /// instructions and the declaration come back as [`Ev::Skip`]). A refusal
    /// is located by [`Cursor::locate`] (use [`next_event!`]).
    ///
    /// After the read, only fields other than `buf` are touched, directly or
    /// through free functions, so that returning a borrow of `buf` is
    /// accepted; this is also why a refusal's position, counted in `buf`, is
    /// found after the event's borrow has ended.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Result<Ev<'_>, Unlocated> {
        if self.buf.len() > WINDOW_FLUSH {
            self.located.flush(&self.buf);
            self.buf.clear();
        }
        self.event = self.buf.len();
        let start = self.reader.get_mut().mark_token();
        let offset = self.reader.buffer_position();
        // Only start tags need their namespace: `read_event_into` spares the
        // resolution of every end tag that `read_resolved_event_into` makes.
        let result = self.reader.read_event_into(&mut self.buf);
        if std::mem::take(&mut self.first) {
            // quick-xml's offset moves by the bytes it appends to the buffer,
            // the input's by every byte consumed: the difference before the
            // first event is the byte-order mark.
            let read = self.reader.get_ref().consumed.saturating_sub(start);
            let appended = self.reader.buffer_position().saturating_sub(offset);
            self.located.bom = read > appended;
        }
        let event = match result {
            Ok(event) => event,
            Err(error) => {
                let hit = self.reader.get_ref().hit;
                return Err(translate(error, hit, &self.limits, &self.path));
            }
        };
        match event {
            Event::Start(element) => {
                self.depth += 1;
                let (ns, local) = self.prefixes.classify(
                    self.reader.resolver(),
                    &mut self.last_uri,
                    &element,
                    Some(self.depth),
                );
                self.path_lengths.push(self.path.len());
                self.path.push('/');
                self.path
                    .push_str(truncated(local_name(&element, local), 80));
                if self.depth > self.limits.max_depth {
                    return Err(too_deep(self.limits.max_depth, &self.path));
                }
                Ok(Ev::Start {
                    ns,
                    element,
                    empty: false,
                    local,
                })
            }
            Event::Empty(element) => {
                let (ns, local) =
                    self.prefixes
                        .classify(self.reader.resolver(), &mut self.last_uri, &element, None);
                if self.depth + 1 > self.limits.max_depth {
                    return Err(too_deep(self.limits.max_depth, &self.path));
                }
                Ok(Ev::Start {
                    ns,
                    element,
                    empty: true,
                    local,
                })
            }
            Event::End(_) => {
                self.prefixes.close(self.depth);
                self.depth = self.depth.saturating_sub(1);
                if let Some(length) = self.path_lengths.pop() {
                    self.path.truncate(length);
                }
                Ok(Ev::End)
            }
            Event::Text(text) => Ok(Ev::Text(Text::Raw(text))),
            Event::CData(data) => Ok(Ev::Text(Text::Decoded(data.into_inner()))),
            Event::GeneralRef(reference) => {
                if reference.is_char_ref() {
                    return match reference.resolve_char_ref() {
                        Ok(Some(c)) => Ok(Ev::Text(Text::Decoded(Cow::Owned(c.to_string())))),
                        _ => Err(unlocated(
                            XmlErrorKind::Malformed,
                            "invalid character reference: use a valid &#NNN; or &#xHHH; code point".to_owned(),
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
                        return Err(unlocated(
                            XmlErrorKind::Entity,
                            format!(
                                "the entity reference &{shown}; is not allowed: only &amp; &lt; &gt; &quot; &apos; and character references are accepted"
                            ),
                            &self.path,
                        ));
                    }
                };
                Ok(Ev::Text(Text::Decoded(Cow::Borrowed(replacement))))
            }
            Event::DocType(_) => Err(unlocated(
                XmlErrorKind::Dtd,
                "a DOCTYPE declaration is not accepted: remove the <!DOCTYPE …> (DTDs and entity declarations are refused)".to_owned(),
                &self.path,
            )),
            Event::Decl(declaration) => {
                if let Some(encoding) = declaration.encoding() {
                    let name: String = match encoding {
                        Ok(name) => name.chars().take(40).collect(),
                        Err(_) => String::from("?"),
                    };
                    if !name.eq_ignore_ascii_case("utf-8") {
                        return Err(unlocated(
                            XmlErrorKind::Encoding,
                            format!("the file declares the encoding '{name}': only UTF-8 is accepted"),
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
            match next_event!(self) {
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

/// Namespaces of element prefixes, kept while the bindings in scope do not
/// change, so that most start tags are classified without resolving their
/// prefix (a search of the bindings) and comparing URIs.
///
/// Bindings change only at an element that declares some (`xmlns` or
/// `xmlns:p` attributes): the cache is emptied when such an element opens
/// (its bindings are in scope for its own name) and when it closes. A tag
/// whose attributes merely mention `xmlns` empties it too, which is only
/// wasted work. Prefixes longer than 6 bytes, and elements of other
/// namespaces (whose URI is kept for messages), are resolved every time.
#[derive(Default)]
struct PrefixCache {
    /// (prefix key, namespace); at most [`PREFIX_CACHE_SIZE`].
    entries: Vec<(u64, Ns)>,
    /// Depths of the open elements that declare namespaces.
    declaring: Vec<usize>,
}

const PREFIX_CACHE_SIZE: usize = 8;

impl PrefixCache {
    /// Namespace of `element` and where its local name starts in its name.
    /// `depth`: the element's depth when it is a start tag (not `<x/>`).
    fn classify(
        &mut self,
        resolver: &NamespaceResolver,
        last_uri: &mut String,
        element: &BytesStart<'_>,
        depth: Option<usize>,
    ) -> (Ns, usize) {
        // The prefix is short: a byte search from the start finds its ':'
        // sooner than quick-xml's `decompose`, needed on a miss only.
        let name = element.name().0;
        let (prefix, local_at) = match name.bytes().position(|b| b == b':') {
            Some(colon) => (name.get(..colon), colon + 1),
            None => (None, 0),
        };
        let attributes = element.attributes_raw();
        let declares = !attributes.is_empty() && attributes.contains("xmlns");
        if declares {
            self.entries.clear();
            if let Some(depth) = depth {
                self.declaring.push(depth);
            }
        }
        let key = prefix_key(prefix);
        if let Some(&(_, ns)) = self.entries.iter().find(|(k, _)| Some(*k) == key) {
            return (ns, local_at);
        }
        let (_, prefix) = element.name().decompose();
        let resolved = resolver.resolve_prefix(prefix, true);
        let ns = Ns::classify(&resolved);
        note_uri(last_uri, ns, &resolved);
        if declares && depth.is_none() {
            // `<x xmlns:p="…"/>`: its bindings end with it.
            return (ns, local_at);
        }
        if let Some(key) = key {
            if ns != Ns::Other && self.entries.len() < PREFIX_CACHE_SIZE {
                self.entries.push((key, ns));
            }
        }
        (ns, local_at)
    }

    /// The element at `depth` closes.
    fn close(&mut self, depth: usize) {
        if self.declaring.last() == Some(&depth) {
            self.declaring.pop();
            self.entries.clear();
        }
    }
}

/// A prefix as a number, `None` when longer than 6 bytes: its length plus
/// one, then its bytes (no prefix is 0, an empty one 1).
fn prefix_key(prefix: Option<&str>) -> Option<u64> {
    match prefix {
        None => Some(0),
        Some(prefix) if prefix.len() <= 6 => {
            Some(prefix.bytes().fold(prefix.len() as u64 + 1, |key, byte| {
                key << 8 | u64::from(byte)
            }))
        }
        Some(_) => None,
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

/// A refusal found while reading an event, before its position is counted
/// (see [`Cursor::locate`]).
pub(crate) struct Unlocated(XmlError);

/// A refusal at element `path`, to be located.
fn unlocated(kind: XmlErrorKind, message: String, path: &str) -> Unlocated {
    Unlocated(located(kind, message, Pos::default(), path))
}

fn too_deep(max_depth: usize, path: &str) -> Unlocated {
    unlocated(
        XmlErrorKind::TooDeep,
        format!(
            "elements are nested more than {max_depth} levels deep: an ESPPADOM file is never that deep"
        ),
        path,
    )
}

/// Turns a quick-xml error into a refusal.
fn translate(
    error: quick_xml::Error,
    hit: Option<LimitHit>,
    limits: &Limits,
    path: &str,
) -> Unlocated {
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
    unlocated(kind, message, path)
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
    /// Where the element starts (see [`Positions::of`]).
    mark: Mark,
    pub unit_code: Option<String>,
    /// Whether the element was found in the current message (header leaves
    /// are reused from one message to the next).
    found: bool,
}

impl Leaf {
    /// The trimmed text, `None` when empty.
    pub(crate) fn value(&self) -> Option<&str> {
        let text = self.text.trim();
        (!text.is_empty()).then_some(text)
    }

    /// Empties the leaf, keeping the text's capacity.
    fn clear(&mut self) {
        self.text.clear();
        self.mark = Mark::default();
        self.unit_code = None;
        self.found = false;
    }
}

/// One message's kept values.
///
/// A reader keeps one `Scanned` and refills it for each message, so that the
/// header values' buffers are allocated once per document, not per message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scanned {
    /// One leaf per header slot; only those found are returned by
    /// [`Scanned::header`].
    header: Vec<Leaf>,
    pub groups: Vec<Vec<Option<Leaf>>>,
    /// Position of the message's start tag.
    pub start: Pos,
    /// 1-based index of the message in the document.
    pub index: usize,
    /// Local name of the message element.
    message: &'static str,
    /// Local name of the wrapper, when the message is in one.
    wrapper: Option<&'static str>,
    /// The value being read (swapped into its slot when complete).
    pending: Leaf,
}

impl Scanned {
    pub(crate) fn header(&self, index: usize) -> Option<&Leaf> {
        self.header.get(index).filter(|leaf| leaf.found)
    }

    /// Path of the message element (`/delivery/CrossIndustryDespatchAdvice[2]`),
    /// built only when a problem names it.
    pub(crate) fn path(&self) -> String {
        match self.wrapper {
            Some(wrapper) => format!("/{wrapper}/{}[{}]", self.message, self.index),
            None => format!("/{}", self.message),
        }
    }

    /// Forgets the previous message's values, keeping the buffers.
    fn reset(&mut self, header_slots: usize) {
        self.header.resize_with(header_slots, Leaf::default);
        for leaf in &mut self.header {
            leaf.found = false;
        }
        self.groups.clear();
    }
}

/// Shape of one message type: its tree and the sizes of its records.
pub(crate) struct Shape {
    pub root: &'static Node,
    pub header_slots: usize,
    pub group_slots: usize,
}

/// Reads the `listID` and `unitCode` attributes of a kept leaf (`unitCode`
/// kept; every attribute checked for well-formedness).
fn read_attributes(element: &BytesStart<'_>, leaf: &mut Leaf) -> Result<(), String> {
    if element.attributes_raw().is_empty() {
        return Ok(());
    }
    match read_attributes_fast(element, leaf) {
        Some(result) => result,
        None => {
            leaf.unit_code = None;
            read_attributes_checked(element, leaf)
        }
    }
}

/// Attributes compared for duplicates by [`read_attributes_fast`].
const FAST_ATTRIBUTES: usize = 8;

/// [`read_attributes_checked`] without quick-xml's duplicate check, which
/// allocates a key list for every tag: the keys (at most
/// [`FAST_ATTRIBUTES`]) are compared here, on the stack. `None` when the
/// tag has a duplicate, more attributes or an attribute quick-xml refuses:
/// the checked pass then gives the refusal, with quick-xml's own message.
fn read_attributes_fast(element: &BytesStart<'_>, leaf: &mut Leaf) -> Option<Result<(), String>> {
    let mut seen: [&str; FAST_ATTRIBUTES] = [""; FAST_ATTRIBUTES];
    let mut attributes = element.attributes();
    attributes.with_checks(false);
    for (index, attribute) in attributes.enumerate() {
        let attribute = attribute.ok()?;
        let key = attribute.key.0;
        if seen.get(..index)?.contains(&key) {
            return None;
        }
        *seen.get_mut(index)? = key;
        if let Err(message) = keep_attribute(&attribute, leaf) {
            return Some(Err(message));
        }
    }
    Some(Ok(()))
}

/// Every attribute through quick-xml's checked iterator (duplicates refused).
fn read_attributes_checked(element: &BytesStart<'_>, leaf: &mut Leaf) -> Result<(), String> {
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| format!("invalid attribute: {e}"))?;
        keep_attribute(&attribute, leaf)?;
    }
    Ok(())
}

/// Checks a `listID` or `unitCode` value and keeps `unitCode`.
fn keep_attribute(attribute: &Attribute<'_>, leaf: &mut Leaf) -> Result<(), String> {
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
        if key == "unitCode" {
            leaf.unit_code = Some(value.into_owned());
        }
    }
    Ok(())
}

/// Reads one message whose start tag was just read (`empty`: it was `<x/>`)
/// into `scanned` (its previous values are forgotten).
pub(crate) fn scan_message<R: BufRead>(
    cursor: &mut Cursor<R>,
    kind: MessageKind,
    shape: &Shape,
    empty: bool,
    scanned: &mut Scanned,
) -> Result<(), XmlError> {
    scanned.reset(shape.header_slots);
    cursor.located.clear_marks();
    scanned.start = cursor.event_pos();
    if empty {
        return Ok(());
    }
    let max_groups = cursor.limits().max_lines_per_message;
    let max_text = cursor.limits().max_text_bytes;
    let mut stack: Vec<Option<&'static Node>> = Vec::with_capacity(16);
    stack.push(Some(shape.root));
    // (slot, stack depth of the captured element); the value is `scanned.pending`.
    let mut capture: Option<(Slot, usize)> = None;
    loop {
        match next_event!(cursor) {
            Ev::Start {
                ns,
                element,
                empty,
                local,
            } => {
                let parent = stack.last().copied().flatten();
                let node = match parent {
                    Some(parent) if ns.is_esppadom(kind) => {
                        let local = local_name(&element, local);
                        parent.children.iter().find(|child| child.name == local)
                    }
                    _ => None,
                };
                let kept = match node {
                    Some(Node {
                        slot: Some(slot), ..
                    }) if capture.is_none() => Some(*slot),
                    _ => None,
                };
                let attributes = match kept {
                    Some(_) => {
                        scanned.pending.clear();
                        read_attributes(&element, &mut scanned.pending)
                    }
                    None => Ok(()),
                };
                drop(element);
                attributes.map_err(|m| cursor.error(XmlErrorKind::Malformed, m))?;
                if node.is_some_and(|node| node.group) {
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
                if let Some(slot) = kept {
                    scanned.pending.mark = cursor.mark();
                    if empty {
                        store(scanned, slot);
                    } else {
                        capture = Some((slot, stack.len() + 1));
                    }
                }
                if !empty {
                    stack.push(node);
                }
            }
            Ev::Text(text) => {
                if let Some((_, depth)) = capture {
                    if depth == stack.len() {
                        let text = text.content();
                        let value = &mut scanned.pending.text;
                        if value.len() + text.len() > max_text {
                            drop(text);
                            let message =
                                format!("a value is longer than the {max_text} bytes accepted");
                            return Err(cursor.error(XmlErrorKind::TooLarge, message));
                        }
                        value.push_str(&text);
                    }
                }
            }
            Ev::Skip => {}
            Ev::End => {
                if let Some((slot, depth)) = capture {
                    if depth == stack.len() {
                        capture = None;
                        store(scanned, slot);
                    }
                }
                stack.pop();
                if stack.is_empty() {
                    return Ok(());
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

/// Stores `scanned.pending` in `slot` unless the slot already has a value
/// (the first occurrence counts).
fn store(scanned: &mut Scanned, slot: Slot) {
    match slot {
        Slot::Header(index) => {
            if let Some(target) = scanned.header.get_mut(index) {
                if !target.found {
                    std::mem::swap(target, &mut scanned.pending);
                    target.found = true;
                }
            }
        }
        Slot::Group(index) => {
            let target = scanned
                .groups
                .last_mut()
                .and_then(|group| group.get_mut(index));
            if let Some(target) = target {
                if target.is_none() {
                    let mut value = std::mem::take(&mut scanned.pending);
                    value.found = true;
                    *target = Some(value);
                }
            }
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
    /// Local name of the wrapper, once read.
    wrapper: Option<&'static str>,
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
            wrapper: None,
            wrapper_version: None,
        }
    }

    fn scan(&mut self, empty: bool, scanned: &mut Scanned) -> Result<bool, XmlError> {
        self.count += 1;
        scan_message(&mut self.cursor, self.kind, self.shape, empty, scanned)?;
        scanned.index = self.count;
        scanned.message = self.kind.message();
        scanned.wrapper = self.wrapper;
        Ok(true)
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

    /// Reads the next message into `scanned`; `false` at the end of the
    /// document.
    pub(crate) fn next_message(&mut self, scanned: &mut Scanned) -> Result<bool, XmlError> {
        loop {
            match self.state {
                State::Done => return Ok(false),
                State::BeforeRoot => match next_event!(self.cursor) {
                    Ev::Start {
                        ns, element, empty, ..
                    } => {
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
                            self.wrapper = Some(self.kind.wrapper());
                            if empty {
                                self.state = State::AfterRoot;
                            } else {
                                self.state = State::InWrapper;
                            }
                        } else if local == self.kind.message() {
                            self.state = State::AfterRoot;
                            return self.scan(empty, scanned);
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
                        if !text.is_blank() {
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
                State::InWrapper => match next_event!(self.cursor) {
                    Ev::Start {
                        ns,
                        element,
                        empty,
                        local,
                    } => {
                        let is_message = local_name(&element, local) == self.kind.message();
                        drop(element);
                        if is_message {
                            if ns != Ns::Message(self.kind) {
                                let local: String = self.kind.message().to_owned();
                                return Err(self.namespace_error(ns, &local));
                            }
                            return self.scan(empty, scanned);
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
                State::AfterRoot => match next_event!(self.cursor) {
                    Ev::Eof => self.state = State::Done,
                    Ev::Skip => {}
                    Ev::Text(text) => {
                        if !text.is_blank() {
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
        match next_event!(cursor) {
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

#[cfg(test)]
mod tests {
    use super::LineCount;

    /// Newlines, and characters (non-continuation bytes) after the last one.
    fn naive(bytes: &[u8]) -> (u64, u64) {
        let newlines = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        let start = bytes
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |last| last + 1);
        let chars = bytes[start..]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count() as u64;
        (newlines, chars)
    }

    #[test]
    fn kept_leaf_attributes_are_refused_exactly_as_quick_xml_checked_iterator_refuses_them() {
        use super::{Leaf, read_attributes, read_attributes_checked};
        use quick_xml::events::BytesStart;
        let many: String = (0..12).map(|i| format!(" a{i}=\"{i}\"")).collect();
        let cases = [
            String::new(),
            r#" unitCode="HUR""#.to_owned(),
            r#" listID="L" listAgencyName="EDESS""#.to_owned(),
            r#" listID="L" listID="M""#.to_owned(),
            r#" a="1" unitCode="HUR" a="2""#.to_owned(),
            r#" p:a="1" q:a="2" unitCode="X""#.to_owned(),
            r#" unitCode="HUR" unitCode="MIN""#.to_owned(),
            r#" listID="L" bad"#.to_owned(),
            r#" listID="L" bad= "#.to_owned(),
            r#" listID="&unknown;""#.to_owned(),
            r#" unitCode="H&amp;R""#.to_owned(),
            format!(r#" listID="{}""#, "x".repeat(1025)),
            format!(r#"{many} unitCode="HUR""#),
            format!(r#"{many} a3="again""#),
            r#" a0="0" a1="1" a2="2" a3="3" a4="4" a5="5" a6="6" a7="7" a0="dup""#.to_owned(),
        ];
        for attributes in cases {
            let content = format!("ram:Leaf{attributes}");
            let element = BytesStart::from_content(content.as_str(), "ram:Leaf".len());
            let mut fast = Leaf::default();
            let mut checked = Leaf::default();
            assert_eq!(
                read_attributes(&element, &mut fast),
                read_attributes_checked(&element, &mut checked),
                "{content}"
            );
            assert_eq!(fast.unit_code, checked.unit_code, "{content}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_one_character_of_line_one_after_the_first_event() {
        // quick-xml skips the mark without handing it over in an event: the
        // first event is at 1:1, and the mark counts as one character for
        // the positions after it.
        let error = crate::xml::read_delivery("\u{FEFF}<!DOCTYPE x>".as_bytes()).unwrap_err();
        assert_eq!((error.line, error.column), (1, 1));
        let head = r#"<ns:delivery xmlns:ns="urn:un:unece:uncefact:data:standard:CrossIndustryDespatchAdvice:2">"#;
        let message = "<ns:CrossIndustryDespatchAdvice>";
        let xml = format!(
            "\u{FEFF}{head}{message}&bogus;</ns:CrossIndustryDespatchAdvice></ns:delivery>"
        );
        let error = crate::xml::read_delivery(xml.as_bytes()).unwrap_err();
        let column = 1 + 1 + (head.len() + message.len()) as u64;
        assert_eq!((error.line, error.column), (1, column), "{error}");
        let xml = format!(
            "\u{FEFF}{head}\n{message}&bogus;</ns:CrossIndustryDespatchAdvice></ns:delivery>"
        );
        let error = crate::xml::read_delivery(xml.as_bytes()).unwrap_err();
        assert_eq!(
            (error.line, error.column),
            (2, 1 + message.len() as u64),
            "{error}"
        );
    }

    /// 1-based line and column of the byte at `offset`, counted naively.
    fn naive_pos(bytes: &[u8], offset: usize) -> (u64, u64) {
        let (newlines, chars) = naive(&bytes[..offset]);
        (newlines + 1, chars + 1)
    }

    /// The sample DELIVERY with what moves positions: CRLF line ends,
    /// multi-byte characters, CDATA, references, a comment and a processing
    /// instruction inside the message, and a comment longer than the window.
    fn varied_sample() -> String {
        let sample = include_str!("../../tests/fixtures/esppadom/delivery-apa-example.xml");
        let long = "é".repeat(20_000);
        sample
            .replacen("\n", "\r\n", 12)
            .replacen(
                "<pie:Name>Alpha FICTIVE</pie:Name>",
                "<pie:Name>Ælfa 😀 &amp; <![CDATA[<b>]]>&#233;</pie:Name><!-- ü --><?pi x?>",
                1,
            )
            .replacen(
                "<ns:CIDDHExchangedDocument>",
                &format!("<!--{long}-->\n<ns:CIDDHExchangedDocument>"),
                1,
            )
    }

    #[test]
    fn refusal_positions_agree_with_a_naive_count_after_every_kind_of_event() {
        let xml = varied_sample();
        let root = xml.find("<ns:delivery").unwrap();
        let cdata = xml.find("<![CDATA[").unwrap()..=xml.find("]]>").unwrap();
        let ends: Vec<usize> = xml
            .match_indices('>')
            .map(|(at, _)| at + 1)
            .filter(|at| *at > root && !cdata.contains(at))
            .collect();
        assert!(ends.len() > 100);
        // An undeclared entity after each markup end inside the root.
        for &at in &ends {
            let mut bad = xml.clone();
            bad.insert_str(at, "&bogus;");
            let Err(error) = crate::xml::read_delivery(bad.as_bytes()) else {
                panic!(
                    "no refusal with an entity at byte {at}: {:?}",
                    &bad[at - 40..at + 20]
                );
            };
            assert_eq!(
                (error.line, error.column),
                naive_pos(bad.as_bytes(), at),
                "entity at byte {at}: {error}"
            );
        }
    }

    #[test]
    fn a_line_problem_is_located_at_the_start_tag_of_its_value_after_every_kind_of_event() {
        let xml = varied_sample().replacen(
            "<qdt:StartDateTime>2024-01-12T09:00:00",
            "<qdt:StartDateTime>2024-01-12T25:00:00",
            1,
        );
        let at = xml.find("<qdt:StartDateTime>2024-01-12T25").unwrap();
        let delivery = crate::xml::read_delivery(xml.as_bytes()).unwrap();
        let problem = delivery.lines[0].submission.problem.clone().unwrap();
        assert_eq!(
            (problem.line, problem.column),
            naive_pos(xml.as_bytes(), at),
            "{problem:?}"
        );
        let second = xml
            .match_indices("<ns:CrossIndustryDespatchAdvice>")
            .nth(1)
            .unwrap()
            .0;
        let line = &delivery.lines[1];
        assert_eq!((line.line, line.column), naive_pos(xml.as_bytes(), second));
    }

    #[test]
    fn a_line_problem_is_located_whether_its_value_was_counted_before_or_after_a_window_flush() {
        // Worker ids are checked after the scan: the first one's start was
        // counted when the window after it was flushed, the second one's
        // when the problem asked for it (and again in a later message).
        let long = format!("<!--{}-->", "é".repeat(20_000));
        let sample = include_str!("../../tests/fixtures/esppadom/delivery-apa-example.xml");
        let xml = sample
            .replacen(
                "<pie:ID>IV-0417</pie:ID>",
                &format!("<pie:ID>IV 0417</pie:ID>{long}"),
                1,
            )
            .replacen("<pie:ID>IV-0833</pie:ID>", "<pie:ID>IV 0833</pie:ID>", 1);
        let delivery = crate::xml::read_delivery(xml.as_bytes()).unwrap();
        for (index, id) in ["<pie:ID>IV 0417", "<pie:ID>IV 0833"]
            .into_iter()
            .enumerate()
        {
            let problem = delivery.lines[index].submission.problem.clone().unwrap();
            assert!(problem.message.contains("worker id"), "{problem:?}");
            let at = xml.find(id).unwrap();
            assert_eq!(
                (problem.line, problem.column),
                naive_pos(xml.as_bytes(), at),
                "{problem:?}"
            );
        }
    }

    #[test]
    fn tally_agrees_with_a_byte_by_byte_count_past_the_counter_rounds() {
        // 32 × 254 + 31 bytes fill the byte-wide counters: lengths around one and
        // two rounds, all newlines and all continuation bytes included.
        let text = "ab\né😀…\n".repeat(2000);
        let bytes = text.as_bytes();
        for length in [
            0,
            31,
            32,
            33,
            8158,
            8159,
            8160,
            8161,
            16318,
            16319,
            bytes.len(),
        ] {
            let part = &bytes[..length];
            let newlines = part.iter().filter(|&&b| b == b'\n').count() as u64;
            let continuations = part.iter().filter(|&&b| (b & 0xC0) == 0x80).count() as u64;
            assert_eq!(super::tally(part), (newlines, continuations), "{length}");
        }
        for byte in [b'\n', 0x80] {
            let same = vec![byte; 20_000];
            let (newlines, continuations) = super::tally(&same);
            assert_eq!(newlines + continuations, 20_000);
        }
    }

    #[test]
    fn start_tags_are_classified_as_quick_xml_resolves_them_whatever_the_declarations() {
        use super::{Cursor, Ev, Ns};
        use crate::xml::{Limits, NS_DELIVERY, NS_PIE, NS_QDT, NS_RAM};
        use quick_xml::NsReader;
        use quick_xml::events::Event;
        let documents = [
            // A prefix bound again inside a subtree, then back.
            format!(
                r#"<d:r xmlns:d="{NS_DELIVERY}" xmlns:r="{NS_RAM}"><r:x/><r:y xmlns:r="urn:other"><r:z/><r:w xmlns:r="{NS_PIE}"/><r:v><r:t xmlns:r="{NS_QDT}"><r:s/></r:t><r:q/></r:v></r:y><r:u/><d:m><r:k/></d:m></d:r>"#
            ),
            // Bindings of an empty element end with it.
            format!(r#"<d:r xmlns:d="{NS_DELIVERY}"><p:x xmlns:p="{NS_PIE}"/><p:y/><d:z/></d:r>"#),
            // The default namespace, undeclared and declared again.
            format!(r#"<r xmlns="{NS_RAM}"><x/><y xmlns=""><z/><w xmlns="{NS_QDT}"/></y><v/></r>"#),
            // A long prefix, an undeclared prefix, a value that mentions xmlns.
            format!(
                r#"<longprefix:a xmlns:longprefix="{NS_QDT}" note="xmlns"><longprefix:b/><u:c/><r:d xmlns:r="{NS_RAM}" other="xmlns:r"><r:e/></r:d><r:f/></longprefix:a>"#
            ),
            // Many prefixes at once, more than the cache holds.
            format!(
                r#"<a:r xmlns:a="{NS_RAM}" xmlns:b="{NS_PIE}" xmlns:c="{NS_QDT}" xmlns:d="{NS_DELIVERY}" xmlns:e="{NS_RAM}" xmlns:f="{NS_PIE}" xmlns:g="{NS_QDT}" xmlns:h="{NS_RAM}" xmlns:i="{NS_PIE}"><a:x/><b:x/><c:x/><d:x/><e:x/><f:x/><g:x/><h:x/><i:x/><i:y/><a:y/><x/></a:r>"#
            ),
        ];
        for document in &documents {
            let mut reference = NsReader::from_str(document);
            let mut expected = Vec::new();
            loop {
                match reference.read_resolved_event().unwrap() {
                    (resolved, Event::Start(_) | Event::Empty(_)) => {
                        expected.push(Ns::classify(&resolved));
                    }
                    (_, Event::Eof) => break,
                    _ => {}
                }
            }
            let mut cursor = Cursor::new(document.as_bytes(), Limits::default());
            let mut classified = Vec::new();
            loop {
                match cursor.next() {
                    Ok(Ev::Start { ns, .. }) => classified.push(ns),
                    Ok(Ev::Eof) => break,
                    Ok(_) => {}
                    Err(_) => panic!("refused: {document}"),
                }
            }
            assert_eq!(classified, expected, "{document}");
            assert!(
                expected.iter().any(|ns| matches!(ns, Ns::Other | Ns::None)),
                "{document}"
            );
        }
    }

    #[test]
    fn a_tag_of_exactly_the_token_budget_is_read_and_one_byte_more_is_refused() {
        use super::{Cursor, Ev};
        use crate::xml::{Limits, XmlErrorKind};
        let read = |xml: &str, capacity: usize, limits: Limits| {
            let input = std::io::BufReader::with_capacity(capacity, xml.as_bytes());
            let mut cursor = Cursor::new(input, limits);
            loop {
                match cursor.next() {
                    Ok(Ev::Eof) => return Ok(()),
                    Ok(_) => {}
                    Err(failure) => return Err(cursor.locate(failure)),
                }
            }
        };
        // A text ends at the next '<', which has to fit too: only tags are
        // exactly at the budget.
        let tokens = Limits {
            max_token_bytes: 16,
            ..Limits::default()
        };
        for capacity in [1, 7, 4096] {
            let fits = r#"<a b="12345678">x</a>"#;
            assert_eq!(read(fits, capacity, tokens), Ok(()), "{capacity}");
            let over = r#"<a b="123456789">x</a>"#;
            let error = read(over, capacity, tokens).unwrap_err();
            assert_eq!(error.kind, XmlErrorKind::TooLarge, "{capacity}");
            assert_eq!((error.line, error.column), (1, 1), "{capacity}");
            let document = Limits {
                max_document_bytes: fits.len() as u64,
                ..Limits::default()
            };
            assert_eq!(read(fits, capacity, document), Ok(()), "{capacity}");
            let longer = format!("{fits} ");
            let error = read(&longer, capacity, document).unwrap_err();
            assert_eq!(error.kind, XmlErrorKind::TooLarge, "{capacity}");
            assert!(error.message.contains("document"), "{error}");
        }
    }

    #[test]
    fn last_newline_finds_the_last_one_wherever_it_is() {
        for length in 0..100 {
            let mut bytes = vec![b'a'; length];
            assert_eq!(super::last_newline(&bytes), None);
            for at in 0..length {
                bytes[at] = b'\n';
                assert_eq!(super::last_newline(&bytes), Some(at), "{length} {at}");
            }
        }
    }

    #[test]
    fn line_count_agrees_with_a_byte_by_byte_count_whatever_the_chunks() {
        let text = "<a>é😀x\n\n<b>ü…</b>\r\n        une ligne assez longue pour des mots de huit octets\nJ\n\u{a0}\u{2028}fin";
        let bytes = text.as_bytes();
        for size in 1..=bytes.len() {
            let mut count = LineCount::default();
            let mut done = 0;
            for chunk in bytes.chunks(size) {
                count.count(chunk);
                done += chunk.len();
                assert_eq!(
                    (count.newlines, count.column_chars),
                    naive(&bytes[..done]),
                    "chunks of {size}, after {done} bytes"
                );
            }
        }
    }
}
