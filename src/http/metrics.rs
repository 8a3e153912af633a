//! Prometheus metrics, served as text at `GET /metrics`.
//!
//! The registry is the gateway's own (not the `prometheus` crate's global
//! one), so several servers in one process (tests) do not collide. Routes
//! record business metrics through `web::Data<Metrics>`:
//! [`Metrics::record_intervention`] and [`Metrics::ingestion_seconds`] are
//! registered now, before the delivery route exists, so that dashboards can
//! be written against stable names.
//!
//! Labels never carry ids, tokens or personal data: the route label is the
//! route *pattern* (`/api/v1/invoices/{id}`), or `unmatched`.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::time::Instant;

use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::header::ContentType;
use actix_web::{Error, HttpResponse, web};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

use crate::http::auth::LocalBoxFuture;
use crate::http::error::ApiError;

/// Latency buckets in seconds, from 1 ms to 60 s (large deliveries).
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Ingestion buckets in seconds: a DELIVERY may hold thousands of lines.
const INGESTION_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Why the metrics could not be registered (a programming error: duplicate
/// or invalid names).
#[derive(Debug, thiserror::Error)]
#[error("registering metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// The gateway's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    http_requests_total: IntCounterVec,
    http_request_duration_seconds: HistogramVec,
    interventions_total: IntCounterVec,
    ingestion_seconds: Histogram,
}

/// Whether an intervention was accepted or rejected at ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterventionOutcome {
    /// Accepted (possibly with warnings).
    Accepted,
    /// Rejected with a business code.
    Rejected,
}

impl InterventionOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }
}

impl Metrics {
    /// Registers every metric in a fresh registry.
    pub fn new() -> Result<Self, MetricsError> {
        let registry = Registry::new();
        let http_requests_total = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by method, route pattern and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_request_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by method and route pattern",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["method", "route"],
        )?;
        let interventions_total = IntCounterVec::new(
            Opts::new(
                "interventions_total",
                "Interventions received, by outcome and rejection code (empty when accepted)",
            ),
            &["outcome", "code"],
        )?;
        let ingestion_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "ingestion_seconds",
                "Time to ingest one delivery, from first byte read to commit",
            )
            .buckets(INGESTION_BUCKETS.to_vec()),
        )?;
        // A labelled family with no series is not exposed: start the
        // business counters at zero so dashboards see them before any delivery.
        interventions_total
            .with_label_values(&["accepted", ""])
            .reset();
        registry.register(Box::new(http_requests_total.clone()))?;
        registry.register(Box::new(http_request_duration_seconds.clone()))?;
        registry.register(Box::new(interventions_total.clone()))?;
        registry.register(Box::new(ingestion_seconds.clone()))?;
        Ok(Self {
            registry,
            http_requests_total,
            http_request_duration_seconds,
            interventions_total,
            ingestion_seconds,
        })
    }

    /// Counts one intervention; `code` is the upper snake business code of
    /// a rejection (`LATE_TRANSMISSION`), `""` when accepted.
    pub fn record_intervention(&self, outcome: InterventionOutcome, code: &str) {
        self.interventions_total
            .with_label_values(&[outcome.label(), code])
            .inc();
    }

    /// The histogram the delivery route observes once per delivery.
    pub fn ingestion_seconds(&self) -> &Histogram {
        &self.ingestion_seconds
    }

    /// The registry (to add route-specific metrics).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, ApiError> {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .map_err(ApiError::internal)?;
        String::from_utf8(buffer).map_err(ApiError::internal)
    }

    fn observe(&self, method: &str, route: &str, status: u16, started: Instant) {
        let status = status.to_string();
        self.http_requests_total
            .with_label_values(&[method, route, status.as_str()])
            .inc();
        self.http_request_duration_seconds
            .with_label_values(&[method, route])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// `GET /metrics`: Prometheus text format 0.0.4.
pub async fn metrics_endpoint(metrics: web::Data<Metrics>) -> Result<HttpResponse, ApiError> {
    let text = metrics.render()?;
    Ok(HttpResponse::Ok()
        .insert_header(ContentType(
            "text/plain; version=0.0.4; charset=utf-8"
                .parse()
                .map_err(ApiError::internal)?,
        ))
        .body(text))
}

/// Middleware counting requests and their latency by route pattern.
#[derive(Clone)]
pub struct RecordMetrics {
    metrics: Metrics,
}

impl RecordMetrics {
    /// Records into `metrics`.
    pub fn new(metrics: Metrics) -> Self {
        Self { metrics }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RecordMetrics
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = RecordMetricsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RecordMetricsService {
            service: Rc::new(service),
            metrics: self.metrics.clone(),
        }))
    }
}

/// The service built by [`RecordMetrics`].
pub struct RecordMetricsService<S> {
    service: Rc<S>,
    metrics: Metrics,
}

impl<S, B> Service<ServiceRequest> for RecordMetricsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let started = Instant::now();
        let method = request.method().as_str().to_owned();
        let metrics = self.metrics.clone();
        let future = self.service.call(request);
        Box::pin(async move {
            let outcome = future.await;
            match &outcome {
                Ok(response) => {
                    let route = response.request().match_pattern();
                    let route = route.as_deref().unwrap_or("unmatched");
                    metrics.observe(&method, route, response.status().as_u16(), started);
                }
                Err(error) => {
                    let status = error.as_response_error().status_code().as_u16();
                    metrics.observe(&method, "unmatched", status, started);
                }
            }
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_metrics_are_registered_before_any_delivery() -> Result<(), MetricsError> {
        let metrics = Metrics::new()?;
        metrics.record_intervention(InterventionOutcome::Rejected, "LATE_TRANSMISSION");
        metrics.ingestion_seconds().observe(0.2);
        let text = metrics
            .render()
            .map_err(|_| MetricsError(prometheus::Error::Msg("render".into())))?;
        assert!(
            text.contains("interventions_total{code=\"LATE_TRANSMISSION\",outcome=\"rejected\"} 1")
        );
        assert!(text.contains("ingestion_seconds_bucket"));
        Ok(())
    }
}
