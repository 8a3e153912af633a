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
//! Shutdown: SIGTERM and SIGINT both start a *graceful* shutdown, run by
//! [`StopHandle`] rather than by actix (whose graceful stop can drop
//! in-flight requests): accepting pauses, in-flight requests run to
//! completion for up to [`ServerConfig::shutdown_timeout`], then the server
//! stops and the process exits 0. While
//! draining, every HTTP/1.1 response carries `Connection: close`, so a
//! keep-alive client does not hold the drain with an idle connection (nor
//! send its next request on a connection about to be cut). Nothing
//! acknowledged is lost because routes send their response only after their
//! database transaction has committed: a request cut short by the timeout
//! was never acknowledged, and its transaction rolls back.

use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{ServerHandle, Service};
use actix_web::http::ConnectionType;
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

/// `GET /healthz`.
pub const HEALTHZ_PATH: &str = "/healthz";
/// `GET /metrics`.
pub const METRICS_PATH: &str = "/metrics";
/// `POST /api/v1/admin/clock`, relative to [`API_PREFIX`].
pub const CLOCK_PATH: &str = "/admin/clock";

/// The routes the server registers itself, whatever routes it is given:
/// `(method, full path)`.
pub const SERVER_ROUTES: &[(&str, &str)] = &[
    ("GET", HEALTHZ_PATH),
    ("GET", METRICS_PATH),
    ("POST", "/api/v1/admin/clock"),
];

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

/// How the delivery route reads a large ESPPADOM DELIVERY, available to it
/// as `web::Data<DeliveryParts>`: a body over `bytes` is read and ingested
/// in parts of `lines` lines, so that the gateway holds one part at a time,
/// never the whole file (docs/deliveries.md, "Large files").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryParts {
    /// Bodies larger than this are read in parts.
    pub bytes: usize,
    /// Lines per part.
    pub lines: usize,
}

impl Default for DeliveryParts {
    /// 4 MiB (about 1 300 interventions of an ESPPADOM file), 2 000 lines
    /// a part.
    fn default() -> Self {
        Self {
            bytes: 4 * 1024 * 1024,
            lines: 2_000,
        }
    }
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
    /// How a large DELIVERY is read.
    pub delivery_parts: DeliveryParts,
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
            delivery_parts: DeliveryParts::default(),
            rate_limits: RateLimitConfig::default(),
            workers: None,
            shutdown_timeout: Duration::from_secs(30),
            client_request_timeout: Duration::from_secs(10),
            // Shorter than the drain, so idle connections close on their
            // own before a graceful stop has to cut them.
            keep_alive: Duration::from_secs(15),
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
            client_request_timeout: Duration::from_secs(settings.request_timeout),
            tls_handshake_timeout: Duration::from_secs(settings.request_timeout),
            shutdown_timeout: Duration::from_secs(settings.shutdown_timeout),
            // Idle connections close on their own before a drain cuts them.
            keep_alive: defaults.keep_alive.min(
                Duration::from_secs(settings.shutdown_timeout / 2).max(Duration::from_secs(1)),
            ),
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
    drain: Arc<Drain>,
    handle_signals: bool,
    shutdown_timeout: Duration,
}

/// The server's drain state: whether a stop has begun, and how many
/// requests are in flight (from the moment their head is read until their
/// response body has been sent or dropped).
#[derive(Default)]
struct Drain {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: tokio::sync::Notify,
}

impl Drain {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(Arc::clone(self))
    }

    /// Resolves once no request is in flight.
    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One request in flight; dropped with the response body.
