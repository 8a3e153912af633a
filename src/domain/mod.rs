//! The rules of the gateway as pure code (../shared/spec/rules.md R1–R9).
//!
//! Nothing in this module performs I/O or knows about HTTP, SQL or XML: it
//! takes plain values (including "now" and the parameters) and returns
//! decisions. Adapters (`crate::xml`, `crate::storage`, `crate::http`) depend
//! on it, never the other way round.

pub mod checks;
pub mod ingest;
pub mod invoice_match;
pub mod model;
pub mod money;
pub mod params;
pub mod plans;
pub mod reconciliation;
pub mod time;
pub mod types;
