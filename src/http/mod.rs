//! HTTP adapter (actix-web): the server skeleton that route modules plug
//! into. See `docs/http.md` for the whole picture.
//!
//! - [`error`]: [`ApiError`], the one error type of handlers, and the JSON
//!   error shape of ../shared/spec/api.md;
//! - [`tls`]: rustls configuration, self-signed certificate generation;
//! - [`auth`]: bearer tokens, [`auth::Principal`], [`auth::TokenLookup`];
//! - [`rate_limit`]: per-IP and per-token limits over `governor`;
//! - [`clock`]: the gateway's "now" and `POST /api/v1/admin/clock`;
//! - [`metrics`], [`health`]: `GET /metrics`, `GET /healthz`;
//! - [`request_context`]: request id and error shaping for every response;
//! - [`server`]: `Server::build`, the application and its middlewares.
//!
//! This module may use `domain`; it must not reach into storage, XML or
//! export internals: what it needs from storage comes through the
//! [`auth::TokenLookup`] and [`health::HealthCheck`] traits.

pub mod auth;
pub mod clock;
pub mod error;
pub mod health;
pub mod metrics;
pub mod rate_limit;
pub mod request_context;
pub mod server;
pub mod tls;

pub use error::ApiError;
pub use server::{RunningServer, Server, ServerConfig, ServerDeps, not_built_yet};
