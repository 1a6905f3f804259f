//! The operational surface: `/healthz`, `/readyz`, `/metrics` (Prometheus text), a request id
//! on every request and every log line, one log line per request, and load shedding; and the
//! one middleware every request passes through, which also applies the guard, the body-size
//! limit and the time limit.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::http::ClientAddr;
use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http_body_util::{BodyExt, Limited};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::AppState;
use crate::config::Config;
use crate::guard::Guard;
use crate::rest::ApiError;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bucket's bound (not cumulative; summed when printed).
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Metrics {
    /// By route. A request looks its route up by `&str`: only a route's first request
    /// allocates.
    routes: BTreeMap<String, RouteMetrics>,
    shed: u64,
}

#[derive(Default)]
struct RouteMetrics {
    /// Requests by method and status: a handful per route, so a list.
    answered: Vec<(Method, u16, u64)>,
    latency: Histogram,
}

pub struct Ops {
    metrics: Mutex<Metrics>,
    /// Requests in flight beyond this are answered 503 at once instead of queueing.
    in_flight: Semaphore,
    max_in_flight: usize,
    guard: Guard,
    request_timeout: Duration,
    body_timeout: Duration,
    per_address: AddressSlots,
}

/// Requests in flight per client address (an IPv6 client's /64 as one), each at most `max`.
struct AddressSlots {
    max: usize,
    taken: Arc<Mutex<HashMap<String, usize>>>,
}

/// One request's place under its address's limit, given back when dropped.
struct AddressSlot {
    address: String,
    taken: Arc<Mutex<HashMap<String, usize>>>,
}

impl AddressSlots {
    /// A place for the request's client (the guard recorded its address), or `None` when its
    /// address has every place it may have. A request with no known address is not counted.
    fn take(&self, req: &Request) -> Option<Option<AddressSlot>> {
        let Some(ClientAddr(ip)) = req.extensions().get::<ClientAddr>() else {
            return Some(None);
        };
        let address = app::network::counted_as(&ip.to_string());
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        let count = taken.entry(address.clone()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Some(AddressSlot {
            address,
            taken: self.taken.clone(),
        }))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = taken.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&self.address);
            }
        }
    }
}

impl Ops {
    pub fn new(config: &Config) -> Arc<Self> {
        Arc::new(Self {
            metrics: Mutex::default(),
            in_flight: Semaphore::new(config.max_in_flight),
            max_in_flight: config.max_in_flight,
            guard: Guard::new(config),
            request_timeout: config.request_timeout,
            body_timeout: config.body_timeout,
            per_address: AddressSlots {
                max: config.max_in_flight_per_address,
                taken: Arc::default(),
            },
        })
    }

    fn record(&self, route: &str, method: &Method, status: u16, seconds: f64) {
        let mut metrics = self.metrics.lock().unwrap_or_else(|e| e.into_inner());
        let route = match metrics.routes.get_mut(route) {
            Some(found) => found,
            None => metrics.routes.entry(route.to_owned()).or_default(),
        };
        match route
            .answered
            .iter_mut()
            .find(|(m, s, _)| m == method && *s == status)
        {
            Some((_, _, count)) => *count += 1,
            None => route.answered.push((method.clone(), status, 1)),
        }
        let histogram = &mut route.latency;
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            histogram.counts[bucket] += 1;
        }
        histogram.count += 1;
        histogram.sum += seconds;
    }
}

/// `/healthz`, `/readyz`, and `/metrics` unless it is served on an address of its own.
pub fn routes(with_metrics: bool) -> Router<AppState> {
    let routes = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    match with_metrics {
        true => routes.route("/metrics", get(metrics)),
        false => routes,
    }
}

/// `/metrics` alone, for `KEYWARDEN_METRICS_ADDR`.
pub fn metrics_routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// The process is up.
async fn healthz() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// The database answers and its migrations are current.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.keywarden.store().is_ready().await {
        Ok(true) => axum::Json(serde_json::json!({"status": "ready"})).into_response(),
        Ok(false) => not_ready("migrations are not current"),
        Err(err) => {
            tracing::warn!("readiness check: {err}");
            not_ready("the database does not answer")
        }
    }
}

fn not_ready(detail: &str) -> Response {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail).into_response()
}

