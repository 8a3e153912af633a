//! Reliability and security suite (issue 8, docs/reliability.md): hostile
//! input, SAAD isolation, faults (database stopped, SIGKILL, disk full),
//! two gateways on one database, and log hygiene. The real gateway over
//! HTTPS, in-process (`helpers::spawn_app`) or as the real binary
//! (`process::Gateway`).

mod bad_input;
mod concurrency;
mod faults;
#[path = "../api/helpers.rs"]
mod helpers;
mod hygiene;
mod isolation;
mod process;
mod snapshot;
mod world;
