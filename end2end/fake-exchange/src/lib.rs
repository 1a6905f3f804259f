//! A fake Binance spot API for tests: a real HTTP server on loopback that checks requests the
//! way Binance does (API-key header, timestamp and recvWindow, HMAC-SHA256 signature over the
//! query as sent) and answers with Binance's own error codes. Tests switch faults on at will.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

/// Binance's official HMAC example key pair (binance-signature-vectors.json), with balances.
pub const DEMO_API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
pub const DEMO_SECRET_KEY: &str =
    "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Wait this long before answering.
    Delay(Duration),
    /// Answer 500 with an HTML page.
    ServerError,
    /// Answer 200 with a body that is not JSON.
    Garbage,
    /// The exchange's clock runs this many milliseconds ahead of ours (negative: behind).
    ClockSkew(i64),
    /// Answer 429 with `Retry-After` (seconds), as Binance does past its rate limit.
    RateLimited(u64),
    /// Answer 418 with `Retry-After` (seconds): the IP is banned.
    Banned(u64),
    /// Start a 200 response and break the connection halfway through the body.
    ResetMidResponse,
    /// Report this much used request weight in `X-MBX-USED-WEIGHT-1M`.
    UsedWeight(u32),
}

#[derive(Clone)]
pub struct Account {
    pub secret_key: String,
    /// (asset, free, locked) exactly as Binance would print them.
    pub balances: Vec<(String, String, String)>,
}

#[derive(Default)]
struct Inner {
    accounts: Mutex<HashMap<String, Account>>,
    fault: Mutex<Option<Fault>>,
    /// Faults for the next requests, one each, before `fault` applies again.
    next_faults: Mutex<std::collections::VecDeque<Fault>>,
    calls: AtomicUsize,
}

impl Inner {
    fn current_fault(&self) -> Option<Fault> {
        let queued = self.next_faults.lock().unwrap().pop_front();
        queued.or_else(|| self.fault.lock().unwrap().clone())
    }

    fn skew_ms(&self) -> i64 {
        match *self.fault.lock().unwrap() {
            Some(Fault::ClockSkew(ms)) => ms,
            _ => 0,
        }
    }
}

/// A running fake exchange; it stops when the handle is dropped.
#[derive(Clone)]
pub struct FakeExchange {
    addr: SocketAddr,
    inner: Arc<Inner>,
    _shutdown: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl FakeExchange {
    /// Starts on an ephemeral loopback port with the demo account registered.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0".parse().expect("valid address")).await
    }

    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route("/api/v3/account", get(account))
            .route("/api/v3/time", get(server_time))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        let exchange = Self {
            addr,
            inner,
            _shutdown: Arc::new(shutdown),
        };
        exchange.add_account(
            DEMO_API_KEY,
            Account {
                secret_key: DEMO_SECRET_KEY.into(),
                balances: vec![
                    ("BTC".into(), "0.50000000".into(), "0.10000000".into()),
                    ("ETH".into(), "0.00000000".into(), "0.00000000".into()),
                    ("USDT".into(), "1000.00000000".into(), "0.00000000".into()),
                ],
            },
        );
        Ok(exchange)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn add_account(&self, api_key: &str, account: Account) {
        self.inner
            .accounts
            .lock()
            .unwrap()
            .insert(api_key.into(), account);
    }

    pub fn remove_account(&self, api_key: &str) {
        self.inner.accounts.lock().unwrap().remove(api_key);
    }

    /// A fault for every request from now on.
    pub fn set_fault(&self, fault: Fault) {
        *self.inner.fault.lock().unwrap() = Some(fault);
    }

    /// Faults for the next requests, one each; then the standing fault applies again.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner.next_faults.lock().unwrap().extend(faults);
    }

    /// How many signed account requests reached the exchange.
    pub fn calls(&self) -> usize {
        self.inner.calls.load(Ordering::SeqCst)
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// An error as Binance answers it: HTTP status, Binance code, message.
struct Rejection(StatusCode, i64, &'static str);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let Rejection(status, code, msg) = self;
        (status, axum::Json(json!({ "code": code, "msg": msg }))).into_response()
    }
}

async fn server_time(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(json!({ "serverTime": now_ms() + inner.skew_ms() })).into_response()
}

