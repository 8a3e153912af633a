//! The HTTP server skeleton that route modules plug into.
//!
//! [`Server::build`] binds the listener first (port 0 allowed; the bound
//! address is in [`RunningServer::local_addr`]), builds the TLS config, and
//! returns a server that is not yet polled. The application it serves is:
//!
//! ```text
//! TracingLogger (request span, request id)
//!  └ RequestContext (X-Request-Id header, every error in our JSON shape)
//!     └ RecordMetrics (requests by route pattern and status, latency)
//!        └ RateLimit per client IP
//!           ├ GET /healthz, GET /metrics
//!           ├ /api/v1: Authenticate → RateLimit per token →
//!           │    POST /admin/clock, the routes of the `routes` closure,
//!           │    anything else 404 not_found
//!           └ anything else 404 not_found
//! ```
//!
//! Shutdown: SIGTERM and SIGINT both start a *graceful* shutdown (actix's
//! own handler would drop connections on SIGINT): the listener closes,
//! in-flight requests run to completion for up to
//! [`ServerConfig::shutdown_timeout`], then the process exits 0. Nothing
//! acknowledged is lost because routes send their response only after their
//! database transaction has committed: a request cut short by the timeout
//! was never acknowledged, and its transaction rolls back.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::cli::GlobalSettings;
use crate::http::auth::{Authenticate, TokenLookup};
use crate::http::clock::{Clock, set_clock};
use crate::http::error::{ApiError, json_payload_error};
use crate::http::health::{Health, HealthCheck, healthz};
use crate::http::metrics::{Metrics, RecordMetrics, metrics_endpoint};
use crate::http::rate_limit::{RateLimitConfig, RateLimiters};
use crate::http::request_context::{GatewayRootSpan, RequestContext};
use crate::http::tls::{self, TlsError, TlsSource};

/// Body limit of ESPPADOM DELIVERY bodies (512 MiB), which the delivery route
/// reads as a stream with its own limit rather than through the extractors'.
pub const DELIVERY_MAX_BODY_BYTES: usize = 512 * 1024 * 1024;

/// The path prefix of the authenticated API.
pub const API_PREFIX: &str = "/api/v1";

/// Body limits, available to routes as `web::Data<BodyLimits>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimits {
    /// Limit for JSON and other buffered bodies (`--max-body`); enforced by
    /// `web::Json`, `web::Bytes` and `String` extractors (413).
    pub default_bytes: usize,
    /// Limit for streamed DELIVERY bodies; the delivery route enforces it
    /// while reading `web::Payload`.
    pub delivery_bytes: usize,
}

/// Everything the server needs from the command line.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (`127.0.0.1:0` picks a free port).
    pub listen: String,
    /// `None` serves plain HTTP (`--plain-http`).
    pub tls: Option<TlsSource>,
    /// Body limits.
    pub body_limits: BodyLimits,
    /// Rate limits.
    pub rate_limits: RateLimitConfig,
    /// Worker threads (`None`: actix's default, one per core).
    pub workers: Option<usize>,
    /// How long in-flight requests may run after a stop signal.
    pub shutdown_timeout: Duration,
    /// How long a client may take to send a request head.
    pub client_request_timeout: Duration,
    /// Idle keep-alive of a connection.
    pub keep_alive: Duration,
    /// How long a client may take to finish the TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// Handle SIGTERM/SIGINT (off in tests, which stop through the handle).
    pub handle_signals: bool,
}

impl Default for ServerConfig {
    /// `127.0.0.1:8443`, self-signed TLS in the current directory, 16 MiB
    /// bodies, 30 s drain.
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8443".to_owned(),
            tls: Some(TlsSource::SelfSigned {
                data_dir: ".".into(),
            }),
            body_limits: BodyLimits {
                default_bytes: 16 * 1024 * 1024,
                delivery_bytes: DELIVERY_MAX_BODY_BYTES,
            },
            rate_limits: RateLimitConfig::default(),
            workers: None,
            shutdown_timeout: Duration::from_secs(30),
            client_request_timeout: Duration::from_secs(10),
            keep_alive: Duration::from_secs(75),
            tls_handshake_timeout: Duration::from_secs(10),
            handle_signals: true,
        }
    }
}

