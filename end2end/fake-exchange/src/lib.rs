//! A fake Binance spot API for tests: a real HTTP server on loopback that checks requests the
//! way Binance does (API-key header, timestamp and recvWindow, signature over the query and
//! body as sent), trades on a market whose price the tests set, and answers with Binance's own
//! shapes and error codes. Tests switch faults on at will and can see every request it got.
//!
//! Modules by job: `auth` (signed-request checks), `request` (parameters), `account`
//! (accounts and balances), `market` (symbols, filters, market data), `orders` (placement,
//! matching, order endpoints), `limits` (weights and order counts), `faults`, `decimal`.

mod account;
mod auth;
mod decimal;
mod error;
mod faults;
mod limits;
mod market;
mod orders;
mod request;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use account::{Account, Balance, Restrictions};
pub use auth::Credential;
pub use decimal::{Amount, AmountError};
pub use faults::Fault;
pub use orders::{Order, OrderStatus, OrderType, Side, TimeInForce, Trade};

use account::AccountBook;
use error::Rejection;
use faults::FaultPlan;
use market::Market;
use request::{ApiRequest, Params};

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

/// A request as it reached the exchange, whatever the exchange then made of it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    /// The `X-MBX-APIKEY` header, if sent.
    pub api_key: Option<String>,
}

/// The exchange's books: accounts with their orders, and the market.
pub(crate) struct SharedState {
    accounts: HashMap<String, AccountBook>,
    market: Market,
    next_order_id: i64,
    next_cancel_id: i64,
    next_uid: i64,
    /// Whether this is the spot testnet, which has no withdrawals yet answers
    /// `canWithdraw: true` for every account.
    testnet: bool,
}

impl SharedState {
    fn next_cancel_id(&mut self) -> i64 {
        self.next_cancel_id += 1;
        self.next_cancel_id
    }
}

/// What a SIGNED endpoint needs of the key beyond a valid signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// Placing or cancelling orders: the key must have spot trading enabled.
    Trade,
    UserData,
}

/// The weight a fault makes the middleware report instead of the real count.
#[derive(Clone, Copy)]
struct ReportedWeight(u32);

pub(crate) struct Inner {
    state: Mutex<SharedState>,
    /// Faults of `GET /api/v3/account` (`set_fault`, `fail_next`); its standing clock skew
    /// and used weight apply to every endpoint.
    account_faults: Mutex<FaultPlan>,
    /// Faults of other endpoints, by `"METHOD /path"`.
    path_faults: Mutex<HashMap<String, FaultPlan>>,
    requests: Mutex<Vec<RecordedRequest>>,
    account_calls: AtomicUsize,
    /// Request weight used in the current minute: (Unix minute, weight), as Binance counts it.
    weight: Mutex<(i64, u32)>,
}

impl Inner {
    fn add_weight(&self, weight: u32) -> u32 {
        let minute = now_ms() / 60_000;
        let mut used = self.weight.lock().unwrap();
        if used.0 != minute {
            *used = (minute, 0);
        }
        used.1 += weight;
        used.1
    }

    fn standing_account_fault(&self) -> Option<Fault> {
        self.account_faults.lock().unwrap().standing.clone()
    }

    /// The exchange's clock, which a `ClockSkew` fault moves.
    fn server_time_ms(&self) -> i64 {
        match self.standing_account_fault() {
            Some(Fault::ClockSkew(ms)) => now_ms() + ms,
            _ => now_ms(),
        }
    }

    fn fault_for(&self, method: &str, path: &str) -> Option<Fault> {
        if (method, path) == ("GET", "/api/v3/account") {
            return self.account_faults.lock().unwrap().take();
        }
        let key = format!("{method} {path}");
        let fault = self
            .path_faults
            .lock()
            .unwrap()
            .get_mut(&key)
            .and_then(FaultPlan::take);
        // The key check has always failed along with the account read.
        if fault.is_none()
            && path == "/sapi/v1/account/apiRestrictions"
            && self.standing_account_fault() == Some(Fault::ServerError)
        {
            return Some(Fault::ServerError);
        }
        fault
    }

    /// Handles a request under its fault: answered instead, delayed before, or delayed after.
    async fn with_fault(
        &self,
        method: &str,
        path: &str,
        handle: impl FnOnce() -> Result<Response, Rejection>,
    ) -> Response {
        let fault = self.fault_for(method, path);
        if let Some(answer) = fault.as_ref().and_then(faults::answer_instead) {
            return answer;
        }
        if let Some(Fault::Delay(delay)) = fault {
            tokio::time::sleep(delay).await;
        }
        let mut response = handle().unwrap_or_else(IntoResponse::into_response);
        match fault {
            Some(Fault::DelayAfterExecuting(delay)) => tokio::time::sleep(delay).await,
            Some(Fault::UsedWeight(weight)) => {
                response.extensions_mut().insert(ReportedWeight(weight));
            }
            _ => {}
        }
        response
    }

