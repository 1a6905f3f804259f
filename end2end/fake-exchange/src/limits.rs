//! Binance's limits as the fake reports them: request weight per IP per minute
//! (`X-MBX-USED-WEIGHT-1M`, each endpoint's weight from rest-api.md) and the unfilled order
//! count per account (`X-MBX-ORDER-COUNT-10S` / `-1D`, `GET /api/v3/rateLimit/order`).

use std::collections::VecDeque;

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use crate::error::Rejection;
use crate::request::Params;

const REQUEST_WEIGHT_PER_MINUTE: u32 = 6000;
const ORDERS_PER_10_SECONDS: usize = 50;
const ORDERS_PER_DAY: usize = 160_000;
const TEN_SECONDS_MS: i64 = 10_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// exchangeInfo's `rateLimits`.
pub(crate) fn rate_limits() -> Value {
    json!([
        { "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": REQUEST_WEIGHT_PER_MINUTE },
        { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": ORDERS_PER_10_SECONDS },
        { "rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": ORDERS_PER_DAY },
        { "rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000 },
    ])
}

/// The request weight of an endpoint (rest-api.md); unknown paths weigh 1.
pub(crate) fn request_weight(method: &Method, path: &str, params: &Params) -> u32 {
    let has = |name: &str| params.get(name).is_some();
    let symbols_given = has("symbol") || has("symbols");
    match (method.as_str(), path) {
        ("GET", "/api/v3/account" | "/api/v3/exchangeInfo" | "/api/v3/allOrders") => 20,
        ("GET", "/api/v3/depth") => match params.get("limit").and_then(|l| l.parse::<u32>().ok()) {
            Some(1001..) => 250,
            Some(501..=1000) => 50,
            Some(101..=500) => 25,
            _ => 5,
        },
        ("GET", "/api/v3/trades") => 25,
        ("GET", "/api/v3/ticker/24hr") if symbols_given => 2,
        ("GET", "/api/v3/ticker/24hr") => 80,
        ("GET", "/api/v3/ticker/price" | "/api/v3/ticker/bookTicker") if has("symbol") => 2,
        ("GET", "/api/v3/ticker/price" | "/api/v3/ticker/bookTicker") => 4,
        ("GET", "/api/v3/klines" | "/api/v3/avgPrice") => 2,
        ("GET", "/api/v3/order") => 4,
        ("GET", "/api/v3/openOrders") if has("symbol") => 6,
        ("GET", "/api/v3/openOrders") => 80,
        ("GET", "/api/v3/myTrades") if has("orderId") => 5,
        ("GET", "/api/v3/myTrades") => 20,
        ("GET", "/api/v3/rateLimit/order") => 40,
        ("POST", "/api/v3/order/test") if params.get("computeCommissionRates") == Some("true") => {
            20
        }
        _ => 1,
    }
}

/// Orders an account placed, for the unfilled order count.
#[derive(Default, Clone)]
pub(crate) struct OrderCount {
    placed_ms: VecDeque<i64>,
    /// Neither counted nor reported (a benchmark's account).
    pub uncounted: bool,
}

impl OrderCount {
    /// Counts a new order, or refuses it (-1015, HTTP 429) past the 10-second or daily limit.
    pub fn count_new_order(&mut self, now_ms: i64) -> Result<(), Rejection> {
        if self.uncounted {
            return Ok(());
        }
        let (ten_seconds, day) = self.current(now_ms);
        let exceeded = if ten_seconds >= ORDERS_PER_10_SECONDS {
            Some((ORDERS_PER_10_SECONDS, "10 SECOND"))
        } else if day >= ORDERS_PER_DAY {
            Some((ORDERS_PER_DAY, "1 DAY"))
        } else {
            None
        };
        if let Some((limit, interval)) = exceeded {
            return Err(Rejection::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                -1015,
                format!("Too many new orders; current limit is {limit} orders per {interval}."),
            ));
        }
        self.placed_ms.push_back(now_ms);
        Ok(())
    }

    /// Orders in the last 10 seconds and in the last day.
    pub fn current(&mut self, now_ms: i64) -> (usize, usize) {
        while self
            .placed_ms
            .front()
            .is_some_and(|placed| now_ms - placed >= DAY_MS)
        {
            self.placed_ms.pop_front();
        }
        let ten_seconds = self
            .placed_ms
            .iter()
            .filter(|placed| now_ms - **placed < TEN_SECONDS_MS)
            .count();
        (ten_seconds, self.placed_ms.len())
    }

    pub fn add_headers(&mut self, response: &mut Response, now_ms: i64) {
        if self.uncounted {
            return;
        }
        let (ten_seconds, day) = self.current(now_ms);
        let headers = response.headers_mut();
        headers.insert("x-mbx-order-count-10s", ten_seconds.into());
        headers.insert("x-mbx-order-count-1d", day.into());
    }

    /// `GET /api/v3/rateLimit/order`.
    pub fn usage(&mut self, now_ms: i64) -> Value {
        let (ten_seconds, day) = self.current(now_ms);
        json!([
            { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": ORDERS_PER_10_SECONDS, "count": ten_seconds },
            { "rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": ORDERS_PER_DAY, "count": day },
        ])
    }
}
