//! F+S invoices (api.md): list of a month, one invoice as JSON or ESPPADOM
//! INVOICE (`{id}.xml`), and the validation workflow. A SAAD sees only its
//! own invoices; another SAAD's answers 404. A SAAD may also post its own
//! ESPPADOM INVOICE (`POST /invoices`), matched against the pro-forma.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::http::auth::{Principal, require_saad};
use crate::http::clock::Clock;
use crate::http::error::{ApiError, SyntaxLocation};
use crate::http::gateway::AppState;
use crate::http::server::BodyLimits;
use crate::service::invoices::{
    InvoiceError, InvoiceSummary, InvoiceXmlError, get_invoice, invoice_json, invoice_xml,
    submit_saad_invoice, validate as validate_invoice,
};
use crate::xml::invoice::read_invoice;

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
        InvoiceError::Unprocessable(message) => ApiError::unprocessable(message, None),
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

/// `POST /invoices` (S): the SAAD's own ESPPADOM INVOICE, matched line by
/// line against the gateway's pro-forma of the same month, aid type and
/// kind. 200 `{"invoice_id", "lines": [{"plan_ref", "asked", "computed",
/// "paid", "code"}]}`; 400 `invalid_xml` for a malformed or unusable
/// document; 404 when no invoice of the gateway matches; 409 when it is no
/// longer a pro-forma; 415 for another content type; 422 when it names
/// another SAAD or cannot be matched to one aid type.
pub async fn post_saad_invoice(
    request: HttpRequest,
    principal: Principal,
    payload: web::Payload,
    state: web::Data<AppState>,
    clock: web::Data<Clock>,
    limits: web::Data<BodyLimits>,
) -> Result<HttpResponse, ApiError> {
    let siret = require_saad(&principal)?.to_owned();
    let essence = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence != "application/xml" && essence != "text/xml" {
        return Err(ApiError::unsupported_media_type(&["application/xml"]));
    }
    let body = read_limited(payload, limits.delivery_bytes).await?;
    let messages = read_invoice(&body).map_err(|error| {
        ApiError::InvalidXml(SyntaxLocation {
            message: error.message,
            line: error.line,
            column: error.column,
            path: Some(error.path),
        })
    })?;
    let [message] = messages.as_slice() else {
        return Err(ApiError::bad_request(
            format!(
                "the document holds {} CrossIndustryInvoice: send exactly one invoice per request",
                messages.len()
            ),
            None,
        ));
    };
    let problem = message
        .problem
        .as_ref()
        .or_else(|| message.lines.iter().find_map(|l| l.problem.as_ref()));
    if let Some(problem) = problem {
        return Err(ApiError::InvalidXml(SyntaxLocation {
            message: problem.message.clone(),
            line: problem.line,
            column: problem.column,
            path: Some(problem.path.clone()),
        }));
    }
    if let Some(sent) = message.seller_siret.as_deref()
        && sent.trim() != siret
    {
        return Err(ApiError::unprocessable(
            "the invoice names another SAAD's SIRET than the token's (SAAD_MISMATCH)",
            None,
        ));
    }
    let mut asked = Vec::with_capacity(message.lines.len());
    for (index, line) in message.lines.iter().enumerate() {
        let (Some(plan_ref), Some(amount)) = (line.plan_ref.as_ref(), line.amount) else {
            return Err(ApiError::bad_request(
                format!(
                    "invoice line {} has no plan reference or no line total",
                    index + 1
                ),
                None,
            ));
        };
        asked.push((plan_ref.clone(), amount));
    }
    let answer = submit_saad_invoice(&state.store, &siret, message, &asked, clock.now())
        .await
        .map_err(|error| match error {
            InvoiceError::NotFound => ApiError::not_found(
                "no invoice of the gateway matches this SAAD, month, aid type and kind (is the month closed?)",
            ),
            other => invoice_error(other),
        })?;
    Ok(HttpResponse::Ok().json(answer))
}

/// The body, refused (413) as soon as it passes `limit`.
async fn read_limited(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    use futures_util::StreamExt;
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(format!("the request body could not be read: {e}"), None)
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit_bytes: limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
