//! The fake trades as Binance documents: signing over what is sent, query and body, orders
//! resting and filling, filters, balances and the matching engine's refusals.

mod common;

use std::time::Duration;

use common::{Client, encode, form, now_ms};
use fake_exchange::{
    Account, DEMO_API_KEY, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY, FakeExchange, Fault,
    OrderStatus, Restrictions,
};
use reqwest::{Method, StatusCode};
use serde_json::json;

const TRADER_KEY: &str = "TraderKey0000000000000000000000000000000000000000000000000000001";
const TRADER_SECRET: &str = "trader-secret";

/// An exchange with BTCUSDT at 65000 and a trader holding 1 BTC and 100000 USDT.
async fn exchange_with_trader() -> (FakeExchange, Client) {
    let exchange = FakeExchange::start().await.unwrap();
    exchange.add_account(
        TRADER_KEY,
        Account::hmac(TRADER_SECRET).with_balances([("BTC", "1"), ("USDT", "100000")]),
    );
    let client = Client::hmac(&exchange, TRADER_KEY, TRADER_SECRET);
    (exchange, client)
}

fn balance(exchange: &FakeExchange, asset: &str) -> (String, String) {
    let balance = exchange.balance(TRADER_KEY, asset);
    (balance.free.to_string(), balance.locked.to_string())
}

fn limit(
    side: &'static str,
    quantity: &'static str,
    price: &'static str,
) -> Vec<(&'static str, &'static str)> {
    vec![
        ("symbol", "BTCUSDT"),
        ("side", side),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", quantity),
        ("price", price),
    ]
}

#[tokio::test]
async fn signature_covers_the_percent_encoded_payload() {
    let (_exchange, client) = exchange_with_trader().await;
    // ':' and '/' are legal in a client order id and must be percent-encoded in the payload.
    let client_id = "grid:7/level.3_b-1";
    let mut params = limit("BUY", "0.01", "60000");
    params.push(("newClientOrderId", client_id));
    let placed = client.new_order(&params).await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    assert_eq!(placed.body["clientOrderId"], client_id);
    assert!(form(&params).contains("grid%3A7%2Flevel.3_b-1"));

    // Signed over the unencoded form but sent encoded: Binance refuses it since 2026-01-15.
    let body = format!("{}&timestamp={}", form(&params), now_ms()).replace("grid%3A7", "grid%3A8");
    let unencoded = body.replace("grid%3A8%2F", "grid:8/");
    assert_ne!(body, unencoded);
    let signature = client.sign(&unencoded);
    let refused = client
        .send_raw(
            Method::POST,
            "/api/v3/order",
            "",
            &format!("{body}&signature={signature}"),
        )
        .await;
    assert_eq!(refused.code(), Some(-1022), "{}", refused.body);

    let queried = client
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", client_id)],
            &[],
        )
        .await;
    assert_eq!(queried.body["clientOrderId"], client_id, "{}", queried.body);
    assert_eq!(queried.body["status"], "NEW");
}

#[tokio::test]
async fn parameters_split_between_query_and_body_are_signed_query_then_body() {
    let (exchange, client) = exchange_with_trader().await;
    let answer = client
        .signed(
            Method::POST,
            "/api/v3/order",
            &[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("quantity", "0.001"),
            ],
            // The query's quantity wins over the body's.
            &[
                ("timeInForce", "GTC"),
                ("quantity", "0.002"),
                ("price", "60000"),
            ],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["origQty"], "0.00100000");
    let orders = exchange.orders(TRADER_KEY);
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].orig_qty.to_string(), "0.00100000");

    // The body alone, the signature in the middle of nothing but the body.
    let body = format!(
        "{}&timestamp={}",
        form(&limit("SELL", "0.001", "70000")),
        now_ms()
    );
    let signature = client.sign(&body);
    let answer = client
        .send_raw(
            Method::POST,
            "/api/v3/order",
            "",
            &format!("{body}&signature={signature}"),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
}

