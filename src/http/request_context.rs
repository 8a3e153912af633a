//! Request id and error shape, for every response.
//!
//! [`tracing_actix_web::TracingLogger`] (outermost) opens the request span
//! and generates the request id; [`RequestContext`] (just inside it):
//! - echoes that id in the `X-Request-Id` response header;
//! - re-renders every [`ApiError`] response with the id inside `error`;
//! - turns every other error response (actix's own: unknown route, wrong
//!   method, payload errors, a handler's foreign error) into our
//!   `{"error": {...}}` shape, so that *any* 4xx/5xx body is ours;
//! - logs each failure once, 5xx with its whole cause chain.
//!
//! A client-sent `X-Request-Id` is not trusted; the gateway's own id is the
//! one in logs, bodies and the header.

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{Error, HttpMessage, HttpResponse, ResponseError, web};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use crate::http::auth::LocalBoxFuture;
use crate::http::error::ApiError;
use crate::http::server::BodyLimits;

/// The response header carrying the request id.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Root span of each request: tracing-actix-web's fields plus `token.id`
/// (recorded by authentication; never the token).
pub struct GatewayRootSpan;

impl RootSpanBuilder for GatewayRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let span = tracing_actix_web::root_span!(request, token.id = tracing::field::Empty);
        // The macro records the target with its query string, where a
        // careless client may have put a token: keep the path only.
        span.record("http.target", request.path());
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// See the module documentation.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestContext;

impl<S, B> Transform<S, ServiceRequest> for RequestContext
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Transform = RequestContextService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequestContextService {
            service: Rc::new(service),
        }))
    }
}

/// The service built by [`RequestContext`].
pub struct RequestContextService<S> {
    service: Rc<S>,
}

impl<S, B> Service<ServiceRequest> for RequestContextService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<BoxBody>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string);
        // The request cannot be cloned here (routing needs it unshared), so
        // an inner `Err` is passed on as an error that renders itself.
        let future = self.service.call(request);
        Box::pin(async move {
            let mut response = match future.await {
                Ok(response) => shape(response, request_id.as_deref()),
                Err(error) => {
                    return Err(ShapedError {
                        error: to_api_error(&error),
                        request_id,
                    }
                    .into());
                }
            };
            if let Some(id) = request_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
                response.headers_mut().insert(REQUEST_ID_HEADER, id);
            }
            Ok(response)
        })
    }
}

/// Leaves successes alone; renders error responses in our shape.
fn shape<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
    request_id: Option<&str>,
) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response.map_into_boxed_body();
    }
    if let Some(api_error) = response
        .response()
        .error()
        .and_then(|e| e.as_error::<ApiError>())
    {
        log_once(api_error);
        let rendered = api_error.render(request_id);
        let (request, _) = response.into_parts();
        return ServiceResponse::new(request, rendered);
    }
    if let Some(error) = response
        .response()
        .error()
        .filter(|e| e.as_response_error().status_code() != StatusCode::PAYLOAD_TOO_LARGE)
    {
        let rendered = render_foreign(error, request_id);
        let (request, _) = response.into_parts();
        return ServiceResponse::new(request, rendered);
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if is_json {
        // A route that built its own JSON or HTML error body (`/healthz`, the dashboards).
        return response.map_into_boxed_body();
    }
    let api_error = match ApiError::from_status(status) {
        // actix's body-size errors do not say the limit; the app data does.
        ApiError::PayloadTooLarge { .. } => ApiError::PayloadTooLarge {
            limit_bytes: response
                .request()
                .app_data::<web::Data<BodyLimits>>()
                .map_or(0, |limits| limits.default_bytes),
        },
        other => other,
    };
    log_once(&api_error);
    let rendered = api_error.render(request_id);
    let (request, _) = response.into_parts();
    ServiceResponse::new(request, rendered)
}

/// Renders an actix `Error` that may or may not be an [`ApiError`].
fn render_foreign(error: &Error, request_id: Option<&str>) -> HttpResponse {
    if let Some(api_error) = error.as_error::<ApiError>() {
        log_once(api_error);
        return api_error.render(request_id);
    }
    let api_error = to_api_error(error);
    log_once(&api_error);
    api_error.render(request_id)
}

/// An [`ApiError`] equivalent to an actix error that is not one.
fn to_api_error(error: &Error) -> ApiError {
    if let Some(api_error) = error.as_error::<ApiError>() {
        return api_error.detached();
    }
    let status = error.as_response_error().status_code();
    if status.is_server_error() {
        ApiError::internal_message(error.to_string())
    } else {
        ApiError::from_status(status)
    }
}

/// An error passed outwards by an inner service, rendered in our shape with
/// the request id (in the body and the `X-Request-Id` header).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
struct ShapedError {
    error: ApiError,
    request_id: Option<String>,
}

impl ResponseError for ShapedError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        log_once(&self.error);
        let mut response = self.error.render(self.request_id.as_deref());
        if let Some(id) = self
            .request_id
            .as_deref()
            .and_then(|id| HeaderValue::from_str(id).ok())
        {
            response.headers_mut().insert(REQUEST_ID_HEADER, id);
        }
        response
    }
}

fn log_once(error: &ApiError) {
    let status = error.status_code();
    if status.is_server_error() {
        tracing::error!(error.code = error.code(), error.cause = %error.cause_chain(), "request failed");
    } else {
        tracing::info!(
            error.code = error.code(),
            status = status.as_u16(),
            "request refused"
        );
    }
}