impl ServerConfig {
    /// The configuration the command line's flags describe.
    pub fn from_settings(settings: &GlobalSettings) -> Result<Self, ServerError> {
        let tls = if settings.plain_http {
            None
        } else {
            match (&settings.tls_cert, &settings.tls_key) {
                (Some(cert), Some(key)) => Some(TlsSource::Files {
                    cert: cert.clone(),
                    key: key.clone(),
                }),
                (None, None) => Some(TlsSource::SelfSigned {
                    data_dir: settings.data_dir.clone(),
                }),
                _ => return Err(ServerError::Tls(TlsError::Incomplete)),
            }
        };
        let defaults = Self::default();
        Ok(Self {
            listen: settings.listen.clone(),
            tls,
            body_limits: BodyLimits {
                default_bytes: settings.max_body,
                delivery_bytes: DELIVERY_MAX_BODY_BYTES,
            },
            ..defaults
        })
    }
}

/// What the routes and middlewares share.
#[derive(Clone)]
pub struct ServerDeps {
    /// Token lookup for authentication (storage implements it).
    pub tokens: Arc<dyn TokenLookup>,
    /// Database health check (storage implements it).
    pub health: Arc<dyn HealthCheck>,
    /// The gateway's clock.
    pub clock: Clock,
    /// The metrics registry.
    pub metrics: Metrics,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding the listen address failed.
    #[error("binding {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The metrics registry could not be built.
    #[error("building the metrics registry: {0}")]
    Metrics(#[from] crate::http::metrics::MetricsError),
    /// actix refused the listener.
    #[error("starting the HTTP server on {address}: {source}")]
    Start {
        /// The bound address.
        address: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Builds servers; see the module documentation.
pub struct Server;

/// A bound server, not yet polled.
pub struct RunningServer {
    local_addr: SocketAddr,
    https: bool,
    server: actix_web::dev::Server,
    limiters: RateLimiters,
}

/// A route configuration closure, as `App::configure` takes.
pub type Routes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

impl Server {
    /// Binds `config.listen`, prepares TLS and the application, and returns
    /// the server ready to run. `routes` registers the `/api/v1` routes
    /// (paths relative to `/api/v1`; they run authenticated and can extract
    /// [`crate::http::auth::Principal`], `web::Data<Clock>`,
    /// `web::Data<Metrics>`, `web::Data<BodyLimits>`, and their own data
    /// added with `ServiceConfig::app_data`).
    ///
    /// Must be called inside a Tokio runtime (actix's or `#[tokio::main]`).
    pub fn build(
        config: ServerConfig,
        routes: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
        deps: ServerDeps,
    ) -> Result<RunningServer, ServerError> {
        Self::build_with_pages(config, routes, |_| {}, deps)
    }

    /// [`Server::build`] plus `pages`, registered at the root of the
    /// application (outside `/api/v1`, not authenticated by bearer token):
    /// the dashboards of `crate::web`.
    pub fn build_with_pages(
        config: ServerConfig,
        routes: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
        pages: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
        deps: ServerDeps,
    ) -> Result<RunningServer, ServerError> {
        let listener = TcpListener::bind(&config.listen).map_err(|source| ServerError::Bind {
            address: config.listen.clone(),
            source,
        })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            address: config.listen.clone(),
            source,
        })?;
        let tls_config = config.tls.as_ref().map(tls::server_config).transpose()?;

        let routes: Routes = Arc::new(routes);
        let pages: Routes = Arc::new(pages);
        let limiters = RateLimiters::new(&config.rate_limits);
        let factory_limiters = limiters.clone();
        let body_limits = config.body_limits;
        let clock = web::Data::new(deps.clock);
        let metrics = web::Data::new(deps.metrics);
        let health = web::Data::new(Health(deps.health));
        let limits_data = web::Data::new(body_limits);
        let tokens = deps.tokens;

        let factory = move || {
            let json_config = web::JsonConfig::default()
                .limit(body_limits.default_bytes)
                .error_handler(|error, _request| json_payload_error(error).into());
            let payload_config = web::PayloadConfig::new(body_limits.default_bytes);
            let routes = Arc::clone(&routes);
            let pages = Arc::clone(&pages);
            let api = web::scope(API_PREFIX)
                .service(web::resource("/admin/clock").route(web::post().to(set_clock)))
                .configure(move |cfg| routes(cfg))
                .default_service(web::to(unknown_route))
                .wrap(factory_limiters.per_token())
                .wrap(Authenticate::new(Arc::clone(&tokens)));
            App::new()
                .app_data(json_config)
                .app_data(payload_config)
                .app_data(clock.clone())
                .app_data(metrics.clone())
                .app_data(health.clone())
                .app_data(limits_data.clone())
                .route("/healthz", web::get().to(healthz))
                .route("/metrics", web::get().to(metrics_endpoint))
                .service(api)
                .configure(move |cfg| pages(cfg))
                .default_service(web::to(unknown_route))
                .wrap(factory_limiters.per_ip())
                .wrap(RecordMetrics::new(metrics.get_ref().clone()))
                .wrap(RequestContext)
                .wrap(TracingLogger::<GatewayRootSpan>::new())
        };

        let mut server = HttpServer::new(factory)
            .shutdown_timeout(config.shutdown_timeout.as_secs())
            .client_request_timeout(config.client_request_timeout)
            .keep_alive(config.keep_alive)
            .tls_handshake_timeout(config.tls_handshake_timeout);
        if let Some(workers) = config.workers {
            server = server.workers(workers);
        }
        server = if config.handle_signals {
            server.shutdown_signal(termination_signal())
        } else {
            server.disable_signals()
        };
        let start_error = |source| ServerError::Start {
            address: local_addr,
            source,
        };
        let server = match tls_config {
            Some(tls_config) => server
                .listen_rustls_0_23(listener, tls_config)
                .map_err(start_error)?,
            None => server.listen(listener).map_err(start_error)?,
        };
        let https = config.tls.is_some();
        tracing::info!(
            listen = %local_addr,
            scheme = if https { "https" } else { "http" },
            "gateway listening"
        );
        Ok(RunningServer {
            local_addr,
            https,
            server: server.run(),
            limiters,
        })
    }
}

impl RunningServer {
    /// The bound address (with the real port when port 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// `https://127.0.0.1:PORT` or `http://…`.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}", self.local_addr)
    }