    /// A public (NONE) endpoint answering JSON from the market.
    async fn serve_public(
        &self,
        path: &str,
        request: &ApiRequest,
        known: &[&str],
        answer: impl FnOnce(&Params, &Market, i64) -> Result<serde_json::Value, Rejection>,
    ) -> Response {
        self.with_fault("GET", path, || {
            let params = request.params()?;
            params.only(known)?;
            let now = self.server_time_ms();
            let state = self.state.lock().unwrap();
            Ok(axum::Json(answer(&params, &state.market, now)?).into_response())
        })
        .await
    }

    /// A SIGNED endpoint: authenticates, checks the key may do this, refuses unknown
    /// parameters, then hands the account's API key to `handle`.
    async fn serve_signed(
        &self,
        method: &str,
        path: &str,
        request: &ApiRequest,
        security: Security,
        known: &[&str],
        handle: impl FnOnce(&mut SharedState, &str, &Params, i64) -> Result<Response, Rejection>,
    ) -> Response {
        self.with_fault(method, path, || {
            let params = request.params()?;
            let now = self.server_time_ms();
            let mut state = self.state.lock().unwrap();
            let api_key = auth::authenticate(&state.accounts, request, &params, now)?;
            let may_trade = state.accounts[&api_key]
                .account
                .restrictions
                .enable_spot_and_margin_trading;
            if security == Security::Trade && !may_trade {
                return Err(Rejection::rejected_key());
            }
            params.only(known)?;
            handle(&mut state, &api_key, &params, now)
        })
        .await
    }
}

/// Records every request and reports the IP's used request weight on every answer, as
/// Binance does in `X-MBX-USED-WEIGHT-1M`.
async fn observe(State(inner): State<Arc<Inner>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, request::MAX_BODY_BYTES).await else {
        return Rejection::bad_request(-1000, "Request body too large.").into_response();
    };
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    let body_text = String::from_utf8_lossy(&bytes).into_owned();
    let params = Params::parse(&query, &body_text).unwrap_or_default();
    let used = inner.add_weight(limits::request_weight(&parts.method, &path, &params));
    inner.requests.lock().unwrap().push(RecordedRequest {
        method: parts.method.to_string(),
        path: path.clone(),
        query,
        body: body_text,
        api_key: parts
            .headers
            .get("X-MBX-APIKEY")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    });
    let mut response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    // /sapi reports its weights in other headers, which the fake does not model.
    if path.starts_with("/sapi/") {
        return response;
    }
    let reported = match (
        response.extensions().get::<ReportedWeight>(),
        inner.standing_account_fault(),
    ) {
        (Some(ReportedWeight(weight)), _) => *weight,
        (None, Some(Fault::UsedWeight(weight))) => weight,
        _ => used,
    };
    response
        .headers_mut()
        .insert("x-mbx-used-weight-1m", reported.into());
    response
}

/// A running fake exchange; it stops when the last handle is dropped.
#[derive(Clone)]
pub struct FakeExchange {
    addr: SocketAddr,
    inner: Arc<Inner>,
    _shutdown: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl FakeExchange {
    /// Starts on an ephemeral loopback port with the demo accounts registered.
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
            state: Mutex::new(SharedState {
                accounts: HashMap::new(),
                market: Market::new(now_ms()),
                next_order_id: 1,
                next_cancel_id: 0,
                next_uid: 354_937_868,
                testnet,
            }),
            account_faults: Mutex::default(),
            path_faults: Mutex::default(),
            requests: Mutex::default(),
            account_calls: AtomicUsize::new(0),
            weight: Mutex::default(),
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = router(testnet)
            .layer(middleware::from_fn_with_state(inner.clone(), observe))
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

    /// Registers an account (replacing one with the same key, its orders and trades).
    pub fn add_account(&self, api_key: &str, account: Account) {
        let mut state = self.inner.state.lock().unwrap();
        let uid = state.next_uid;
        state.next_uid += 1;
        state
            .accounts
            .insert(api_key.into(), AccountBook::new(account, uid));
    }

    /// For a benchmark: no request weight reported from now on, and the orders of the accounts
    /// registered now neither counted nor limited, so a run measures Keywarden rather than
    /// Binance's budgets.
    pub fn set_unmetered(&self) {
        self.set_fault(Fault::UsedWeight(0));
        let mut state = self.inner.state.lock().unwrap();
        for book in state.accounts.values_mut() {
            book.order_count.uncounted = true;
        }
    }

    pub fn remove_account(&self, api_key: &str) {
        self.inner.state.lock().unwrap().accounts.remove(api_key);
    }

    /// A fault for every `GET /api/v3/account` from now on (a clock skew or used weight,
    /// for every endpoint).
    pub fn set_fault(&self, fault: Fault) {
        self.inner.account_faults.lock().unwrap().standing = Some(fault);
    }

    /// Faults for the next `GET /api/v3/account` requests, one each; then the standing
    /// fault applies again.
    pub fn fail_next(&self, faults: impl IntoIterator<Item = Fault>) {
        self.inner
            .account_faults
            .lock()
            .unwrap()
            .next
            .extend(faults);
    }

    /// A fault for every `method path` request from now on (`Fault::None` to clear), e.g.
    /// `set_fault_on("POST", "/api/v3/order", Fault::ServerError)`.
    pub fn set_fault_on(&self, method: &str, path: &str, fault: Fault) {
        let mut faults = self.inner.path_faults.lock().unwrap();
        faults
            .entry(format!("{method} {path}"))
            .or_default()
            .standing = Some(fault);
    }

    /// Faults for the next `method path` requests, one each, e.g.
    /// `fail_next_on("POST", "/api/v3/order", [Fault::DelayAfterExecuting(30s)])`.
    pub fn fail_next_on(&self, method: &str, path: &str, faults: impl IntoIterator<Item = Fault>) {
        let mut plans = self.inner.path_faults.lock().unwrap();
        plans
            .entry(format!("{method} {path}"))
            .or_default()
            .next
            .extend(faults);
    }

    /// How many `GET /api/v3/account` requests reached the exchange.
    pub fn calls(&self) -> usize {
        self.inner.account_calls.load(Ordering::SeqCst)
    }

    /// Every request that reached the exchange, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.requests.lock().unwrap().clone()
    }

