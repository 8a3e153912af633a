//! A stable textual fingerprint of a submitted line's content (R2: re-sending
//! identical content is idempotent).

use std::fmt::Write;

use crate::domain::model::{InterventionSubmission, LineAction};
use crate::domain::time::Stamp;

/// Version tag of the fingerprint format: a new format must not compare
/// equal to an old one.
const FORMAT: &str = "fp1";

/// The canonical text of every field the rules read, as sent.
///
/// Two submissions with the same fingerprint are "identical content"
/// (docs/rules-ingestion.md): same line id, action, plan reference,
/// beneficiary id, worker id, aid type, raw and corrected stamps (compared
/// as the instants they designate, so `09:00` local and `08:00Z` in winter
/// are the same), correction reason, effective declarative flag and
/// timesheet reference. Reader warnings and problems are not content.
/// Each field is written `name=<length>:<text>;` (or `name=-;` when absent),
/// so that no value can be confused with another whatever it contains.
pub fn submission_fingerprint(line: &InterventionSubmission, declarative: bool) -> String {
    let action = match line.action {
        LineAction::Count => "count",
        LineAction::StampsOnly => "stamps_only",
        LineAction::Withdraw => "withdraw",
    };
    let stamp = |s: &Option<Stamp>| {
        s.map(|s| {
            s.resolve_alone()
                .map(|instant| instant.to_rfc3339())
                .unwrap_or_else(|| format!("local:{s}"))
        })
    };
    let fields: [(&str, Option<String>); 13] = [
        ("line_id", Some(line.line_id.clone())),
        ("action", Some(action.to_owned())),
        ("plan_ref", line.plan_ref.clone()),
        ("beneficiary_id", Some(line.beneficiary_id.clone())),
        (
            "worker_id",
            line.worker_id.as_ref().map(|w| w.as_str().to_owned()),
        ),
        ("aid_type", line.aid_type.clone()),
        ("raw_start", stamp(&line.raw_start)),
        ("raw_end", stamp(&line.raw_end)),
        ("corrected_start", stamp(&line.corrected_start)),
        ("corrected_end", stamp(&line.corrected_end)),
        ("correction_reason", line.correction_reason.clone()),
        ("declarative", Some(declarative.to_string())),
        ("timesheet_ref", line.timesheet_ref.clone()),
    ];
    let mut text = String::from(FORMAT);
    text.push(';');
    for (name, value) in fields {
        // Writing to a String cannot fail.
        let _ = match value {
            Some(value) => write!(text, "{name}={}:{value};", value.len()),
            None => write!(text, "{name}=-;"),
        };
    }
    text
}
