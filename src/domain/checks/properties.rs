//! Property tests of the ingestion rules.
