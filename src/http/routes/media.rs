//! Content negotiation helpers shared by the route modules.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::http::error::ApiError;

/// The media type of the request's `Content-Type` (lower case, without
/// parameters), if any.
pub fn content_type(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// 415 `unsupported_media_type` unless the `Content-Type` is one of
/// `accepted`; returns it.
pub fn require_content_type(request: &HttpRequest, accepted: &[&str]) -> Result<String, ApiError> {
    match content_type(request) {
        Some(media) if accepted.contains(&media.as_str()) => Ok(media),
        _ => Err(ApiError::unsupported_media_type(accepted)),
    }
}

/// Whether the `Accept` header asks for `media` explicitly.
pub fn accepts(request: &HttpRequest, media: &str) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            item.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case(media)
        })
}