#[tokio::test]
async fn limit_order_rests_with_funds_locked_then_fills_when_the_price_reaches_it() {
    let (exchange, client) = exchange_with_trader().await;
    let placed = client.new_order(&limit("BUY", "0.01", "64000")).await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    assert_eq!(placed.body["status"], "NEW");
    assert_eq!(placed.body["fills"], json!([]));
    assert!(placed.header("x-mbx-order-count-10s").is_some());
    assert!(placed.header("x-mbx-order-count-1d").is_some());
    assert_eq!(
        balance(&exchange, "USDT"),
        ("99360.00000000".into(), "640.00000000".into())
    );

    exchange.set_price("BTCUSDT", "64000.01");
    assert_eq!(exchange.orders(TRADER_KEY)[0].status, OrderStatus::New);
    let open = client
        .signed(
            Method::GET,
            "/api/v3/openOrders",
            &[("symbol", "BTCUSDT")],
            &[],
        )
        .await;
    assert_eq!(open.body.as_array().map(Vec::len), Some(1), "{}", open.body);

    exchange.set_price("BTCUSDT", "63990.00");
    let order = &exchange.orders(TRADER_KEY)[0];
    assert_eq!(order.status, OrderStatus::Filled);
    assert_eq!(
        order.cummulative_quote_qty.to_string(),
        "640.00000000",
        "fills at its own price"
    );
    assert_eq!(
        balance(&exchange, "USDT"),
        ("99360.00000000".into(), "0.00000000".into())
    );
    // 0.01 BTC less 0.1% commission.
    assert_eq!(balance(&exchange, "BTC").0, "1.00999000");

    let id = placed.body["orderId"].as_i64().unwrap().to_string();
    let trades = client
        .signed(
            Method::GET,
            "/api/v3/myTrades",
            &[("symbol", "BTCUSDT"), ("orderId", &id)],
            &[],
        )
        .await;
    assert_eq!(trades.body[0]["isMaker"], true, "{}", trades.body);
    assert_eq!(trades.body[0]["price"], "64000.00000000");
    assert_eq!(trades.body[0]["commissionAsset"], "BTC");
    let open = client
        .signed(Method::GET, "/api/v3/openOrders", &[], &[])
        .await;
    assert_eq!(open.body, json!([]));
}

#[tokio::test]
async fn market_orders_fill_at_the_current_price_by_quantity_or_quote_amount() {
    let (exchange, client) = exchange_with_trader().await;
    exchange.set_price("BTCUSDT", "65000.00");
    let by_quantity = client
        .new_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "0.001"),
        ])
        .await;
    assert_eq!(by_quantity.status, StatusCode::OK, "{}", by_quantity.body);
    assert_eq!(by_quantity.body["status"], "FILLED");
    assert_eq!(by_quantity.body["cummulativeQuoteQty"], "65.00000000");
    assert_eq!(
        by_quantity.body["fills"],
        json!([{
            "price": "65000.00000000",
            "qty": "0.00100000",
            "commission": "0.00000100",
            "commissionAsset": "BTC",
            "tradeId": by_quantity.body["fills"][0]["tradeId"],
        }])
    );
    assert_eq!(balance(&exchange, "USDT").0, "99935.00000000");

    // 100 USDT buys 0.00153846 BTC, rounded down to the 0.00001 step.
    let by_quote = client
        .new_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quoteOrderQty", "100"),
            ("newOrderRespType", "RESULT"),
        ])
        .await;
    assert_eq!(by_quote.status, StatusCode::OK, "{}", by_quote.body);
    assert_eq!(by_quote.body["executedQty"], "0.00153000");
    assert_eq!(by_quote.body["cummulativeQuoteQty"], "99.45000000");
    assert_eq!(by_quote.body["origQuoteOrderQty"], "100.00000000");
    assert!(by_quote.body.get("fills").is_none(), "RESULT has no fills");

    let sell = client
        .new_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "MARKET"),
            ("quoteOrderQty", "50"),
            ("newOrderRespType", "ACK"),
        ])
        .await;
    assert_eq!(sell.status, StatusCode::OK, "{}", sell.body);
    assert!(
        sell.body.get("status").is_none(),
        "ACK is short: {}",
        sell.body
    );
    let order = exchange.orders(TRADER_KEY).pop().unwrap();
    assert_eq!(order.executed_qty.to_string(), "0.00076000");
    // 0.00076 * 65000 = 49.4 USDT, less 0.1%.
    // 99935 - 99.45 + 49.4 - 0.0494
    assert_eq!(balance(&exchange, "USDT").0, "99884.90060000");
}