    /// A handle to stop the server: `stop(true)` drains in-flight requests.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (signal or handle), pruning idle rate-limit keys
    /// meanwhile. Resolves once every worker has finished.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let pruning = self.limiters.spawn_pruning();
        let outcome = self.server.await;
        pruning.abort();
        tracing::info!("gateway stopped");
        outcome
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). If a handler cannot be installed
/// the other still works; if none can, it never resolves (the process is
/// then stopped by SIGKILL, as before).
async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).ok();
        let terminate = async {
            match terminate.as_mut() {
                Some(stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = terminate => tracing::info!("SIGTERM received: draining in-flight requests"),
            _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received: draining in-flight requests"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// 404 `not_found` for a path no route serves.
async fn unknown_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("no such route"))
}

/// The handler of a route that is part of the contract but not built yet:
/// 501 `not_implemented`, never fake data.
pub async fn not_built_yet(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let route = request
        .match_pattern()
        .unwrap_or_else(|| request.path().to_owned());
    Err(ApiError::NotImplemented(format!(
        "{} {route} is not built yet in this version of saad-gateway",
        request.method()
    )))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn config_of(args: &[&str]) -> Result<ServerConfig, ServerError> {
        let mut argv = vec!["saad-gateway"];
        argv.extend_from_slice(args);
        argv.push("serve");
        match Cli::try_parse_from(argv) {
            Ok(cli) => ServerConfig::from_settings(&cli.settings),
            Err(error) => panic!("command line refused: {error}"),
        }
    }

    #[test]
    fn without_tls_flags_the_certificate_is_self_signed_in_the_data_dir() {
        let config = config_of(&["--data-dir", "/var/lib/gw", "--max-body", "1000"]);
        let Ok(config) = config else {
            panic!("config refused")
        };
        assert_eq!(
            config.tls,
            Some(TlsSource::SelfSigned {
                data_dir: "/var/lib/gw".into()
            })
        );
        assert_eq!(config.body_limits.default_bytes, 1000);
        assert_eq!(config.body_limits.delivery_bytes, DELIVERY_MAX_BODY_BYTES);
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        assert!(matches!(
            config_of(&["--tls-cert", "cert.pem"]),
            Err(ServerError::Tls(TlsError::Incomplete))
        ));
    }

    #[test]
    fn plain_http_means_no_tls() {
        assert!(config_of(&["--plain-http"]).is_ok_and(|c| c.tls.is_none()));
    }
}
