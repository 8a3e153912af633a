//! The routes of ../shared/spec/api.md, relative to `/api/v1`.
//!
//! One module per resource. A route of the contract that is not built yet is
//! registered with [`not_built_yet`] and answers 501: never fake data.
//! Registration uses `web::resource(..)` so that a wrong method answers 405.
//! `POST /api/v1/admin/clock` is mounted by the server itself.

use actix_web::web;

use super::error::ApiError;
use crate::storage::StoreError;

mod deliveries;
mod rejections;

pub mod audit;
mod batches;
mod events;
mod invoices;
mod media;
mod months;
mod orders;
mod overruns;
mod saads;

/// Registers every route of the contract.
pub fn configure(cfg: &mut web::ServiceConfig) {
    // Financer data in, SAAD orders out.
    cfg.service(web::resource("/saads").route(web::post().to(saads::post_saad)))
        .service(
            web::resource("/orders")
                .route(web::post().to(orders::post_orders))
                .route(web::get().to(orders::get_orders)),
        )
        .service(web::resource("/events").route(web::post().to(events::post_events)))
        .service(
            web::resource("/overrun-authorisations")
                .route(web::post().to(overruns::post_overrun_authorisation)),
        );
    // Deliveries and rejection notices.
    cfg.service(web::resource("/deliveries").route(web::post().to(deliveries::post_delivery)))
        .service(web::resource("/rejections").route(web::get().to(rejections::get_rejections)));
    // Month close, invoices and batches.
    cfg.service(web::resource("/months/{month}/close").route(web::post().to(months::close)))
        .service(
            web::resource("/invoices")
                .route(web::get().to(invoices::list))
                .route(web::post().to(invoices::post_saad_invoice)),
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

/// How a storage failure answers in the deliveries and rejections routes:
/// 503 with `Retry-After` when the database does not answer, 404 for a
/// missing record, 409 for a refused write, 500 otherwise.
pub(crate) fn store_error(error: StoreError) -> ApiError {
    match error {
        StoreError::Unavailable(_) => ApiError::database_unavailable(error),
        StoreError::NotFound => ApiError::not_found("not found"),
        StoreError::Conflict(_) => ApiError::conflict("the request conflicts with stored data"),
        StoreError::Other { .. } => ApiError::internal(error),
    }
}
