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
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use ring::signature::{self, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::json;
use sha2::Sha256;

/// Binance's official HMAC example key pair (binance-signature-vectors.json), with balances.
pub const DEMO_API_KEY: &str = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A";
pub const DEMO_SECRET_KEY: &str =
    "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
/// Binance's published Ed25519 example key (its FIX Logon example) and that example's API key.
pub const DEMO_ED25519_API_KEY: &str =
    "sBRXrJx2DsOraMXOaUovEhgVRcjOvCtQwnWj8VxkOh1xqboS02SPGfKi2h8spZJb";
pub const DEMO_ED25519_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy+qa8WEf0lQOl1s4CLIAB9m89u\n-----END PRIVATE KEY-----\n";
/// Binance's RSA example API key, paired with a test key of ours (Binance never published its).
pub const DEMO_RSA_API_KEY: &str =
    "CAvIjXy3F44yW6Pou5k8Dy1swsYDWJZLeoK2r8G4cFDnE9nosRppc2eKc1T8TRTQ";
pub const DEMO_RSA_PRIVATE_KEY: &str = include_str!("../fixtures/rsa-2048-test-key.pem");

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

/// What the exchange checks a signature with.
#[derive(Clone)]
pub enum Credential {
    Hmac(String),
    /// The raw 32-byte public key.
    Ed25519(Vec<u8>),
    /// The public key as DER `RSAPublicKey`.
    Rsa(Vec<u8>),
}

/// What `GET /sapi/v1/account/apiRestrictions` reports.
#[derive(Clone, Debug)]
pub struct Restrictions {
    pub ip_restrict: bool,
    pub enable_reading: bool,
    pub enable_spot_and_margin_trading: bool,
    pub enable_withdrawals: bool,
    pub enable_futures: bool,
    pub enable_margin: bool,
}

impl Default for Restrictions {
    fn default() -> Self {
        Self {
            ip_restrict: false,
            enable_reading: true,
            enable_spot_and_margin_trading: true,
            enable_withdrawals: false,
            enable_futures: false,
            enable_margin: false,
        }
    }
}

#[derive(Clone)]
pub struct Account {
    pub credential: Credential,
    /// (asset, free, locked) exactly as Binance would print them.
    pub balances: Vec<(String, String, String)>,
    pub restrictions: Restrictions,
    /// When the key was created (ms); Binance's 30-day trading expiry counts from it.
    pub created_ms: i64,
}

impl Account {
    pub fn hmac(secret_key: &str) -> Self {
        Self::with(Credential::Hmac(secret_key.into()))
    }

    /// An Ed25519 or RSA account whose public key is taken from the PKCS#8 private key PEM.
    pub fn from_private_key_pem(pem: &str) -> Self {
        let der = pem_body(pem);
        let credential = match Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            Ok(key) => Credential::Ed25519(key.public_key().as_ref().to_vec()),
            Err(_) => {
                let key = RsaKeyPair::from_pkcs8(&der).expect("an Ed25519 or RSA PKCS#8 key");
                Credential::Rsa(key.public_key().as_ref().to_vec())
            }
        };
        Self::with(credential)
    }

    fn with(credential: Credential) -> Self {
        Self {
            credential,
            balances: vec![
                ("BTC".into(), "0.50000000".into(), "0.10000000".into()),
                ("ETH".into(), "0.00000000".into(), "0.00000000".into()),
                ("USDT".into(), "1000.00000000".into(), "0.00000000".into()),
            ],
            restrictions: Restrictions::default(),
            created_ms: now_ms(),
        }
    }

    pub fn with_restrictions(mut self, restrictions: Restrictions) -> Self {
        self.restrictions = restrictions;
        self
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    BASE64.decode(body.trim()).expect("PEM body is base64")
}

#[derive(Default)]
struct Inner {
    accounts: Mutex<HashMap<String, Account>>,
    fault: Mutex<Option<Fault>>,
    /// Faults for the next requests, one each, before `fault` applies again.
    next_faults: Mutex<std::collections::VecDeque<Fault>>,
    calls: AtomicUsize,
    /// Request weight used in the current minute: (Unix minute, weight), as Binance counts it.
    weight: Mutex<(i64, u32)>,
    /// Whether this is the spot testnet, which has no withdrawals yet answers
    /// `canWithdraw: true` for every account.
    testnet: bool,
}

impl Inner {
    /// Adds one account request's weight (20) to this minute's count and returns the count.
    fn add_weight(&self) -> u32 {
        let minute = now_ms() / 60_000;
        let mut weight = self.weight.lock().unwrap();
        if weight.0 != minute {
            *weight = (minute, 0);
        }
        weight.1 += 20;
        weight.1
    }

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
        Self::launch(addr, false).await
    }

    /// A fake of Binance's spot testnet: no `/sapi` endpoints, and an account read that says
    /// `canWithdraw: true` whatever the key may do, as the real testnet does.
    pub async fn start_testnet() -> std::io::Result<Self> {
        Self::launch("127.0.0.1:0".parse().expect("valid address"), true).await
    }

    async fn launch(addr: SocketAddr, testnet: bool) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner {
            testnet,
            ..Inner::default()
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut app = Router::new()
            .route("/api/v3/account", get(account))
            .route("/api/v3/time", get(server_time));
        if !testnet {
            app = app.route("/sapi/v1/account/apiRestrictions", get(api_restrictions));
        }
        let app = app.with_state(inner.clone());
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
        exchange.add_account(DEMO_API_KEY, Account::hmac(DEMO_SECRET_KEY));
        exchange.add_account(
            DEMO_ED25519_API_KEY,
            Account::from_private_key_pem(DEMO_ED25519_PRIVATE_KEY),
        );
        exchange.add_account(
            DEMO_RSA_API_KEY,
            Account::from_private_key_pem(DEMO_RSA_PRIVATE_KEY),
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
    inner.calls.fetch_add(1, Ordering::SeqCst);
    let mut used_weight = inner.add_weight();
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
            let too_many = "Too much request weight used; current limit is 6000 request weight \
                            per 1 MINUTE.";
            let rejection = Rejection(StatusCode::TOO_MANY_REQUESTS, -1003, too_many);
            return retry_after(rejection, seconds);
        }
        Some(Fault::Banned(seconds)) => {
            let banned = "Way too much request weight used; IP banned.";
            return retry_after(Rejection(StatusCode::IM_A_TEAPOT, -1003, banned), seconds);
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

fn retry_after(rejection: Rejection, seconds: u64) -> Response {
    let mut response = rejection.into_response();
    response.headers_mut().insert("retry-after", seconds.into());
    response
}

async fn api_restrictions(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let fault = inner.fault.lock().unwrap().clone();
    if let Some(Fault::ServerError) = fault {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "<html>Internal error</html>",
        )
            .into_response();
    }
    let query = query.unwrap_or_default();
    match check_signed_request(&inner, &headers, &query, inner.skew_ms()) {
        Ok(account) => {
            let r = &account.restrictions;
            let mut body = json!({
                "ipRestrict": r.ip_restrict,
                "createTime": account.created_ms,
                "enableReading": r.enable_reading,
                "enableSpotAndMarginTrading": r.enable_spot_and_margin_trading,
                "enableWithdrawals": r.enable_withdrawals,
                "enableInternalTransfer": false,
                "enableMargin": r.enable_margin,
                "enableFutures": r.enable_futures,
                "permitsUniversalTransfer": false,
                "enableVanillaOptions": false,
                "enableFixApiTrade": false,
                "enableFixReadOnly": false,
                "enablePortfolioMarginTrading": false,
            });
            // Binance takes trading away from unrestricted keys 30 days after creation.
            if !r.ip_restrict && r.enable_spot_and_margin_trading {
                body["tradingAuthorityExpirationTime"] =
                    json!(account.created_ms + 30 * 24 * 3600 * 1000);
            }
            axum::Json(body).into_response()
        }
        Err(rejection) => rejection.into_response(),
    }
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
                "canTrade": account.restrictions.enable_spot_and_margin_trading,
                "canWithdraw": inner.testnet || account.restrictions.enable_withdrawals,
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
    if !signature_matches(&account.credential, signed, signature) {
        return Err(Rejection(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        ));
    }
    Ok(account)
}

/// Checks the signature as Binance does: HMAC-SHA256 (hex, case-insensitive, constant-time),
/// or Ed25519 / RSA PKCS#1 v1.5 SHA-256 (base64, percent-encoded in the query), over the
/// query exactly as sent.
fn signature_matches(credential: &Credential, signed: &str, signature: &str) -> bool {
    match credential {
        Credential::Hmac(secret) => {
            let Ok(expected) = hex::decode(signature.to_ascii_lowercase()) else {
                return false;
            };
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
            mac.update(signed.as_bytes());
            mac.verify_slice(&expected).is_ok()
        }
        Credential::Ed25519(public) => verify(&signature::ED25519, public, signed, signature),
        Credential::Rsa(public) => verify(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            public,
            signed,
            signature,
        ),
    }
}

fn verify(
    algorithm: &'static dyn signature::VerificationAlgorithm,
    public: &[u8],
    signed: &str,
    signature: &str,
) -> bool {
    let Ok(raw) = BASE64.decode(percent_decode(signature)) else {
        return false;
    };
    signature::UnparsedPublicKey::new(algorithm, public)
        .verify(signed.as_bytes(), &raw)
        .is_ok()
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifies_binance_official_hmac_example() {
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        let demo = Credential::Hmac(DEMO_SECRET_KEY.into());
        assert!(signature_matches(&demo, payload, signature));
        assert!(signature_matches(&demo, payload, &signature.to_uppercase()));
        assert!(!signature_matches(
            &demo,
            &payload.replace("BUY", "SELL"),
            signature
        ));
        let other = Credential::Hmac("another-secret".into());
        assert!(!signature_matches(&other, payload, signature));
    }

    #[test]
    fn verifies_binance_official_ed25519_example() {
        let account = Account::from_private_key_pem(DEMO_ED25519_PRIVATE_KEY);
        let payload = "A\u{1}EXAMPLE\u{1}SPOT\u{1}1\u{1}20240627-11:17:25.223";
        let signature = "4MHXelVVcpkdwuLbl6n73HQUXUf1dse2PCgT1DYqW9w8AVZ1RACFGM%2B5UdlGPrQHrgtS3CvsRURC1oj73j8gCA%3D%3D";
        assert!(signature_matches(&account.credential, payload, signature));
        assert!(!signature_matches(&account.credential, "A", signature));
    }
}