#[tokio::test]
async fn filters_refuse_orders_with_binance_codes() {
    let (exchange, client) = exchange_with_trader().await;
    let cases = [
        (
            limit("BUY", "0.01", "64000.001"),
            -1013,
            "Filter failure: PRICE_FILTER",
        ),
        (
            limit("BUY", "0.000015", "64000"),
            -1013,
            "Filter failure: LOT_SIZE",
        ),
        (
            limit("BUY", "0.00001", "64000"),
            -1013,
            "Filter failure: NOTIONAL",
        ),
        (
            limit("BUY", "0.01", "64000.000000001"),
            -1111,
            "Parameter 'price' has too much precision.",
        ),
        (
            limit("BUY", "1e-2", "64000"),
            -1100,
            "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        ),
        (
            limit("BUY", "0.01", "64000")[..5].to_vec(),
            -1102,
            "Mandatory parameter 'price' was not sent, was empty/null, or malformed.",
        ),
    ];
    for (params, code, msg) in cases {
        let answer = client.new_order(&params).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{params:?}");
        assert_eq!(
            answer.body,
            json!({ "code": code, "msg": msg }),
            "{params:?}"
        );
    }
    let unknown = client
        .new_order(&[
            ("symbol", "NOPE"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "1"),
        ])
        .await;
    assert_eq!(unknown.code(), Some(-1121));
    let extra = client
        .new_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "0.001"),
            ("colour", "red"),
        ])
        .await;
    assert_eq!(extra.code(), Some(-1104), "{}", extra.body);
    assert!(exchange.orders(TRADER_KEY).is_empty());
}

#[tokio::test]
async fn matching_engine_refuses_insufficient_balance_duplicates_and_takers() {
    let (exchange, client) = exchange_with_trader().await;
    let too_big = client.new_order(&limit("BUY", "2", "60000")).await;
    assert_eq!(
        too_big.body,
        json!({ "code": -2010, "msg": "Account has insufficient balance for requested action." })
    );
    let oversold = client.new_order(&limit("SELL", "1.5", "70000")).await;
    assert_eq!(oversold.code(), Some(-2010));

    let mut first = limit("BUY", "0.01", "60000");
    first.push(("newClientOrderId", "bot-1"));
    assert_eq!(client.new_order(&first).await.status, StatusCode::OK);
    let duplicate = client.new_order(&first).await;
    assert_eq!(
        duplicate.body,
        json!({ "code": -2010, "msg": "Duplicate order sent." })
    );
    let cancelled = client
        .signed(
            Method::DELETE,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("origClientOrderId", "bot-1")],
            &[],
        )
        .await;
    assert_eq!(cancelled.body["status"], "CANCELED", "{}", cancelled.body);
    assert_eq!(cancelled.body["origClientOrderId"], "bot-1");
    assert_eq!(
        balance(&exchange, "USDT"),
        ("100000.00000000".into(), "0.00000000".into())
    );
    assert_eq!(
        client.new_order(&first).await.status,
        StatusCode::OK,
        "reusable once closed"
    );

    let taker = client
        .new_order(&[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT_MAKER"),
            ("quantity", "0.01"),
            ("price", "66000"),
        ])
        .await;
    assert_eq!(
        taker.body,
        json!({ "code": -2010, "msg": "Order would immediately match and take." })
    );
    assert_eq!(
        exchange.orders(TRADER_KEY).len(),
        2,
        "refused orders are not held"
    );
}

#[tokio::test]
async fn unknown_orders_are_refused_on_cancel_and_query() {
    let (_exchange, client) = exchange_with_trader().await;
    let cancel = client
        .signed(
            Method::DELETE,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", "424242")],
            &[],
        )
        .await;
    assert_eq!(cancel.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        cancel.body,
        json!({ "code": -2011, "msg": "Unknown order sent." })
    );
    let query = client
        .signed(
            Method::GET,
            "/api/v3/order",
            &[("symbol", "BTCUSDT"), ("orderId", "424242")],
            &[],
        )
        .await;
    assert_eq!(
        query.body,
        json!({ "code": -2013, "msg": "Order does not exist." })
    );
    let none = client
        .signed(
            Method::DELETE,
            "/api/v3/openOrders",
            &[("symbol", "BTCUSDT")],
            &[],
        )
        .await;
    assert_eq!(none.code(), Some(-2011));
}