/// Prometheus text format.
async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    {
        let metrics = state.ops.metrics.lock().unwrap_or_else(|e| e.into_inner());
        out.push_str(
            "# HELP keywarden_http_requests_total HTTP requests by route, method and status.\n",
        );
        out.push_str("# TYPE keywarden_http_requests_total counter\n");
        for (route, route_metrics) in &metrics.routes {
            let mut answered: Vec<_> = route_metrics.answered.iter().collect();
            answered.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
            for (method, status, count) in answered {
                let _ = writeln!(
                    out,
                    "keywarden_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP keywarden_http_request_duration_seconds Time to answer, by route.\n");
        out.push_str("# TYPE keywarden_http_request_duration_seconds histogram\n");
        for (route, route_metrics) in &metrics.routes {
            let histogram = &route_metrics.latency;
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "keywarden_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "keywarden_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 keywarden_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 keywarden_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                histogram.count, histogram.sum, histogram.count
            );
        }
        out.push_str("# HELP keywarden_http_requests_shed_total Requests refused with 503 because too many were in flight.\n");
        out.push_str("# TYPE keywarden_http_requests_shed_total counter\n");
        let _ = writeln!(out, "keywarden_http_requests_shed_total {}", metrics.shed);
    }
    out.push_str("# HELP keywarden_exchange_calls_total Calls to Binance by how they ended (after retries).\n");
    out.push_str("# TYPE keywarden_exchange_calls_total counter\n");
    for (outcome, count) in state.keywarden.exchange().call_counts() {
        let _ = writeln!(
            out,
            "keywarden_exchange_calls_total{{outcome=\"{outcome}\"}} {count}"
        );
    }
    out.push_str("# HELP keywarden_gateway_requests_total Gateway requests by bot config id and kind (read, order, refused).\n");
    out.push_str("# TYPE keywarden_gateway_requests_total counter\n");
    for ((bot, kind), count) in state.keywarden.gateway_requests() {
        let _ = writeln!(
            out,
            "keywarden_gateway_requests_total{{bot=\"{bot}\",kind=\"{kind}\"}} {count}"
        );
    }
    let (events, commits) = state.keywarden.store().order_events_written();
    out.push_str("# HELP keywarden_order_events_written_total Order events committed.\n");
    out.push_str("# TYPE keywarden_order_events_written_total counter\n");
    let _ = writeln!(out, "keywarden_order_events_written_total {events}");
    out.push_str("# HELP keywarden_order_event_commits_total Commits that wrote them: many events share one under load.\n");
    out.push_str("# TYPE keywarden_order_event_commits_total counter\n");
    let _ = writeln!(out, "keywarden_order_event_commits_total {commits}");
    out.push_str("# HELP keywarden_order_events_lost_total Order outcomes that could not be written after their answer (each logged).\n");
    out.push_str("# TYPE keywarden_order_events_lost_total counter\n");
    let lost = state.keywarden.store().order_events_lost();
    let _ = writeln!(out, "keywarden_order_events_lost_total {lost}");
    let (open, idle, max) = state.keywarden.store().pool_usage();
    out.push_str("# HELP keywarden_db_pool_connections Database pool connections by state.\n");
    out.push_str("# TYPE keywarden_db_pool_connections gauge\n");
    let _ = writeln!(
        out,
        "keywarden_db_pool_connections{{state=\"in_use\"}} {}\n\
         keywarden_db_pool_connections{{state=\"idle\"}} {idle}\n\
         keywarden_db_pool_connections{{state=\"max\"}} {max}",
        (open as usize).saturating_sub(idle)
    );
    let in_flight = state.ops.max_in_flight - state.ops.in_flight.available_permits();
    out.push_str("# HELP keywarden_http_requests_in_flight Requests being answered now.\n");
    out.push_str("# TYPE keywarden_http_requests_in_flight gauge\n");
    let _ = writeln!(out, "keywarden_http_requests_in_flight {in_flight}");
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
        .into_response()
}

/// The request with its body cut off at the limit as it is read (the extractors then answer
/// 413), or `None` if it announces a body over the limit.
/// The request with its whole body read, within `MAX_BODY_BYTES` and `timeout`, and refused
/// if its path, query or body holds a NUL character: no text with one goes further (PostgreSQL
/// refuses it in text, SQLite would keep it), whatever route or server function it is for.
async fn read_body(req: Request, timeout: Duration) -> Result<Request, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "request bodies are limited to {} bytes",
                crate::MAX_BODY_BYTES
            ),
        )
    };
    let announced = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > crate::MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let has_nul =
        |text: Option<&str>| text.is_some_and(|text| percent_encoded_nul(text.as_bytes()));
    if has_nul(Some(parts.uri.path())) || has_nul(parts.uri.query()) {
        return Err(nul_refused());
    }
    if body.size_hint().exact() == Some(0) {
        return Ok(Request::from_parts(parts, body));
    }
    let read = Limited::new(body, crate::MAX_BODY_BYTES).collect();
    let bytes = match tokio::time::timeout(timeout, read).await {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "the request body took too long to arrive",
            ));
        }
        Ok(Err(err)) if err.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Ok(Err(_)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the request body could not be read",
            ));
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let form = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if bytes.contains(&0) || json_escaped_nul(&bytes) || (form && percent_encoded_nul(&bytes)) {
        return Err(nul_refused());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

fn nul_refused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_error",
        "text may not contain a NUL character",
    )
}

/// `%00` anywhere (a path, a query, a form body).
fn percent_encoded_nul(text: &[u8]) -> bool {
    text.windows(3).any(|w| w == b"%00")
}

/// `\u0000` as a JSON escape: after an even number of backslashes (an odd one escapes it).
fn json_escaped_nul(text: &[u8]) -> bool {
    text.windows(6).enumerate().any(|(at, w)| {
        w.eq_ignore_ascii_case(b"\\u0000")
            && text[..at].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 0
    })
}

