//! The routes of ../shared/spec/api.md, relative to `/api/v1`.
//!
//! One module per resource. A route of the contract that is not built yet
//! would be registered with [`crate::http::not_built_yet`] and answer 501:
//! never fake data.
//! Registration uses `web::resource(..)` so that a wrong method answers 405.
//! `POST /api/v1/admin/clock` is mounted by the server itself.

use actix_web::http::Method;
use actix_web::web;
use chrono::Datelike;
use serde_json::json;

use super::error::{ApiError, parse_json};
use super::server::{API_PREFIX, SERVER_ROUTES};
use crate::domain::params::ParameterError;
use crate::storage::StoreError;

mod deliveries;
pub(crate) mod rejections;

pub mod audit;
mod batches;
mod events;
mod invoices;
mod media;
mod months;
mod orders;
mod overruns;
mod saads;

/// One route of the contract: its method, its path relative to `/api/v1`,
/// and the handler it is served by. [`ROUTES`] is the one list both
/// [`configure`] registers and the OpenAPI test (`tests/api/openapi.rs`)
/// compares with `schemas/openapi.yaml`.
pub struct RouteSpec {
    /// HTTP method.
    pub method: Method,
    /// Path pattern relative to `/api/v1` (actix syntax, `{name}` segments).
    pub path: &'static str,
    /// Attaches the handler to a route already guarded by `method`.
    handler: fn(actix_web::Route) -> actix_web::Route,
}

/// Every `/api/v1` route of the contract, in registration order. Paths
/// served by one pattern with suffixes (`/invoices/{id}.xml`,
/// `/batches/{id}.csv`…) are the same route here: the handler reads the
/// suffix.
pub static ROUTES: &[RouteSpec] = &[
    // Financer data in, SAAD orders out.
    RouteSpec {
        method: Method::POST,
        path: "/saads",
        handler: |r| r.to(saads::post_saad),
    },
    RouteSpec {
        method: Method::POST,
        path: "/orders",
        handler: |r| r.to(orders::post_orders),
    },
    RouteSpec {
        method: Method::GET,
        path: "/orders",
        handler: |r| r.to(orders::get_orders),
    },
    RouteSpec {
        method: Method::POST,
        path: "/events",
        handler: |r| r.to(events::post_events),
    },
    RouteSpec {
        method: Method::POST,
        path: "/overrun-authorisations",
        handler: |r| r.to(overruns::post_overrun_authorisation),
    },
    // Deliveries and rejection notices.
    RouteSpec {
        method: Method::POST,
        path: "/deliveries",
        handler: |r| r.to(deliveries::post_delivery),
    },
    RouteSpec {
        method: Method::GET,
        path: "/rejections",
        handler: |r| r.to(rejections::get_rejections),
    },
    // Month close, invoices and batches.
    RouteSpec {
        method: Method::POST,
        path: "/months/{month}/close",
        handler: |r| r.to(months::close),
    },
    RouteSpec {
        method: Method::GET,
        path: "/invoices",
        handler: |r| r.to(invoices::list),
    },
    RouteSpec {
        method: Method::POST,
        path: "/invoices",
        handler: |r| r.to(invoices::post_saad_invoice),
    },
    RouteSpec {
        method: Method::GET,
        path: "/invoices/{id}",
        handler: |r| r.to(invoices::get),
    },
    RouteSpec {
        method: Method::POST,
        path: "/invoices/{id}/validate",
        handler: |r| r.to(invoices::validate),
    },
    RouteSpec {
        method: Method::GET,
        path: "/batches",
        handler: |r| r.to(batches::list),
    },
    RouteSpec {
        method: Method::POST,
        path: "/batches",
        handler: |r| r.to(batches::create),
    },
    RouteSpec {
        method: Method::GET,
        path: "/batches/{id}",
        handler: |r| r.to(batches::get),
    },
];

/// Registers every route of [`ROUTES`]: one `web::resource` per path with
/// all its methods, so that a wrong method answers 405.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for spec in ROUTES {
        if !paths.contains(&spec.path) {
            paths.push(spec.path);
        }
    }
    for path in paths {
        let resource = ROUTES.iter().filter(|spec| spec.path == path).fold(
            web::resource(path),
            |resource, spec| {
                resource.route((spec.handler)(web::route().method(spec.method.clone())))
            },
        );
        cfg.service(resource);
    }
}

/// Every `(method, full path)` the gateway serves: the server's own routes
/// ([`crate::http::server::SERVER_ROUTES`]) and [`ROUTES`] under `/api/v1`.
pub fn gateway_routes() -> Vec<(String, String)> {
    let own = SERVER_ROUTES
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()));
    let api = ROUTES.iter().map(|spec| {
        (
            spec.method.to_string(),
            format!("{API_PREFIX}{}", spec.path),
        )
    });
    own.chain(api).collect()
}