    /// How many `method path` requests reached the exchange, whatever it answered.
    pub fn request_count(&self, method: &str, path: &str) -> usize {
        let requests = self.inner.requests.lock().unwrap();
        requests
            .iter()
            .filter(|r| r.method == method && r.path == path)
            .count()
    }

    /// The market of `symbol` trades at `price` (e.g. `"65000.00"`); resting orders that
    /// price reaches fill. Panics on an unlisted symbol or an invalid price.
    pub fn set_price(&self, symbol: &str, price: &str) {
        let price: Amount = price
            .parse()
            .unwrap_or_else(|_| panic!("invalid price {price:?}"));
        let now = self.inner.server_time_ms();
        let mut state = self.inner.state.lock().unwrap();
        assert!(
            state.market.rules(symbol).is_some(),
            "{symbol} is not listed"
        );
        state.market.move_price(symbol, price, now);
        orders::fill_reached_orders(&mut state, symbol, price, now);
    }

    /// The last price of `symbol` (zero if unlisted).
    pub fn price(&self, symbol: &str) -> Amount {
        self.inner.state.lock().unwrap().market.price(symbol)
    }

    /// Every order the account placed, open or done, oldest first.
    pub fn orders(&self, api_key: &str) -> Vec<Order> {
        self.with_book(api_key, |book| book.orders.clone())
    }

    /// The account's trades, oldest first.
    pub fn trades(&self, api_key: &str) -> Vec<Trade> {
        self.with_book(api_key, |book| book.trades.clone())
    }

    pub fn balances(&self, api_key: &str) -> Vec<Balance> {
        self.with_book(api_key, |book| book.account.balances.clone())
    }

    /// The account's balance of `asset` (zero free and locked if it has none).
    pub fn balance(&self, api_key: &str, asset: &str) -> Balance {
        self.balances(api_key)
            .into_iter()
            .find(|b| b.asset == asset)
            .unwrap_or(Balance {
                asset: asset.into(),
                free: Amount::ZERO,
                locked: Amount::ZERO,
            })
    }

    fn with_book<T: Default>(&self, api_key: &str, read: impl FnOnce(&AccountBook) -> T) -> T {
        let state = self.inner.state.lock().unwrap();
        state.accounts.get(api_key).map(read).unwrap_or_default()
    }
}

fn router(testnet: bool) -> Router<Arc<Inner>> {
    let app = Router::new()
        .route("/api/v3/ping", get(market::ping))
        .route("/api/v3/time", get(market::server_time))
        .route("/api/v3/exchangeInfo", get(market::exchange_info))
        .route("/api/v3/depth", get(market::depth))
        .route("/api/v3/trades", get(market::recent_trades))
        .route("/api/v3/klines", get(market::klines))
        .route("/api/v3/avgPrice", get(market::avg_price))
        .route("/api/v3/ticker/price", get(market::ticker_price))
        .route("/api/v3/ticker/24hr", get(market::ticker_24hr))
        .route("/api/v3/ticker/bookTicker", get(market::book_ticker))
        .route("/api/v3/account", get(account::account))
        .route(
            "/api/v3/order",
            get(orders::query_order)
                .post(orders::new_order)
                .delete(orders::cancel_order),
        )
        .route("/api/v3/order/test", post(orders::test_order))
        .route("/api/v3/order/cancelReplace", post(orders::cancel_replace))
        .route(
            "/api/v3/openOrders",
            get(orders::open_orders).delete(orders::cancel_open_orders),
        )
        .route("/api/v3/allOrders", get(orders::all_orders))
        .route("/api/v3/myTrades", get(orders::my_trades))
        .route("/api/v3/rateLimit/order", get(orders::order_rate_limit));
    if testnet {
        app
    } else {
        app.route(
            "/sapi/v1/account/apiRestrictions",
            get(account::api_restrictions),
        )
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
