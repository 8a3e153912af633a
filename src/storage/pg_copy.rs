//! `COPY … FROM STDIN` in text format for PostgreSQL bulk writes (ingestion
//! version rows): field escaping, and one
//! helper that streams rows 1 MiB at a time and aborts the COPY on failure.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;

use super::StoreResult;

/// One field of a `COPY … FROM STDIN` text-format row: `\N` for NULL,
/// backslash, tab, newline and carriage return escaped.
pub(crate) trait CopyField {
    fn put(&self, out: &mut String);
}

impl CopyField for str {
    fn put(&self, out: &mut String) {
        for c in self.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                other => out.push(other),
            }
        }
    }
}

impl CopyField for String {
    fn put(&self, out: &mut String) {
        self.as_str().put(out);
    }
}

impl CopyField for i64 {
    fn put(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(out, "{self}");
    }
}

impl CopyField for bool {
    fn put(&self, out: &mut String) {
        out.push(if *self { 't' } else { 'f' });
    }
}

impl CopyField for DateTime<Utc> {
    fn put(&self, out: &mut String) {
        // ISO 8601 in UTC, microseconds: exactly what timestamptz keeps.
        out.push_str(&self.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    }
}

impl<T: CopyField + ?Sized> CopyField for &T {
    fn put(&self, out: &mut String) {
        (**self).put(out);
    }
}

impl<T: CopyField> CopyField for Option<T> {
    fn put(&self, out: &mut String) {
        match self {
            Some(value) => value.put(out),
            None => out.push_str("\\N"),
        }
    }
}

pub(crate) fn copy_row(out: &mut String, fields: &[&dyn CopyField]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        field.put(out);
    }
    out.push('\n');
}

/// Bytes sent per `CopyData` message (the buffer is flushed at this size).
const COPY_CHUNK: usize = 1 << 20;

/// Streams `items` into `statement` (a `COPY … FROM STDIN` in text format):
/// `write_row` appends one row per item to the buffer, which is sent every
/// [`COPY_CHUNK`] bytes. On any failure the COPY is aborted (with `what` as
/// the reason), so nothing of it is stored, and the error is returned.
pub(crate) async fn copy_in<T>(
    conn: &mut PgConnection,
    statement: &str,
    items: impl IntoIterator<Item = T>,
    mut write_row: impl FnMut(&mut String, T),
    what: &str,
) -> StoreResult<()> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut buffer = String::with_capacity(COPY_CHUNK + 4096);
    let sent: StoreResult<()> = async {
        for item in items {
            write_row(&mut buffer, item);
            if buffer.len() >= COPY_CHUNK {
                copy.send(std::mem::take(&mut buffer).into_bytes()).await?;
                buffer.reserve(COPY_CHUNK + 4096);
            }
        }
        if !buffer.is_empty() {
            copy.send(buffer.into_bytes()).await?;
        }
        Ok(())
    }
    .await;
    match sent {
        Ok(()) => {
            copy.finish().await?;
            Ok(())
        }
        Err(error) => {
            let _ = copy.abort(what).await;
            Err(error)
        }
    }
}