/// How a storage failure answers, for every route:
///
/// - the database does not answer (pool timed out or closed, connection
///   refused, I/O error, SQLite busy/locked/`SQLITE_IOERR`/`SQLITE_CANTOPEN`,
///   PostgreSQL connection exceptions): 503 `unavailable` with `Retry-After`;
/// - the database is full (SQLite `SQLITE_FULL`, PostgreSQL `disk_full`):
///   507 `insufficient_storage`;
/// - a missing record: 404; a refused write: 409;
/// - anything else: 500 `internal` (cause logged, never sent).
pub(crate) fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Unavailable(_) => ApiError::database_unavailable(error),
        StoreError::NotFound => ApiError::not_found("not found"),
        StoreError::Conflict(_) => ApiError::conflict("the request conflicts with stored data"),
        StoreError::Other { .. } => match database_condition(&error) {
            Some(DatabaseCondition::Full) => ApiError::database_full(error),
            Some(DatabaseCondition::Unreachable) => ApiError::database_unavailable(error),
            None => ApiError::internal(error),
        },
    }
}

/// A database failure the client should hear about as such, not as a 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DatabaseCondition {
    /// No space left.
    Full,
    /// Cannot be reached or read right now.
    Unreachable,
}

/// Looks for a `sqlx::Error` in the cause chain and classifies it.
fn database_condition(error: &StoreError) -> Option<DatabaseCondition> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(current) = cause {
        if let Some(sqlx_error) = current.downcast_ref::<sqlx::Error>() {
            return classify_sqlx(sqlx_error);
        }
        if current.downcast_ref::<std::io::Error>().is_some() {
            return Some(DatabaseCondition::Unreachable);
        }
        cause = current.source();
    }
    None
}

fn classify_sqlx(error: &sqlx::Error) -> Option<DatabaseCondition> {
    match error {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            Some(DatabaseCondition::Full)
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Some(DatabaseCondition::Unreachable),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let postgres = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some();
            classify_database_code(&code, postgres)
        }
        _ => None,
    }
}

/// SQLite result codes (sqlx reports the extended code; its low byte is the
/// primary one) and PostgreSQL SQLSTATEs.
fn classify_database_code(code: &str, postgres: bool) -> Option<DatabaseCondition> {
    const SQLITE_BUSY: i64 = 5;
    const SQLITE_LOCKED: i64 = 6;
    const SQLITE_IOERR: i64 = 10;
    const SQLITE_FULL: i64 = 13;
    const SQLITE_CANTOPEN: i64 = 14;
    if !postgres {
        let extended = code.parse::<i64>().unwrap_or_default();
        return match extended & 0xff {
            SQLITE_FULL => Some(DatabaseCondition::Full),
            SQLITE_BUSY | SQLITE_LOCKED | SQLITE_IOERR | SQLITE_CANTOPEN => {
                Some(DatabaseCondition::Unreachable)
            }
            _ => None,
        };
    }
    match code {
        // disk_full, insufficient_resources, out_of_memory
        "53100" => Some(DatabaseCondition::Full),
        // too_many_connections, admin_shutdown, crash_shutdown,
        // cannot_connect_now, lock_not_available
        "53300" | "57P01" | "57P02" | "57P03" | "55P03" => Some(DatabaseCondition::Unreachable),
        _ if code.starts_with("08") => Some(DatabaseCondition::Unreachable),
        _ => None,
    }
}

