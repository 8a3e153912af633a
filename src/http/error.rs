//! The one error type HTTP handlers and middlewares return, and the only
//! place that knows HTTP status codes for errors.
//!
//! Every 4xx/5xx body is `{"error": {"code", "message", "details",
//! "request_id"}}` (../shared/spec/api.md "Errors"). Codes are stable,
//! lower snake case, and listed in `docs/http.md`. 5xx bodies never carry the
//! cause: they say "internal error" (or what is unavailable) plus the request
//! id; the cause chain goes to the log, once, in
//! [`crate::http::request_context`].
//!
//! Must not import storage, XML or domain modules: conversions from their
//! errors are added here by the modules that own them, as `From` impls.

use std::error::Error as StdError;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Value, json};

/// Where a body failed to parse: 1-based line and column, and the path of the
/// field being read when it is known (`interventions[2].raw_start`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntaxLocation {
    /// What the parser said, without any of the body's content.
    #[serde(skip)]
    pub message: String,
    /// 1-based line of the error.
    pub line: u64,
    /// 1-based column of the error.
    pub column: u64,
    /// The field path (JSON pointer-like, or XML element path), if known.
    pub path: Option<String>,
}

/// The error every handler and middleware of the gateway returns.
///
/// Each variant has a stable [`code`](ApiError::code) and HTTP
/// [`status`](ResponseError::status_code).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 `unauthorized`: no `Authorization: Bearer` header, or a token the
    /// gateway does not know (or that was revoked).
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// 403 `forbidden`: the token is valid but its role may not call this route.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`: no such route, or no such resource visible to the caller.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// 409 `conflict`: an action out of order, or a replay with a different body.
    #[error("{message}")]
    Conflict {
        /// What conflicts, in words.
        message: String,
        /// Machine-readable detail, if any.
        details: Option<Value>,
    },
    /// 413 `payload_too_large`: the body is over the route's limit.
    #[error("request body is over the limit of {limit_bytes} bytes")]
    PayloadTooLarge {
        /// The limit that applied, in bytes (0 when unknown).
        limit_bytes: usize,
    },
    /// 415 `unsupported_media_type`: a `Content-Type` the route does not take.
    #[error("unsupported content type; this route takes {}", .accepted.join(", "))]
    UnsupportedMediaType {
        /// The media types the route accepts.
        accepted: Vec<String>,
    },
    /// 400 `invalid_json`: the body is not well-formed JSON or does not match
    /// the expected shape.
    #[error("invalid JSON: {}", .0.message)]
    InvalidJson(SyntaxLocation),
    /// 400 `invalid_xml`: the body is not well-formed XML or does not match
    /// the expected message.
    #[error("invalid XML: {}", .0.message)]
    InvalidXml(SyntaxLocation),
    /// 400 or 422 `invalid_request`: a well-formed request the gateway cannot
    /// act on (a bad query parameter, inconsistent header and body…).
    #[error("{message}")]
    InvalidRequest {
        /// 400 (malformed request) or 422 (well-formed but unprocessable).
        status: StatusCode,
        /// What is wrong, in words.
        message: String,
        /// Machine-readable detail, if any.
        details: Option<Value>,
    },
    /// 429 `rate_limited`, with `Retry-After` in whole seconds (rounded up).
    #[error("too many requests; retry after {retry_after_seconds} s")]
    RateLimited {
        /// Seconds to wait before the next request can pass.
        retry_after_seconds: u64,
    },
    /// 501 `not_implemented`: the route is part of the contract but not built
    /// yet. Never answer fake data instead.
    #[error("{0}")]
    NotImplemented(String),
    /// 503 `unavailable`, with `Retry-After`: a dependency (the database) does
    /// not answer. The cause is logged, not sent.
    #[error("service unavailable: {what}")]
    Unavailable {
        /// What is unavailable, in words a client may see ("database").
        what: String,
        /// Seconds after which retrying makes sense.
        retry_after_seconds: u64,
        /// The cause, for the log only.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// 507 `insufficient_storage`: the database has no space left (SQLite
    /// `SQLITE_FULL`, PostgreSQL `disk_full`). Nothing of the request was
    /// stored; an operator must free space. The cause is logged, not sent.
    #[error("insufficient storage")]
    InsufficientStorage {
        /// The cause, for the log only.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// 500 `internal`: a bug or an unexpected failure. The cause is logged,
    /// never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn StdError + Send + Sync>),
}

/// The body of every error response.
#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: ErrorObject<'a>,
}

