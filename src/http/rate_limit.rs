//! Rate limiting: our own small actix middleware over `governor` (not
//! actix-governor, which is GPL-3.0), per ../shared/style/examples.md §6.
//!
//! Two keyed limiters, built once at startup and shared by every worker:
//! - per client IP, before authentication (IPv6 addresses grouped by their
//!   /64, since one client usually holds a whole /64);
//! - per authenticated token id, after authentication.
//!
//! Over the limit answers 429 `rate_limited` with `Retry-After` in whole
//! seconds, rounded up. Limits are per process (contractual quotas, if any,
//! belong in the database). Idle keys are pruned periodically by
//! [`RateLimiters::spawn_pruning`].
//!
//! The peer address is the TCP peer: forwarded headers are not honoured
//! (behind a proxy every request shares the proxy's address; see
//! docs/http.md).

use std::future::{Ready, ready};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{Error, HttpMessage};
use governor::clock::Clock as _;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::http::auth::{LocalBoxFuture, Principal};
use crate::http::error::ApiError;

/// One limit: a sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests that may arrive at once after a quiet period.
    pub burst: NonZeroU32,
}

impl Limit {
    /// A limit of `per_second` with a burst of `burst` (both at least 1).
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN),
            burst: NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN),
        }
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }
}

/// The gateway's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Per client IP (IPv6 per /64), before authentication, on every route.
    pub per_ip: Limit,
    /// Per token id, after authentication, on `/api/v1`.
    pub per_token: Limit,
    /// How often idle keys are pruned.
    pub prune_every: Duration,
}

impl Default for RateLimitConfig {
    /// 100 requests/s (burst 200) per IP, 50/s (burst 100) per token:
    /// generous for SAAD software posting batches, tight for a runaway loop.
    fn default() -> Self {
        Self {
            per_ip: Limit::new(100, 200),
            per_token: Limit::new(50, 100),
            prune_every: Duration::from_secs(60),
        }
    }
}

/// The shared limiters.
#[derive(Clone)]
pub struct RateLimiters {
    per_ip: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_token: Arc<DefaultKeyedRateLimiter<String>>,
    prune_every: Duration,
}

impl RateLimiters {
    /// Builds both limiters from `config`.
    pub fn new(config: &RateLimitConfig) -> Self {
        Self {
            per_ip: Arc::new(RateLimiter::keyed(config.per_ip.quota())),
            per_token: Arc::new(RateLimiter::keyed(config.per_token.quota())),
            prune_every: config.prune_every,
        }
    }

    /// The middleware limiting per client IP.
    pub fn per_ip(&self) -> RateLimit {
        RateLimit {
            kind: Kind::Ip(Arc::clone(&self.per_ip)),
        }
    }

    /// The middleware limiting per token id; place it inside
    /// [`crate::http::auth::Authenticate`].
    pub fn per_token(&self) -> RateLimit {
        RateLimit {
            kind: Kind::Token(Arc::clone(&self.per_token)),
        }
    }

    /// Forgets keys whose state is back to "full burst available".
    pub fn prune(&self) {
        self.per_ip.retain_recent();
        self.per_ip.shrink_to_fit();
        self.per_token.retain_recent();
        self.per_token.shrink_to_fit();
    }

    /// Number of keys currently tracked (IPs, tokens).
    pub fn tracked_keys(&self) -> (usize, usize) {
        (self.per_ip.len(), self.per_token.len())
    }

    /// Prunes idle keys every `prune_every` on the current tokio runtime,
    /// until the returned handle is aborted.
    pub fn spawn_pruning(&self) -> tokio::task::JoinHandle<()> {
        let limiters = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(limiters.prune_every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                limiters.prune();
            }
        })
    }
}

/// The key a client IP is limited under: IPv4 as is, IPv6 by its /64
/// (IPv4-mapped IPv6 addresses as IPv4).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[derive(Clone)]
enum Kind {
    Ip(Arc<DefaultKeyedRateLimiter<IpAddr>>),
    Token(Arc<DefaultKeyedRateLimiter<String>>),
}

impl Kind {
    /// `Err(seconds to wait)` when the request is over the limit.
    fn check(&self, request: &ServiceRequest) -> Result<(), u64> {
        let outcome = match self {
            Self::Ip(limiter) => {
                // No peer address (a Unix socket or a test request): nothing to key on.
                let Some(peer) = request.peer_addr() else {
                    return Ok(());
                };
                limiter
                    .check_key(&ip_key(peer.ip()))
                    .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
            }
            Self::Token(limiter) => {
                let token_id = request
                    .extensions()
                    .get::<Principal>()
                    .map(|p| p.token_id.clone());
                let Some(token_id) = token_id else {
                    return Ok(());
                };
                limiter
                    .check_key(&token_id)
                    .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
            }
        };
        outcome.map_err(retry_after_seconds)
    }
}

/// Whole seconds to announce in `Retry-After`: rounded up, at least 1.
pub fn retry_after_seconds(wait: Duration) -> u64 {
    let whole = wait.as_secs();
    let seconds = if wait.subsec_nanos() > 0 {
        whole.saturating_add(1)
    } else {
        whole
    };
    seconds.max(1)
}

/// The rate-limiting middleware (see [`RateLimiters::per_ip`] and
/// [`RateLimiters::per_token`]).
#[derive(Clone)]
pub struct RateLimit {
    kind: Kind,
}

impl<S, B> Transform<S, ServiceRequest> for RateLimit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = RateLimitService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RateLimitService {
            service: Rc::new(service),
            kind: self.kind.clone(),
        }))
    }
}

/// The service built by [`RateLimit`].
pub struct RateLimitService<S> {
    service: Rc<S>,
    kind: Kind,
}

impl<S, B> Service<ServiceRequest> for RateLimitService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        match self.kind.check(&request) {
            Ok(()) => {
                let future = self.service.call(request);
                Box::pin(async move { future.await.map(ServiceResponse::map_into_left_body) })
            }
            Err(retry_after_seconds) => {
                tracing::warn!(
                    retry_after_s = retry_after_seconds,
                    "request over the rate limit"
                );
                let response = request
                    .error_response(ApiError::RateLimited {
                        retry_after_seconds,
                    })
                    .map_into_right_body();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        let b: IpAddr = "2001:db8:1:2:bbbb::2"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        let c: IpAddr = "2001:db8:1:3::1"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7"
            .parse()
            .unwrap_or(IpAddr::V4([0; 4].into()));
        assert_eq!(ip_key(mapped), IpAddr::V4([192, 0, 2, 7].into()));
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_at_least_one() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_seconds(Duration::from_secs(3)), 3);
        assert_eq!(retry_after_seconds(Duration::ZERO), 1);
    }

    #[test]
    fn pruning_forgets_keys_that_are_idle() {
        let limiters = RateLimiters::new(&RateLimitConfig {
            per_ip: Limit::new(1000, 1),
            per_token: Limit::new(1000, 1),
            prune_every: Duration::from_secs(60),
        });
        let _ = limiters.per_token.check_key(&"t1".to_owned());
        assert_eq!(limiters.tracked_keys().1, 1);
        std::thread::sleep(Duration::from_millis(5));
        limiters.prune();
        assert_eq!(limiters.tracked_keys().1, 0);
    }
}
