//! The routes of ../shared/spec/api.md, relative to `/api/v1`.
//!
//! One module per resource. A route of the contract that is not built yet is
//! registered with [`not_built_yet`] and answers 501: never fake data.
//! Registration uses `web::resource(..)` so that a wrong method answers 405.
//! `POST /api/v1/admin/clock` is mounted by the server itself.

use actix_web::web;

use super::error::ApiError;
use super::not_built_yet;
use crate::storage::StoreError;

pub mod batches;
pub mod invoices;
pub mod months;

/// Maps a storage failure: 503 when the database does not answer, 404 for
/// a missing record, 409 for a refused change, 500 otherwise.
pub fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::NotFound => ApiError::not_found("no such resource"),
        StoreError::Conflict(message) => ApiError::conflict(message),
        StoreError::Unavailable(source) => ApiError::database_unavailable(source),
        other => ApiError::internal(other),
    }
}

/// Registers every route of the contract.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Financer data in, SAAD orders out.
    cfg.service(web::resource("/saads").route(web::post().to(not_built_yet)))
        .service(
            web::resource("/orders")
                .route(web::post().to(not_built_yet))
                .route(web::get().to(not_built_yet)),
        )
        .service(web::resource("/events").route(web::post().to(not_built_yet)))
        .service(web::resource("/overrun-authorisations").route(web::post().to(not_built_yet)));
    // Deliveries and rejection notices.
    cfg.service(web::resource("/deliveries").route(web::post().to(not_built_yet)))
        .service(web::resource("/rejections").route(web::get().to(not_built_yet)));
    // Month close, invoices and batches.
    cfg.service(web::resource("/months/{month}/close").route(web::post().to(months::close)))
        .service(
            web::resource("/invoices")
                .route(web::get().to(invoices::list))
                .route(web::post().to(not_built_yet)),
        )
        .service(web::resource("/invoices/{id}").route(web::get().to(invoices::get)))
        .service(web::resource("/invoices/{id}/validate").route(web::post().to(invoices::validate)))
        .service(
            web::resource("/batches")
                .route(web::get().to(batches::list))
                .route(web::post().to(batches::create)),
        )
        .service(web::resource("/batches/{id}").route(web::get().to(batches::get)));
}
