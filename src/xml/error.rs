//! The reader's refusals ([`XmlError`]) and the bounds it enforces ([`Limits`]).
//!
//! An [`XmlError`] refuses a whole document (rules.md "ESPPADOM mapping":
//! malformed XML, a DTD, an unknown message namespace, a missing intervention
//! id). A problem limited to one intervention is not an error but a
//! [`MessageProblem`](crate::domain::model::MessageProblem) on that line.

use serde::Serialize;

/// Why a whole document is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XmlErrorKind {
    /// Not well-formed XML (syntax, unclosed or mismatched tags, bad attributes).
    Malformed,
    /// Bytes that are not UTF-8, or a declared encoding other than UTF-8.
    Encoding,
    /// A `<!DOCTYPE …>` (DTDs, hence entity declarations, are refused).
    Dtd,
    /// A reference to an entity other than the five predefined ones.
    Entity,
    /// The root or a message is not in an accepted ESPPADOM namespace.
    Namespace,
    /// The root element is not an ESPPADOM wrapper or message of the kind expected.
    UnexpectedRoot,
    /// Elements nested deeper than [`Limits::max_depth`].
    TooDeep,
    /// The document, one element, one text or the number of lines exceeds a limit.
    TooLarge,
    /// A message without its identifier (DELIVERY: `CIDDHExchangedDocument/ID`).
    MissingId,
    /// The input could not be read (I/O).
    Io,
}

/// A refusal of the whole document, located in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message} (element {path}, line {line}, column {column})")]
pub struct XmlError {
    /// What went wrong, for tests and error codes.
    pub kind: XmlErrorKind,
    /// What was wrong, in words a SAAD's office can act on.
    pub message: String,
    /// Path of the element where it was found (local names, no prefixes);
    /// `/` before the root.
    pub path: String,
    /// 1-based line.
    pub line: u64,
    /// 1-based column (in characters).
    pub column: u64,
}

/// Bounds on what a reader accepts; no input makes it allocate beyond them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Deepest element nesting accepted (the ESPPADOM trees are about 10 deep).
    pub max_depth: usize,
    /// Longest single piece of markup or text: a start tag with its
    /// attributes, a text node, a comment (bytes).
    pub max_token_bytes: u64,
    /// Longest value kept for one element (bytes, after entity resolution).
    pub max_text_bytes: usize,
    /// Largest document (bytes); callers set it from their body limit.
    pub max_document_bytes: u64,
    /// Most line items read in one ORDER or INVOICE message.
    pub max_lines_per_message: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 64,
            max_token_bytes: 64 * 1024,
            max_text_bytes: 64 * 1024,
            max_document_bytes: 512 * 1024 * 1024,
            max_lines_per_message: 10_000,
        }
    }
}

/// A 1-based position in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: u64,
    pub column: u64,
}