#[tokio::test]
async fn cancel_replace_swaps_an_order_or_reports_which_half_failed() {
    let (exchange, client) = exchange_with_trader().await;
    let placed = client.new_order(&limit("BUY", "0.01", "60000")).await;
    let id = placed.body["orderId"].as_i64().unwrap().to_string();
    let mut replace = limit("BUY", "0.02", "61000");
    replace.extend([
        ("cancelReplaceMode", "STOP_ON_FAILURE"),
        ("cancelOrderId", id.as_str()),
    ]);
    let swapped = client
        .signed(Method::POST, "/api/v3/order/cancelReplace", &[], &replace)
        .await;
    assert_eq!(swapped.status, StatusCode::OK, "{}", swapped.body);
    assert_eq!(swapped.body["cancelResponse"]["status"], "CANCELED");
    assert_eq!(swapped.body["newOrderResponse"]["status"], "NEW");
    assert_eq!(balance(&exchange, "USDT").1, "1220.00000000");

    // The same order again: already cancelled.
    let failed = client
        .signed(Method::POST, "/api/v3/order/cancelReplace", &[], &replace)
        .await;
    assert_eq!(failed.status, StatusCode::BAD_REQUEST);
    assert_eq!(failed.code(), Some(-2022));
    assert_eq!(failed.body["data"]["newOrderResult"], "NOT_ATTEMPTED");
    assert_eq!(failed.body["data"]["cancelResponse"]["code"], -2011);
    let mut allow = limit("BUY", "0.02", "61000");
    allow.extend([
        ("cancelReplaceMode", "ALLOW_FAILURE"),
        ("cancelOrderId", id.as_str()),
    ]);
    let half = client
        .signed(Method::POST, "/api/v3/order/cancelReplace", &[], &allow)
        .await;
    assert_eq!(half.status, StatusCode::CONFLICT, "{}", half.body);
    assert_eq!(half.body["code"], -2021);
    assert_eq!(half.body["data"]["newOrderResult"], "SUCCESS");
}

#[tokio::test]
async fn an_order_answered_late_was_placed_once() {
    let (exchange, client) = exchange_with_trader().await;
    exchange.fail_next_on(
        "POST",
        "/api/v3/order",
        [Fault::DelayAfterExecuting(Duration::from_secs(2))],
    );
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let body = format!(
        "{}&timestamp={}",
        form(&limit("BUY", "0.01", "60000")),
        now_ms()
    );
    let signature = client.sign(&body);
    let sent = impatient
        .post(format!("{}/api/v3/order", exchange.url()))
        .header("X-MBX-APIKEY", TRADER_KEY)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{body}&signature={signature}"))
        .send()
        .await;
    assert!(sent.unwrap_err().is_timeout());
    assert_eq!(
        exchange.orders(TRADER_KEY).len(),
        1,
        "the exchange placed it"
    );
    assert_eq!(exchange.request_count("POST", "/api/v3/order"), 1);
    assert_eq!(exchange.requests()[0].api_key.as_deref(), Some(TRADER_KEY));
}

#[tokio::test]
async fn trading_needs_a_key_allowed_to_trade() {
    let exchange = FakeExchange::start().await.unwrap();
    let read_only = "ReadOnly00000000000000000000000000000000000000000000000000000001";
    exchange.add_account(
        read_only,
        Account::hmac("read-only").with_restrictions(Restrictions {
            enable_spot_and_margin_trading: false,
            ..Restrictions::default()
        }),
    );
    let client = Client::hmac(&exchange, read_only, "read-only");
    let refused = client.new_order(&limit("BUY", "0.001", "60000")).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.code(), Some(-2015));
    let reading = client
        .signed(Method::GET, "/api/v3/openOrders", &[], &[])
        .await;
    assert_eq!(reading.status, StatusCode::OK);
    assert!(exchange.orders(read_only).is_empty());
}

#[tokio::test]
async fn ed25519_keys_sign_orders_in_the_body() {
    let exchange = FakeExchange::start().await.unwrap();
    let client = Client::ed25519(&exchange, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY);
    let placed = client.new_order(&limit("BUY", "0.001", "60000")).await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    assert_eq!(exchange.orders(DEMO_ED25519_API_KEY).len(), 1);
    assert!(exchange.orders(DEMO_API_KEY).is_empty());
}

#[tokio::test]
async fn every_answer_reports_used_weight_and_order_count() {
    let (exchange, client) = exchange_with_trader().await;
    let info = client
        .public("/api/v3/exchangeInfo", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(info.header("x-mbx-used-weight-1m"), Some("20"));
    let price = client
        .public("/api/v3/ticker/price", &[("symbol", "BTCUSDT")])
        .await;
    assert_eq!(price.header("x-mbx-used-weight-1m"), Some("22"));
    assert_eq!(
        price.body,
        json!({ "symbol": "BTCUSDT", "price": "65000.00000000" })
    );
    let symbols = encode(r#"["BTCUSDT","BNBBTC"]"#);
    let url = format!("{}/api/v3/ticker/price?symbols={symbols}", exchange.url());
    let both: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(both.as_array().map(Vec::len), Some(2), "{both}");
    client.new_order(&limit("BUY", "0.001", "60000")).await;
    let usage = client
        .signed(Method::GET, "/api/v3/rateLimit/order", &[], &[])
        .await;
    assert_eq!(usage.body[0]["count"], 1, "{}", usage.body);
    assert!(usage.header("x-mbx-used-weight-1m").is_some());
}
