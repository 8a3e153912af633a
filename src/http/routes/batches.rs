//! F payment batches (api.md): issue, list, get, and the files `{id}.csv`
//! (liquidation), `{id}.pes.xml` (PES V2), `{id}.xml` (pain.001.001.09)
//! written by `crate::exports` with the `financer.toml` of the server's
//! `--charter-dir`.

use actix_web::{HttpResponse, web};

use crate::exports::{FINANCER_FILE, FinancerConfig};
use crate::http::auth::{Principal, require_financer};
use crate::http::clock::Clock;
use crate::http::error::ApiError;
use crate::http::gateway::AppState;
use crate::service::batches::{
    BatchError, BatchFile, BatchFileError, PaymentBatch, batch_file, create_batch,
};

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

/// `GET /batches/{id}`: PaymentBatch; `{id}.csv`, `{id}.pes.xml`, `{id}.xml`: its files.
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    require_financer(&principal)?;
    let id = path.into_inner();
    let file = if let Some(id) = id.strip_suffix(".csv") {
        Some((id, BatchFile::Csv, "text/csv; charset=utf-8"))
    } else if let Some(id) = id.strip_suffix(".pes.xml") {
        Some((id, BatchFile::Pes, "application/xml; charset=utf-8"))
    } else {
        id.strip_suffix(".xml")
            .map(|id| (id, BatchFile::Pain001, "application/xml; charset=utf-8"))
    };
    if let Some((id, file, content_type)) = file {
        let config = FinancerConfig::load(&state.charter_dir.join(FINANCER_FILE))
            .map_err(ApiError::internal)?;
        let body =
            batch_file(&state.store, config, id, file)
                .await
                .map_err(|error| match error {
                    BatchFileError::NotFound => ApiError::not_found("no such payment batch"),
                    BatchFileError::Store(error) => store_error(error),
                    BatchFileError::Export(error) => {
                        ApiError::unprocessable(error.to_string(), None)
                    }
                    other => ApiError::internal(other),
                })?;
        return Ok(HttpResponse::Ok().content_type(content_type).body(body));
    }
    let batch = state
        .store
        .get_payment_batch(&id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("no such payment batch"))?;
    Ok(HttpResponse::Ok().json(PaymentBatch::from(&batch)))
}
