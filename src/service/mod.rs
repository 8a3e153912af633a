//! Application services: the use cases that tie the pure rules
//! (`crate::domain`) to storage (`crate::storage`) and the ESPPADOM adapter
//! (`crate::xml`). The HTTP routes and the demo call these; they hold no
//! rule of their own.

pub mod batches;
pub mod close;
pub mod ingest;
pub mod invoices;
pub mod plans;
pub mod receipt;
pub mod rejections;
pub mod saads;
pub mod tokens;
