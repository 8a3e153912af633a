//! F payment batches (api.md): issue, list, get. The exports (`{id}.csv`,
//! `{id}.pes.xml`, `{id}.xml`) answer 501 until `src/exports` is merged.

use actix_web::{HttpResponse, web};

use crate::http::auth::{Principal, require_financer};
use crate::http::clock::Clock;
use crate::http::error::ApiError;
use crate::http::gateway::AppState;
use crate::service::batches::{BatchError, PaymentBatch, create_batch};

use super::store_error;

/// `POST /batches`: 201 PaymentBatch, 409 when nothing is to be paid.
pub async fn create(
    principal: Principal,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
) -> Result<HttpResponse, ApiError> {
    require_financer(&principal)?;
    match create_batch(&state.store, clock.now()).await {
        Ok(batch) => Ok(HttpResponse::Created().json(PaymentBatch::from(&batch))),
        Err(BatchError::Conflict(message)) => Err(ApiError::conflict(message)),
        Err(BatchError::Store(error)) => Err(store_error(error)),
    }
}

/// `GET /batches`: `{"batches": [PaymentBatch]}`.
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_financer(&principal)?;
    let batches: Vec<PaymentBatch> = state
        .store
        .list_payment_batches()
        .await
        .map_err(store_error)?
        .iter()
        .map(PaymentBatch::from)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "batches": batches })))
}

/// `GET /batches/{id}`: PaymentBatch. The export suffixes are not built yet (501).
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_financer(&principal)?;
    let id = path.into_inner();
    if id.ends_with(".csv") || id.ends_with(".xml") {
        return Err(ApiError::NotImplemented(
            "batch exports (liquidation CSV, PES V2, pain.001) are not built yet in this version of saad-gateway"
                .to_owned(),
        ));
    }
    let batch = state
        .store
        .get_payment_batch(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("no such payment batch"))?;
    Ok(HttpResponse::Ok().json(PaymentBatch::from(&batch)))
}