#[derive(Debug, Serialize)]
struct ErrorObject<'a> {
    code: &'static str,
    message: String,
    details: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl ApiError {
    /// `forbidden` with the given message.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    /// `not_found` with the given message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// `conflict` without details.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::Conflict {
            message: message.into(),
            details: None,
        }
    }

    /// `invalid_request` with status 400.
    pub fn bad_request(message: impl Into<String>, details: Option<Value>) -> Self {
        Self::InvalidRequest {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            details,
        }
    }

    /// `invalid_request` with status 422.
    pub fn unprocessable(message: impl Into<String>, details: Option<Value>) -> Self {
        Self::InvalidRequest {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            details,
        }
    }

    /// `unsupported_media_type` naming what the route accepts.
    pub fn unsupported_media_type(accepted: &[&str]) -> Self {
        Self::UnsupportedMediaType {
            accepted: accepted.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// `unavailable` because the ingestion queue is full (nothing of the
    /// request was stored): retry after a second.
    pub fn ingestion_overloaded(source: impl StdError + Send + Sync + 'static) -> Self {
        Self::Unavailable {
            what: "ingestion (queue full)".to_owned(),
            retry_after_seconds: 1,
            source: Some(Box::new(source)),
        }
    }

    /// `unavailable` for the database, keeping the cause for the log.
    pub fn database_unavailable(source: impl StdError + Send + Sync + 'static) -> Self {
        Self::Unavailable {
            what: "database".to_owned(),
            retry_after_seconds: 5,
            source: Some(Box::new(source)),
        }
    }

    /// `insufficient_storage` for a full database, keeping the cause for the log.
    pub fn database_full(source: impl StdError + Send + Sync + 'static) -> Self {
        Self::InsufficientStorage {
            source: Some(Box::new(source)),
        }
    }

    /// `internal`, keeping the cause for the log.
    pub fn internal(source: impl StdError + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(source))
    }

    /// `internal` from a message (for invariants that do not hold).
    pub fn internal_message(message: impl Into<String>) -> Self {
        Self::Internal(message.into().into())
    }

    /// `invalid_json` from a `serde_json` error: line and column as serde
    /// reports them, and the field path when the caller knows it.
    pub fn from_json_error(error: &serde_json::Error, path: Option<String>) -> Self {
        Self::InvalidJson(SyntaxLocation {
            message: json_error_message(error),
            // serde_json counts both from 1, except at the very start of a
            // line (an empty body, or one cut after a newline) where it says
            // column 0: the contract's positions are 1-based.
            line: u64::try_from(error.line()).unwrap_or(u64::MAX).max(1),
            column: u64::try_from(error.column()).unwrap_or(u64::MAX).max(1),
            path,
        })
    }

    /// The error for a given status when nothing more is known (actix's own
    /// errors: unknown route, wrong method, payload errors…).
    pub fn from_status(status: StatusCode) -> Self {
        match status {
            StatusCode::UNAUTHORIZED => Self::Unauthorized,
            StatusCode::FORBIDDEN => Self::forbidden("forbidden"),
            StatusCode::NOT_FOUND => Self::not_found("no such route or resource"),
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::CONFLICT => Self::conflict("conflict"),
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge { limit_bytes: 0 },
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType {
                accepted: Vec::new(),
            },
            StatusCode::TOO_MANY_REQUESTS => Self::RateLimited {
                retry_after_seconds: 1,
            },
            StatusCode::NOT_IMPLEMENTED => Self::NotImplemented("not implemented".to_owned()),
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable {
                what: "service".to_owned(),
                retry_after_seconds: 5,
                source: None,
            },
            StatusCode::INSUFFICIENT_STORAGE => Self::InsufficientStorage { source: None },
            s if s.is_client_error() => Self::InvalidRequest {
                status: s,
                message: s
                    .canonical_reason()
                    .unwrap_or("invalid request")
                    .to_lowercase(),
                details: None,
            },
            _ => Self::internal_message(format!("unexpected status {status}")),
        }
    }

    /// The stable machine code of this error (lower snake case).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict { .. } => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::InvalidJson(_) => "invalid_json",
            Self::InvalidXml(_) => "invalid_xml",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::RateLimited { .. } => "rate_limited",
            Self::NotImplemented(_) => "not_implemented",
            Self::Unavailable { .. } => "unavailable",
            Self::InsufficientStorage { .. } => "insufficient_storage",
            Self::Internal(_) => "internal",
        }
    }

    /// The `details` member of the body (`null` when there are none).
    pub fn details(&self) -> Value {
        match self {
            Self::InvalidJson(location) | Self::InvalidXml(location) => json!({
                "line": location.line,
                "column": location.column,
                "path": location.path,
            }),
            Self::Conflict { details, .. } | Self::InvalidRequest { details, .. } => {
                details.clone().unwrap_or(Value::Null)
            }
            Self::PayloadTooLarge { limit_bytes } if *limit_bytes > 0 => {
                json!({ "limit_bytes": limit_bytes })
            }
            Self::UnsupportedMediaType { accepted } if !accepted.is_empty() => {
                json!({ "accepted": accepted })
            }
            Self::RateLimited {
                retry_after_seconds,
            }
            | Self::Unavailable {
                retry_after_seconds,
                ..
            } => json!({ "retry_after_seconds": retry_after_seconds }),
            _ => Value::Null,
        }
    }

    /// The human message of the body. For 5xx it never contains the cause.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "internal error".to_owned(),
            Self::Unavailable { what, .. } => format!("{what} unavailable, retry later"),
            Self::InsufficientStorage { .. } => "the database has no space left: nothing of this \
                 request was stored; retry once an operator has freed disk space"
                .to_owned(),
            other => other.to_string(),
        }
    }

    /// Seconds for the `Retry-After` header, for the variants that carry one.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Self::RateLimited {
                retry_after_seconds,
            }
            | Self::Unavailable {
                retry_after_seconds,
                ..
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }

    /// Renders the response, with the request id inside `error` when known.
    pub fn render(&self, request_id: Option<&str>) -> HttpResponse {
        let status = self.status_code();
        let body = ErrorBody {
            error: ErrorObject {
                code: self.code(),
                message: self.public_message(),
                details: self.details(),
                request_id,
            },
        };
        let mut response = HttpResponse::build(status);
        if let Some(seconds) = self.retry_after_seconds() {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        if matches!(self, Self::Unauthorized) {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"saad-gateway\""),
            ));
        }
        response.json(body)
    }

    /// An owned copy of this error; causes are kept as text (for the log).
    pub fn detached(&self) -> Self {
        let cause = || -> Option<Box<dyn StdError + Send + Sync>> {
            self.source().map(|_| self.cause_chain().into())
        };
        match self {
            Self::Unauthorized => Self::Unauthorized,
            Self::Forbidden(m) => Self::Forbidden(m.clone()),
            Self::NotFound(m) => Self::NotFound(m.clone()),
            Self::MethodNotAllowed => Self::MethodNotAllowed,
            Self::Conflict { message, details } => Self::Conflict {
                message: message.clone(),
                details: details.clone(),
            },
            Self::PayloadTooLarge { limit_bytes } => Self::PayloadTooLarge {
                limit_bytes: *limit_bytes,
            },
            Self::UnsupportedMediaType { accepted } => Self::UnsupportedMediaType {
                accepted: accepted.clone(),
            },
            Self::InvalidJson(location) => Self::InvalidJson(location.clone()),
            Self::InvalidXml(location) => Self::InvalidXml(location.clone()),
            Self::InvalidRequest {
                status,
                message,
                details,
            } => Self::InvalidRequest {
                status: *status,
                message: message.clone(),
                details: details.clone(),
            },
            Self::RateLimited {
                retry_after_seconds,
            } => Self::RateLimited {
                retry_after_seconds: *retry_after_seconds,
            },
            Self::NotImplemented(m) => Self::NotImplemented(m.clone()),
            Self::Unavailable {
                what,
                retry_after_seconds,
                ..
            } => Self::Unavailable {
                what: what.clone(),
                retry_after_seconds: *retry_after_seconds,
                source: cause(),
            },
            Self::InsufficientStorage { .. } => Self::InsufficientStorage { source: cause() },
            Self::Internal(_) => Self::Internal(self.cause_chain().into()),
        }
    }

    /// The whole `source()` chain, for the log.
    pub fn cause_chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = self.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::InvalidJson(_) | Self::InvalidXml(_) => StatusCode::BAD_REQUEST,
            Self::InvalidRequest { status, .. } => *status,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::InsufficientStorage { .. } => StatusCode::INSUFFICIENT_STORAGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        self.render(None)
    }
}