impl Ops {
    /// The request past the guard and the body limit, answered within the time limit, with
    /// the security headers.
    async fn answer(&self, mut req: Request, next: Next) -> Response {
        let is_api = req.uri().path().starts_with("/api/");
        let policy = match self.guard.admit(&mut req) {
            Ok(policy) => policy,
            Err(refused) => return ApiError::from(refused).into_response(),
        };
        let _slot = match self.per_address.take(&req) {
            Some(slot) => slot,
            None => {
                let mut busy = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    "too many requests in flight from your address; try again shortly",
                )
                .into_response();
                busy.headers_mut().insert(RETRY_AFTER, HeaderValue::from(1));
                self.guard.secure(is_api, policy, &mut busy);
                return busy;
            }
        };
        let mut response = match read_body(req, self.body_timeout).await {
            // What is left of the body is never read: the connection cannot carry another
            // request, and the client must not try it.
            Err(refused) => {
                let mut response = refused.into_response();
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
                response
            }
            Ok(req) => match tokio::time::timeout(self.request_timeout, next.run(req)).await {
                Ok(response) => response,
                Err(_) => ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request took too long to answer",
                )
                .into_response(),
            },
        };
        self.guard.secure(is_api, policy, &mut response);
        response
    }
}

/// A client's id if it is short and plain, else a new one.
fn request_id(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map(str::to_owned)
        .unwrap_or_else(new_request_id)
}

/// 16 hex digits: this process's random prefix and a counter. Ids only need to be unique
/// (across instances too, hence the prefix), not secret, so a request costs no system call.
fn new_request_id() -> String {
    static PROCESS: std::sync::LazyLock<u32> = std::sync::LazyLock::new(|| {
        let mut bytes = [0u8; 4];
        getrandom::getrandom(&mut bytes).expect("the OS random source works");
        u32::from_le_bytes(bytes)
    });
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{:08x}{n:08x}", *PROCESS)
}

/// What every request passes through, in this order: it gets an id (echoed in `X-Request-Id`
/// and carried by every log line written while it is answered); it is shed with 503 when too
/// many are in flight; the guard admits it (`guard`); its body is limited; it is answered
/// within the time limit, with the security headers; one line is logged for it (method,
/// route, path without the query, status, duration) and it is counted.
///
/// One middleware rather than one layer per concern: each layer clones the whole stack below
/// it and boxes another future for every request. Five layers were 49k of the 71k
/// instructions a `/healthz` took (callgrind).
pub async fn observe(State(ops): State<Arc<Ops>>, req: Request, next: Next) -> Response {
    let id = request_id(&req);
    let method = req.method().clone();
    // A Uri and a MatchedPath share their text with the request: no copy.
    let uri = req.uri().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let span = tracing::info_span!("request", id = %id);
    let started = Instant::now();
    let mut response = match ops.in_flight.try_acquire() {
        Ok(_permit) => ops.answer(req, next).instrument(span.clone()).await,
        Err(_) => {
            ops.metrics.lock().unwrap_or_else(|e| e.into_inner()).shed += 1;
            let detail = "the server is busy; try again shortly";
            let mut shed = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", detail)
                .into_response();
            shed.headers_mut().insert(RETRY_AFTER, HeaderValue::from(1));
            shed
        }
    };
    let elapsed = started.elapsed();
    let seconds = elapsed.as_secs_f64();
    let status = response.status().as_u16();
    let path = uri.path();
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            path = %path,
            status,
            ms = millis(elapsed),
            "request"
        )
    });
    let route = route.as_ref().map_or("other", MatchedPath::as_str);
    ops.record(route, &method, status, seconds);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// Milliseconds to the microsecond, so that the log shows `1.042`, not `1.1506349999999999`.
fn millis(elapsed: std::time::Duration) -> f64 {
    elapsed.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn nul_characters_are_found_however_they_are_written() {
        assert!(percent_encoded_nul(b"/api/v1/auth/sessions/%00"));
        assert!(!percent_encoded_nul(b"/api/v1/auth/sessions/%0a"));
        assert!(json_escaped_nul(br#"{"label":"a\u0000b"}"#));
        assert!(json_escaped_nul(br#"{"label":"\\\u0000"}"#));
        // An escaped backslash followed by the text "u0000" is no NUL.
        assert!(!json_escaped_nul(br#"{"label":"\\u0000"}"#));
        assert!(!json_escaped_nul(br#"{"label":"100%00"}"#));
    }

    #[test]
    fn durations_are_logged_in_milliseconds_to_the_microsecond() {
        let logged = |d| millis(d).to_string();
        assert_eq!(logged(Duration::from_nanos(1_150_634_999)), "1150.634");
        assert_eq!(logged(Duration::from_micros(1_042)), "1.042");
        assert_eq!(logged(Duration::from_micros(7)), "0.007");
        assert_eq!(logged(Duration::ZERO), "0");
    }
}