/// How a charter gap answers: a value the rules need is not in force on the
/// day asked (a plan, a line or a month in a year `charter/` does not cover
/// yet) → 422 `invalid_request` naming the parameter, the day and the year,
/// and how to fix it. Any other charter fault is caught when the charter is
/// loaded, so reaching it here is a bug (500).
pub(crate) fn charter_error(error: ParameterError) -> ApiError {
    match &error {
        ParameterError::NotInForce { key, day } => ApiError::unprocessable(
            format!(
                "the charter has no value of parameter '{key}' in force on {day} (year {}): \
                 nothing was stored; the financer must add a period covering {} to the \
                 charter/ folder and restart the gateway, then the request can be sent again",
                day.year(),
                day.year()
            ),
            Some(json!({
                "parameter": key,
                "day": day.to_string(),
                "year": day.year(),
            })),
        ),
        ParameterError::Missing(key) => ApiError::unprocessable(
            format!(
                "the charter does not define parameter '{key}', which this request needs: \
                 nothing was stored; the financer must add it to the charter/ folder and \
                 restart the gateway"
            ),
            Some(json!({ "parameter": key })),
        ),
        _ => ApiError::internal(error),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::ResponseError;
    use actix_web::http::StatusCode;
    use chrono::NaiveDate;
    use sqlx::Connection;

    use super::*;

    #[tokio::test]
    async fn a_full_sqlite_database_answers_507_not_500() -> Result<(), Box<dyn std::error::Error>>
    {
        let mut db = sqlx::SqliteConnection::connect("sqlite::memory:").await?;
        sqlx::query("CREATE TABLE t (b BLOB)")
            .execute(&mut db)
            .await?;
        let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
            .fetch_one(&mut db)
            .await?;
        sqlx::query(&format!("PRAGMA max_page_count = {}", pages + 1))
            .execute(&mut db)
            .await?;
        let mut failure = None;
        for _ in 0..64 {
            if let Err(error) = sqlx::query("INSERT INTO t VALUES (zeroblob(4096))")
                .execute(&mut db)
                .await
            {
                failure = Some(error);
                break;
            }
        }
        let Some(failure) = failure else {
            panic!("the database never filled up")
        };
        let api = store_error(StoreError::from(failure));
        assert_eq!(api.status_code(), StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(api.code(), "insufficient_storage");
        assert!(api.public_message().contains("no space left"));
        Ok(())
    }

    #[tokio::test]
    async fn a_database_that_refuses_connections_answers_503_with_retry_after()
    -> Result<(), Box<dyn std::error::Error>> {
        // Port 1 on the loopback: nothing listens, the connection is refused.
        let pool = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy("postgres://postgres@127.0.0.1:1/none")?;
        let Err(failure) = sqlx::query("SELECT 1").execute(&pool).await else {
            panic!("a query on a closed port succeeded")
        };
        let api = store_error(StoreError::from(failure));
        assert_eq!(api.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.code(), "unavailable");
        let response = api.render(Some("req-1"));
        assert!(response.headers().contains_key("retry-after"));
        Ok(())
    }

    #[test]
    fn a_pool_timeout_answers_503() {
        let api = store_error(StoreError::from(sqlx::Error::PoolTimedOut));
        assert_eq!(api.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(api.retry_after_seconds(), Some(5));
    }

    #[test]
    fn an_io_error_under_a_storage_error_answers_503() {
        let error = StoreError::Other {
            what: "reading a page".to_owned(),
            source: Some(Box::new(std::io::Error::other("disk unplugged"))),
        };
        assert_eq!(
            store_error(error).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn database_codes_are_classified_by_their_primary_code_or_sqlstate() {
        use DatabaseCondition::{Full, Unreachable};
        let cases = [
            ("13", false, Some(Full)),
            ("53100", true, Some(Full)),
            ("10", false, Some(Unreachable)),
            ("266", false, Some(Unreachable)), // SQLITE_IOERR_READ
            ("517", false, Some(Unreachable)), // SQLITE_BUSY_SNAPSHOT
            ("14", false, Some(Unreachable)),
            ("08006", true, Some(Unreachable)),
            ("57P01", true, Some(Unreachable)),
            ("2067", false, None), // SQLITE_CONSTRAINT_UNIQUE: not a database condition
            ("42P01", true, None),
        ];
        for (code, postgres, expected) in cases {
            assert_eq!(
                classify_database_code(code, postgres),
                expected,
                "code {code}"
            );
        }
    }

    #[test]
    fn other_storage_failures_stay_500_and_hide_their_cause() {
        let api = store_error(StoreError::corrupt("plan row 12"));
        assert_eq!(api.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(api.public_message(), "internal error");
    }

    #[test]
    fn a_parameter_not_in_force_answers_422_naming_parameter_and_year() {
        let day = NaiveDate::from_ymd_opt(2031, 3, 1).unwrap_or_default();
        let api = charter_error(ParameterError::NotInForce {
            key: "apa.rounding".to_owned(),
            day,
        });
        assert_eq!(api.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        let message = api.public_message();
        assert!(message.contains("apa.rounding"), "{message}");
        assert!(message.contains("2031"), "{message}");
        assert!(message.contains("charter/"), "{message}");
        assert_eq!(api.details()["year"], 2031);
        assert_eq!(api.details()["parameter"], "apa.rounding");
    }
}

/// A JSON body a route reads (for [`read_json_body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonBody {
    /// `POST /saads`.
    Saad,
    /// `POST /orders` (JSON).
    Plans,
    /// `POST /events`.
    Events,
    /// `POST /overrun-authorisations`.
    Authorisation,
    /// `POST /deliveries` (JSON).
    Delivery,
}

/// Reads `body` into the route's own type exactly as the route does (the
/// shape check before any rule), for the `json_bodies` fuzz target: a
/// refusal is the route's `invalid_json` error. A SAAD that reads is also
/// checked by `service::saads::check_saad`, as its route does.
pub fn read_json_body(kind: JsonBody, body: &[u8]) -> Result<(), ApiError> {
    match kind {
        JsonBody::Saad => {
            let saad: crate::domain::model::Saad = parse_json(body)?;
            let _ = crate::service::saads::check_saad(saad);
        }
        JsonBody::Plans => drop(parse_json::<orders::PlansBody>(body)?),
        JsonBody::Events => drop(parse_json::<events::EventsBody>(body)?),
        JsonBody::Authorisation => drop(parse_json::<overruns::AuthorisationBody>(body)?),
        JsonBody::Delivery => drop(parse_json::<deliveries::JsonDelivery>(body)?),
    }
    Ok(())
}
