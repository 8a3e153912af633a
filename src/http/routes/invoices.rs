//! F+S invoices (api.md): list of a month, one invoice as JSON or ESPPADOM
//! INVOICE (`{id}.xml`), and the validation workflow. A SAAD sees only its
//! own invoices; another SAAD's answers 404.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::http::auth::Principal;
use crate::http::clock::Clock;
use crate::http::error::ApiError;
use crate::http::gateway::AppState;
use crate::service::invoices::{
    InvoiceError, InvoiceSummary, InvoiceXmlError, get_invoice, invoice_json, invoice_xml,
    validate as validate_invoice,
};

use super::months::parse_month;
use super::store_error;

/// `?month=YYYY-MM`.
#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

fn invoice_error(error: InvoiceError) -> ApiError {
    match error {
        InvoiceError::NotFound => ApiError::not_found("no such invoice"),
        InvoiceError::Conflict(message) => ApiError::conflict(message),
        InvoiceError::Store(error) => store_error(error),
    }
}

/// `GET /invoices?month=`: 200 `{"invoices": [InvoiceSummary]}`.
pub async fn list(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<MonthQuery>,
) -> Result<HttpResponse, ApiError> {
    let month = query
        .month
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("the query parameter month=YYYY-MM is required", None))
        .and_then(parse_month)?;
    let invoices: Vec<InvoiceSummary> = state
        .store
        .list_invoices(month, principal.saad_siret())
        .await
        .map_err(store_error)?
        .iter()
        .map(InvoiceSummary::from)
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "invoices": invoices })))
}

/// `GET /invoices/{id}` (JSON) or `/invoices/{id}.xml` (ESPPADOM INVOICE).
pub async fn get(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let raw = path.into_inner();
    let (id, xml) = match raw.strip_suffix(".xml") {
        Some(id) => (id.to_owned(), true),
        None => (raw, false),
    };
    let (record, lines) = get_invoice(&state.store, &id, principal.saad_siret())
        .await
        .map_err(invoice_error)?;
    if xml {
        let body =
            invoice_xml(&state.store, &record, &lines)
                .await
                .map_err(|error| match error {
                    InvoiceXmlError::Store(error) => store_error(error),
                    InvoiceXmlError::Io(error) => ApiError::internal(error),
                })?;
        return Ok(HttpResponse::Ok()
            .content_type("application/xml; charset=utf-8")
            .body(body));
    }
    Ok(HttpResponse::Ok().json(invoice_json(&record, &lines)))
}

/// `POST /invoices/{id}/validate`: the SAAD's validation with a saad token,
/// the final one with a financer token (409 out of order).
pub async fn validate(
    principal: Principal,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let summary = validate_invoice(&state.store, &path, principal.saad_siret(), clock.now())
        .await
        .map_err(invoice_error)?;
    Ok(HttpResponse::Ok().json(summary))
}