async fn account(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let call = inner.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let mut used_weight = (call as u32).saturating_mul(20);
    match inner.current_fault() {
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::ServerError) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "<html>Internal error</html>",
            )
                .into_response();
        }
        Some(Fault::Garbage) => return (StatusCode::OK, "<html>not json</html>").into_response(),
        Some(Fault::RateLimited(seconds)) => {
            let mut response = Rejection(
                StatusCode::TOO_MANY_REQUESTS,
                -1003,
                "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.",
            )
            .into_response();
            response.headers_mut().insert("retry-after", seconds.into());
            return response;
        }
        Some(Fault::Banned(seconds)) => {
            let mut response = Rejection(
                StatusCode::IM_A_TEAPOT,
                -1003,
                "Way too much request weight used; IP banned.",
            )
            .into_response();
            response.headers_mut().insert("retry-after", seconds.into());
            return response;
        }
        Some(Fault::ResetMidResponse) => {
            let chunks: Vec<Result<&'static str, std::io::Error>> = vec![
                Ok("{\"makerCommission\":10,\"balan"),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset",
                )),
            ];
            let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
            return (StatusCode::OK, [("content-type", "application/json")], body).into_response();
        }
        Some(Fault::UsedWeight(weight)) => used_weight = weight,
        Some(Fault::None | Fault::ClockSkew(_)) | None => {}
    }
    let skew_ms = inner.skew_ms();
    let mut response = account_response(&inner, &headers, query.as_deref().unwrap_or(""), skew_ms);
    response
        .headers_mut()
        .insert("x-mbx-used-weight-1m", used_weight.into());
    response
}

fn account_response(inner: &Inner, headers: &HeaderMap, query: &str, skew_ms: i64) -> Response {
    match check_signed_request(inner, headers, query, skew_ms) {
        Ok(account) => {
            let balances: Vec<_> = account
                .balances
                .iter()
                .map(|(asset, free, locked)| json!({ "asset": asset, "free": free, "locked": locked }))
                .collect();
            axum::Json(json!({
                "makerCommission": 10,
                "takerCommission": 10,
                "canTrade": true,
                "canWithdraw": false,
                "canDeposit": true,
                "accountType": "SPOT",
                "updateTime": now_ms(),
                "balances": balances,
                "permissions": ["SPOT"],
            }))
            .into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
}

/// Binance's checks for a SIGNED endpoint, in Binance's order.
fn check_signed_request(
    inner: &Inner,
    headers: &HeaderMap,
    query: &str,
    skew_ms: i64,
) -> Result<Account, Rejection> {
    let api_key = headers
        .get("X-MBX-APIKEY")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if api_key.len() != 64 || !api_key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Rejection(
            StatusCode::UNAUTHORIZED,
            -2014,
            "API-key format invalid.",
        ));
    }
    let Some(account) = inner.accounts.lock().unwrap().get(api_key).cloned() else {
        return Err(Rejection(
            StatusCode::UNAUTHORIZED,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ));
    };
    let params: HashMap<&str, &str> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let Some(timestamp) = params.get("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(Rejection(
            StatusCode::BAD_REQUEST,
            -1102,
            "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.",
        ));
    };
    let recv_window = params
        .get("recvWindow")
        .and_then(|w| w.parse::<i64>().ok())
        .unwrap_or(5000);
    let server_time = now_ms() + skew_ms;
    if timestamp >= server_time + 1000 || server_time - timestamp > recv_window {
        return Err(Rejection(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    let (signed, signature) = match query.rsplit_once("&signature=") {
        Some(parts) => parts,
        None => {
            return Err(Rejection(
                StatusCode::BAD_REQUEST,
                -1102,
                "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
            ));
        }
    };
    if !signature_matches(&account.secret_key, signed, signature) {
        return Err(Rejection(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    Ok(account)
}

/// HMAC-SHA256 over the query exactly as sent, compared in constant time; hex is
/// case-insensitive on Binance.
fn signature_matches(secret: &str, signed: &str, signature: &str) -> bool {
    let Ok(expected) = hex::decode(signature.to_ascii_lowercase()) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(signed.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_binance_official_hmac_example() {
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        assert!(signature_matches(DEMO_SECRET_KEY, payload, signature));
        assert!(signature_matches(
            DEMO_SECRET_KEY,
            payload,
            &signature.to_uppercase()
        ));
        assert!(!signature_matches(
            DEMO_SECRET_KEY,
            &payload.replace("BUY", "SELL"),
            signature
        ));
        assert!(!signature_matches("another-secret", payload, signature));
    }
}