/// serde_json's message without its trailing " at line L column C" (those
/// are in `details`), and never quoting the body.
fn json_error_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(index) => text[..index].to_owned(),
        None => text,
    }
}

/// Parses a JSON body into `T`, reporting line, column and field path on
/// failure as `invalid_json`. Routes that read `web::Bytes` use this rather
/// than `web::Json` when the path matters to the client.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let path = (path != ".").then_some(path);
        ApiError::from_json_error(error.inner(), path)
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::from_json_error(&error, None))?;
    Ok(value)
}

/// Maps actix's JSON extractor errors to our codes; installed as the
/// `web::JsonConfig` error handler by [`crate::http::server`].
pub fn json_payload_error(error: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::{JsonPayloadError, PayloadError};
    match error {
        JsonPayloadError::Deserialize(inner) => ApiError::from_json_error(&inner, None),
        JsonPayloadError::Serialize(inner) => ApiError::internal(inner),
        JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit_bytes: limit },
        JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge { limit_bytes: limit }
        }
        JsonPayloadError::ContentType => ApiError::unsupported_media_type(&["application/json"]),
        JsonPayloadError::Payload(PayloadError::Overflow) => {
            ApiError::PayloadTooLarge { limit_bytes: 0 }
        }
        JsonPayloadError::Payload(other) => {
            ApiError::bad_request(format!("could not read the request body: {other}"), None)
        }
        other => ApiError::bad_request(format!("invalid JSON body: {other}"), None),
    }
}

impl fmt::Display for SyntaxLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (line {}, column {})",
            self.message, self.line, self.column
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialised")]
    struct Sample {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[expect(dead_code, reason = "only deserialised")]
    struct Item {
        minutes: u32,
    }

    #[test]
    fn parse_json_reports_line_column_and_path_of_a_wrong_field() {
        let body = b"{\"items\": [\n {\"minutes\": 3},\n {\"minutes\": \"x\"}]}";
        let error = parse_json::<Sample>(body).err();
        let Some(ApiError::InvalidJson(location)) = error else {
            panic!("expected invalid_json, got {error:?}");
        };
        assert_eq!(location.line, 3);
        assert_eq!(location.path.as_deref(), Some("items[1].minutes"));
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let error = ApiError::internal_message("secret table missing");
        assert_eq!(error.public_message(), "internal error");
        assert!(error.cause_chain().contains("secret table missing"));
    }

    #[test]
    fn every_status_maps_to_a_lower_snake_code() {
        for status in [
            400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 501, 503, 507,
        ] {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT);
            let error = ApiError::from_status(status);
            assert_eq!(error.status_code(), status);
            assert!(
                error
                    .code()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
    }
}