struct InFlightGuard(Arc<Drain>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A response body that keeps its request counted as in flight until it
/// has been sent (or dropped).
struct TrackedBody {
    body: BoxBody,
    _guard: InFlightGuard,
}

impl MessageBody for TrackedBody {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// Stops a server the way SIGTERM does.
///
/// actix-server's own graceful stop is not safe on its own: it tells the
/// accept thread to stop *before* telling the workers, and a worker that
/// sees the accept thread's channel close before its stop message exits at
/// once, dropping every connection, in-flight requests included (a race,
/// frequent on a loaded machine). So the gateway drains first, itself:
/// mark draining (HTTP/1.1 responses then carry `Connection: close`), pause
/// accepting, wait until no request is in flight (at most the shutdown
/// timeout), and only then stop actix, which has nothing left to cut but
/// idle connections.
#[derive(Clone)]
pub struct StopHandle {
    handle: ServerHandle,
    drain: Arc<Drain>,
    timeout: Duration,
}

impl StopHandle {
    /// Whether a stop has begun.
    pub fn is_draining(&self) -> bool {
        self.drain.draining.load(Ordering::Acquire)
    }

    /// `stop(true)`: drain as described above, then stop. `stop(false)`:
    /// cut at once.
    pub async fn stop(&self, graceful: bool) {
        self.drain.draining.store(true, Ordering::Release);
        if graceful {
            self.handle.pause().await;
            if tokio::time::timeout(self.timeout, self.drain.idle())
                .await
                .is_err()
            {
                tracing::warn!(
                    in_flight = self.drain.in_flight.load(Ordering::Acquire),
                    "shutdown timeout: cutting the requests still in flight"
                );
            }
        }
        // Nothing is in flight (or the timeout has passed): close the idle
        // connections rather than wait for them.
        self.handle.stop(false).await;
    }
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
        no_delay(&listener).map_err(|source| ServerError::Bind {
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
        let parts_data = web::Data::new(config.delivery_parts);
        let tokens = deps.tokens;
        let drain = Arc::new(Drain::default());
        let factory_drain = Arc::clone(&drain);

        let factory = move || {
            let drain = Arc::clone(&factory_drain);
            let json_config = web::JsonConfig::default()
                .limit(body_limits.default_bytes)
                .error_handler(|error, _request| json_payload_error(error).into());
            let payload_config = web::PayloadConfig::new(body_limits.default_bytes);
            let routes = Arc::clone(&routes);
            let pages = Arc::clone(&pages);
            let api = web::scope(API_PREFIX)
                .service(web::resource(CLOCK_PATH).route(web::post().to(set_clock)))
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
                .app_data(parts_data.clone())
                .route(HEALTHZ_PATH, web::get().to(healthz))
                .route(METRICS_PATH, web::get().to(metrics_endpoint))
                .service(api)
                .configure(move |cfg| pages(cfg))
                .default_service(web::to(unknown_route))
                .wrap(factory_limiters.per_ip())
                .wrap(RecordMetrics::new(metrics.get_ref().clone()))
                .wrap(RequestContext)
                .wrap_fn(move |request, service| {
                    let guard = drain.enter();
                    let drain = Arc::clone(&drain);
                    let response = service.call(request);
                    async move {
                        let mut response = response.await?;
                        if drain.draining.load(Ordering::Acquire) {
                            // HTTP/1.1: close after this response (h2 ignores it).
                            response
                                .response_mut()
                                .head_mut()
                                .set_connection_type(ConnectionType::Close);
                        }
                        Ok(response.map_body(move |_, body| {
                            BoxBody::new(TrackedBody {
                                body,
                                _guard: guard,
                            })
                        }))
                    }
                })
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
        // Signals are handled by `run_until_stopped`, which drains first.
        server = server.disable_signals();
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
            drain,
            handle_signals: config.handle_signals,
            shutdown_timeout: config.shutdown_timeout,
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

    /// actix's handle. Its `stop(true)` is subject to actix-server's race
    /// (see [`StopHandle`]) and may cut in-flight requests: use
    /// [`RunningServer::stop_handle`] to stop a server that serves.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// A handle that stops the server as SIGTERM does: marks it draining
    /// (HTTP/1.1 responses then close their connection), then stops it.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            handle: self.server.handle(),
            drain: Arc::clone(&self.drain),
            timeout: self.shutdown_timeout,
        }
    }

    /// Serves until stopped (signal or handle), pruning idle rate-limit keys
    /// meanwhile. Resolves once every worker has finished.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let pruning = self.limiters.spawn_pruning();
        let signals = self.handle_signals.then(|| {
            let stopper = self.stop_handle();
            tokio::spawn(async move {
                wait_for_termination().await;
                stopper.stop(true).await;
            })
        });
        let outcome = self.server.await;
        pruning.abort();
        if let Some(signals) = signals {
            signals.abort();
        }
        tracing::info!("gateway stopped");
        outcome
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C). If a handler cannot be installed
/// the other still works; if none can, it never resolves (the process is
/// then stopped by SIGKILL, as before).
async fn wait_for_termination() {
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

/// Sets `TCP_NODELAY` on the listening socket; accepted connections inherit
/// it (Linux copies the listener's options into each accepted socket, and
/// actix-web sets nothing itself). Without it, a response written after
/// another unacknowledged segment on the same connection (TLS 1.3 session
/// tickets, written right after the handshake, are one) waits for the
/// client's delayed ACK: about 40 ms added to every first request of a
/// connection, which is what one-shot SAAD clients send.
fn no_delay(listener: &TcpListener) -> std::io::Result<()> {
    socket2::SockRef::from(listener).set_tcp_nodelay(true)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn accepted_connections_have_tcp_nodelay_so_no_response_waits_for_a_delayed_ack() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        no_delay(&listener).expect("TCP_NODELAY on the listener");
        let address = listener.local_addr().expect("address");
        let _client = std::net::TcpStream::connect(address).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        assert!(
            accepted.nodelay().expect("read TCP_NODELAY"),
            "an accepted connection must inherit TCP_NODELAY from the listener"
        );
    }

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
    fn request_and_shutdown_timeouts_come_from_the_flags_and_keep_alive_stays_under_the_drain() {
        let Ok(config) = config_of(&["--request-timeout", "5", "--shutdown-timeout", "8"]) else {
            panic!("config refused")
        };
        assert_eq!(config.client_request_timeout, Duration::from_secs(5));
        assert_eq!(config.tls_handshake_timeout, Duration::from_secs(5));
        assert_eq!(config.shutdown_timeout, Duration::from_secs(8));
        assert!(config.keep_alive < config.shutdown_timeout);
        let Ok(defaults) = config_of(&[]) else {
            panic!("config refused")
        };
        assert_eq!(defaults.client_request_timeout, Duration::from_secs(10));
        assert_eq!(defaults.shutdown_timeout, Duration::from_secs(30));
        assert!(defaults.keep_alive < defaults.shutdown_timeout);
    }

    #[test]
    fn a_certificate_without_its_key_is_refused() {
        assert!(matches!(
            config_of(&["--tls-cert", "cert.pem"]),
            Err(ServerError::Tls(TlsError::Incomplete))
        ));
    }

    #[test]
    fn the_clock_route_listed_is_the_one_mounted() {
        assert!(SERVER_ROUTES.contains(&("POST", &*format!("{API_PREFIX}{CLOCK_PATH}"))));
    }

    #[test]
    fn plain_http_means_no_tls() {
        assert!(config_of(&["--plain-http"]).is_ok_and(|c| c.tls.is_none()));
    }
}
