//! saad-gateway: the département side of home-care telemanagement.
//!
//! Layout (dependencies point inward, towards `domain`):
//! - [`domain`]: the rules of ../shared/spec/rules.md as pure functions over
//!   plain data (no I/O);
//! - [`exports`]: the payment-batch files (liquidation CSV, PES V2, pain.001)
//!   as pure functions from a batch to bytes;
//! - [`charter`]: loads the dated parameters of `charter/` into the domain's
//!   `Parameters`;
//! - [`http`]: the actix-web adapter (TLS, auth, rate limits, errors, metrics);
//! - [`xml`]: the ESPPADOM adapter (DELIVERY, ORDER, INVOICE readers and
//!   writers, `inspect`);
//! - [`storage`]: sqlx storage on SQLite (default) and PostgreSQL;
//! - [`service`]: the use cases tying rules, storage and adapters together;
//! - [`cli`], [`telemetry`]: the binary's command line and logging.
#![forbid(unsafe_code)]

pub mod charter;
pub mod cli;
pub mod demo;
pub mod domain;
pub mod exports;
pub mod http;
pub mod service;
pub mod storage;
pub mod telemetry;
pub mod web;
pub mod xml;
