//! The signing gateway against the real server and the fake Binance, on both backends: a bot
//! token opens the gateway and nothing else, every refusal happens before anything is
//! forwarded, and each way a token stops working takes effect on the next request.

mod harness;

use harness::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    a_bot_reads_its_account_through_the_gateway_without_the_secret,
    refusals_never_reach_binance,
    each_way_a_token_ends_takes_effect_on_the_next_request,
    a_token_works_only_from_its_addresses_and_until_it_expires,
    orders_are_signed_with_the_stored_key_and_recorded,
    an_order_binance_does_not_answer_in_time_is_not_sent_again,
    a_bots_order_rate_is_limited,
    market_orders_are_sized_at_a_price_read_at_most_once_a_second,
    ccxt_trades_through_the_gateway,
    python_binance_trades_through_the_gateway,
    a_bot_sees_only_its_own_account_and_keeps_working_with_a_replaced_key,
    orders_are_held_before_binances_order_count_is_reached,
    the_owner_sees_each_bots_day_and_its_own_activity,
);

/// A user with the demo key and one bot trading BTCUSDT, and a token for it.
struct Bot {
    user: String,
    id: i64,
    token: String,
}

async fn bot(server: &TestServer, email: &str, policy: Value) -> Bot {
    let user = server.user(email).await;
    server.add_demo_key(&user).await;
    let mut config = json!({"name": "grid", "symbol": "BTCUSDT"});
    config
        .as_object_mut()
        .unwrap()
        .extend(policy.as_object().unwrap().clone());
    let (status, bot) = server.post("/api/v1/bot-configs", &user, config).await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    let id = bot["id"].as_i64().unwrap();
    let token = issue_token(server, &user, id, json!({})).await;
    Bot { user, id, token }
}

async fn issue_token(server: &TestServer, user: &str, bot: i64, body: Value) -> String {
    let path = format!("/api/v1/bot-configs/{bot}/tokens");
    let (status, issued) = server.post(&path, user, body).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    harness::secret(&token);
    token
}

/// A request as a Binance client sends it: `X-MBX-APIKEY`, parameters in the query (and a
/// form body for POST), its own timestamp and a signature Keywarden drops.
async fn gateway(
    server: &TestServer,
    method: Method,
    path_and_query: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    gateway_with_body(server, method, path_and_query, token, "").await
}

async fn gateway_with_body(
    server: &TestServer,
    method: Method,
    path_and_query: &str,
    token: Option<&str>,
    form: &str,
) -> (StatusCode, Value) {
    let url = server.url(&format!("/gateway/binance{path_and_query}"));
    let mut request = server.http.request(method, url);
    if let Some(token) = token {
        request = request.header("X-MBX-APIKEY", token);
    }
    if !form.is_empty() {
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn assert_refused(answer: &(StatusCode, Value), status: StatusCode, code: i64) {
    assert_eq!(answer.0, status, "{}", answer.1);
    assert_eq!(answer.1["code"], code, "{}", answer.1);
    assert!(answer.1["msg"].as_str().is_some_and(|m| !m.is_empty()));
}

const ACCOUNT: &str = "/api/v3/account?timestamp=1&signature=anything";

async fn a_bot_reads_its_account_through_the_gateway_without_the_secret(backend: Backend) {
    let server = TestServer::start(backend).await;
    let bot = bot(&server, "ann@example.com", json!({})).await;
    let (status, account) = gateway(&server, Method::GET, ACCOUNT, Some(&bot.token)).await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert!(account["balances"].is_array(), "{account}");
    let (status, time) = gateway(&server, Method::GET, "/api/v3/time", Some(&bot.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(time["serverTime"].is_i64());

    let answer = gateway(
        &server,
        Method::GET,
        "/sapi/v1/asset/get-funding-asset",
        Some(&bot.token),
    )
    .await;
    assert_refused(&answer, StatusCode::FORBIDDEN, -7010);
    // Reads are not audited, but counted per bot.
    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (kind, count) in [("read", 2), ("refused", 1)] {
        let line = format!(
            "keywarden_gateway_requests_total{{bot=\"{}\",kind=\"{kind}\"}} {count}",
            bot.id
        );
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
    let tokens = format!("/api/v1/bot-configs/{}/tokens", bot.id);
    let (_, listed) = server.get(&tokens, &bot.user).await;
    assert!(listed[0]["last_used_at"].is_string(), "{listed}");
    assert_eq!(listed[0]["last_ip"], "127.0.0.1");
    server.finish().await;
}

async fn refusals_never_reach_binance(backend: Backend) {
    let server = TestServer::start(backend).await;
    let bot = bot(
        &server,
        "ben@example.com",
        json!({"order_types": ["LIMIT"],
        "max_order_notional": "100"}),
    )
    .await;
    let before = server.exchange.calls();
    let token = Some(bot.token.as_str());
    let answer = gateway(&server, Method::GET, ACCOUNT, None).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7001);
    let answer = gateway(&server, Method::GET, ACCOUNT, Some("kwb_notatoken")).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7002);
    // The user's own access token is no gateway credential, and a bot token opens no route.
    let answer = gateway(&server, Method::GET, ACCOUNT, Some(&bot.user)).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7002);
    let (status, _) = server.get("/api/v1/bot-configs", &bot.token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    for (method, path) in [
        (
            Method::POST,
            "/sapi/v1/capital/withdraw/apply?coin=BTC&amount=1&address=x",
        ),
        (
            Method::POST,
            "/sapi/v1/asset/transfer?type=MAIN_UMFUTURE&asset=USDT&amount=1",
        ),
        (Method::POST, "/api/v3/userDataStream"),
        (Method::GET, "/sapi/v1/account/apiRestrictions"),
        (Method::POST, "/sapi/v1/margin/order?symbol=BTCUSDT"),
    ] {
        let answer = gateway(&server, method, path, token).await;
        assert_refused(&answer, StatusCode::FORBIDDEN, -7010);
    }
    let answer = gateway(
        &server,
        Method::GET,
        "/api/v3/openOrders?symbol=ETHUSDT",
        token,
    )
    .await;
    assert_refused(&answer, StatusCode::FORBIDDEN, -7011);
    let market = "/api/v3/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=1";
    let answer = gateway(&server, Method::POST, market, token).await;
    assert_refused(&answer, StatusCode::FORBIDDEN, -7012);
    let large = "/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC\
                 &quantity=0.01&price=10000.00000001";
    let answer = gateway(&server, Method::POST, large, token).await;
    assert_refused(&answer, StatusCode::FORBIDDEN, -7013);
    assert!(answer.1["msg"].as_str().unwrap().contains("100"));
    let no_quantity = "/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&price=1";
    let answer = gateway(&server, Method::POST, no_quantity, token).await;
    assert_refused(&answer, StatusCode::FORBIDDEN, -7014);
    let twice = "/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC\
                 &quantity=0.001&price=60000&quantity=100";
    let answer = gateway(&server, Method::POST, twice, token).await;
    assert_refused(&answer, StatusCode::FORBIDDEN, -7020);
    let elsewhere = "/api/v3/order?symbol=ETHUSDT&side=BUY&type=LIMIT&timeInForce=GTC\
                     &quantity=0.01&price=3000";
    let answer = gateway(&server, Method::POST, elsewhere, token).await;
    assert_refused(&answer, StatusCode::FORBIDDEN, -7011);
    assert_eq!(server.exchange.calls(), before, "nothing was forwarded");

    // Each refused order is in the owner's audit trail, with what was asked.
    let (_, page) = server.get("/api/v1/audit?limit=5", &bot.user).await;
    let events = page["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .all(|e| e["action"] == "order.place" && e["outcome"] == "failure")
    );
    let codes: Vec<&str> = events
        .iter()
        .map(|e| e["error_code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "symbol_not_allowed",
            "duplicate_parameter",
            "order_size_unknown",
            "order_too_large",
            "order_type_not_allowed"
        ]
    );
    assert_eq!(events[3]["bot_config_id"], bot.id);
    assert_eq!(events[3]["detail"]["price"], "10000.00000001");
    assert_eq!(events[3]["detail"]["bot"], "grid");
    server.finish().await;
}

async fn each_way_a_token_ends_takes_effect_on_the_next_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let bot = bot(&server, "cat@example.com", json!({})).await;
    let token = Some(bot.token.as_str());
    let works = async || {
        let (status, body) = gateway(&server, Method::GET, ACCOUNT, token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    works().await;

    let path = format!("/api/v1/bot-configs/{}", bot.id);
    let change = |enabled: bool| json!({"enabled": enabled});
    server
        .call(Method::PATCH, &path, Some(&bot.user), Some(change(false)))
        .await;
    let answer = gateway(&server, Method::GET, ACCOUNT, token).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7008);
    server
        .call(Method::PATCH, &path, Some(&bot.user), Some(change(true)))
        .await;
    works().await;

    server
        .post("/api/v1/bot-configs/pause-all", &bot.user, json!({}))
        .await;
    let answer = gateway(&server, Method::GET, ACCOUNT, token).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7009);
    server
        .post("/api/v1/bot-configs/resume-all", &bot.user, json!({}))
        .await;
    works().await;

    // Binance refuses the key at its next check: the key is marked invalid.
    server.exchange.remove_account(fake_exchange::DEMO_API_KEY);
    let (status, _) = server
        .post("/api/v1/api-keys/me/validate", &bot.user, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let answer = gateway(&server, Method::GET, ACCOUNT, token).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7007);
    server.exchange.add_account(
        fake_exchange::DEMO_API_KEY,
        fake_exchange::Account::hmac(fake_exchange::DEMO_SECRET_KEY),
    );

    // Replaced by a testnet key: the token was issued for mainnet.
    let testnet_key = "T".repeat(64);
    server
        .testnet
        .add_account(&testnet_key, fake_exchange::Account::hmac("testnet-secret"));
    harness::secret(&testnet_key);
    let replacement = json!({"api_key": testnet_key, "secret_key": "testnet-secret",
                             "environment": "testnet"});
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/api-keys/me",
            Some(&bot.user),
            Some(replacement),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = gateway(&server, Method::GET, ACCOUNT, token).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7007);
    // A new token works with the testnet key, and reads the testnet.
    let testnet_token = issue_token(&server, &bot.user, bot.id, json!({})).await;
    let before = server.testnet.calls();
    let (status, _) = gateway(&server, Method::GET, ACCOUNT, Some(&testnet_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.testnet.calls(), before + 1);

    // Revoked, then the user deactivated, then the key deleted (its bots and tokens go).
    let tokens = format!("/api/v1/bot-configs/{}/tokens", bot.id);
    let (_, list) = server.get(&tokens, &bot.user).await;
    let testnet_id = list.as_array().unwrap().last().unwrap()["id"].clone();
    let other_token = issue_token(&server, &bot.user, bot.id, json!({})).await;
    server
        .delete(&format!("{tokens}/{testnet_id}"), &bot.user)
        .await;
    let answer = gateway(&server, Method::GET, ACCOUNT, Some(&testnet_token)).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7003);
    let (status, _) = gateway(&server, Method::GET, ACCOUNT, Some(&other_token)).await;
    assert_eq!(status, StatusCode::OK);
    server.delete("/api/v1/api-keys/me", &bot.user).await;
    let answer = gateway(&server, Method::GET, ACCOUNT, Some(&other_token)).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7002);

    let second = bot_for_deactivation(&server).await;
    server.deactivate_user("dee@example.com");
    let answer = gateway(&server, Method::GET, ACCOUNT, Some(&second)).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7006);
    server.finish().await;
}

async fn bot_for_deactivation(server: &TestServer) -> String {
    let bot = bot(server, "dee@example.com", json!({})).await;
    let (status, _) = gateway(server, Method::GET, ACCOUNT, Some(&bot.token)).await;
    assert_eq!(status, StatusCode::OK);
    bot.token
}

async fn a_token_works_only_from_its_addresses_and_until_it_expires(backend: Backend) {
    let server = TestServer::start(backend).await;
    let bot = bot(&server, "eve@example.com", json!({})).await;
    let elsewhere = issue_token(
        &server,
        &bot.user,
        bot.id,
        json!({"allowed_ips": ["203.0.113.0/24"]}),
    )
    .await;
    let answer = gateway(&server, Method::GET, ACCOUNT, Some(&elsewhere)).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7005);
    let here = issue_token(
        &server,
        &bot.user,
        bot.id,
        json!({"allowed_ips": ["127.0.0.1"],
        "expires_in_days": 1}),
    )
    .await;
    let (status, _) = gateway(&server, Method::GET, ACCOUNT, Some(&here)).await;
    assert_eq!(status, StatusCode::OK);
    server.clock.advance(chrono::Duration::days(1));
    let answer = gateway(&server, Method::GET, ACCOUNT, Some(&here)).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, -7004);
    server.finish().await;
}

/// The outcomes of the bot owner's order events, oldest first.
async fn order_outcomes(server: &TestServer, user: &str) -> Vec<(String, String)> {
    let (_, page) = server.get("/api/v1/audit?limit=200", user).await;
    let mut events: Vec<(String, String)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"].as_str().unwrap().starts_with("order."))
        .map(|e| {
            let action = e["action"].as_str().unwrap().to_owned();
            (action, e["outcome"].as_str().unwrap().to_owned())
        })
        .collect();
    events.reverse();
    events
}

/// A server whose exchange prices BTCUSDT at 65,000, and a bot whose orders may be worth up to
/// 100 USDT.
async fn bot_of_100_at_65000(backend: Backend, email: &str) -> (TestServer, Bot) {
    let server = TestServer::start(backend).await;
    let bot = bot(&server, email, json!({"max_order_notional": "100"})).await;
    server.exchange.set_price("BTCUSDT", "65000.00");
    (server, bot)
}

async fn orders_are_signed_with_the_stored_key_and_recorded(backend: Backend) {
    let (server, bot) = bot_of_100_at_65000(backend, "fay@example.com").await;
    let token = Some(bot.token.as_str());

    // A LIMIT buy, its parameters split between the query and a form body, with a client order
    // id that needs percent-encoding and the client's own (dropped) signature.
    let (status, placed) = gateway_with_body(
        &server,
        Method::POST,
        "/api/v3/order?symbol=BTCUSDT&side=BUY&timestamp=1&signature=bogus",
        token,
        "type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000.00&newClientOrderId=grid%2F1%3Aa",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{placed}");
    assert_eq!(placed["clientOrderId"], "grid/1:a");
    assert_eq!(placed["status"], "NEW");
    let order_id = placed["orderId"].as_i64().unwrap();
    let sent = server.exchange.requests().last().unwrap().clone();
    assert_eq!(sent.api_key.as_deref(), Some(fake_exchange::DEMO_API_KEY));
    let payload = format!("{}{}", sent.query, sent.body);
    assert!(
        !payload.contains("bogus") && !payload.contains("timestamp=1&"),
        "{payload}"
    );
    assert!(
        payload.contains("newClientOrderId=grid%2F1%3Aa"),
        "{payload}"
    );

    let lookup = format!("/api/v3/order?symbol=BTCUSDT&orderId={order_id}");
    let (status, found) = gateway(&server, Method::GET, &lookup, token).await;
    assert_eq!(
        (status, &found["orderId"]),
        (StatusCode::OK, &placed["orderId"])
    );
    let (_, open) = gateway(&server, Method::GET, "/api/v3/openOrders", token).await;
    assert_eq!(open.as_array().unwrap().len(), 1, "{open}");
    let (status, cancelled) = gateway(&server, Method::DELETE, &lookup, token).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "CANCELED");

    // MARKET by quantity is sized at the last price: 0.0015 × 65,000 = 97.5 fits, 0.002 not.
    let market = |quantity: &str| {
        format!("/api/v3/order?symbol=BTCUSDT&side=BUY&type=MARKET&quantity={quantity}")
    };
    let (status, filled) = gateway(&server, Method::POST, &market("0.0015"), token).await;
    assert_eq!(status, StatusCode::OK, "{filled}");
    assert_eq!(filled["status"], "FILLED");
    assert!(filled["clientOrderId"].as_str().unwrap().starts_with("kw-"));
    let answer = gateway(&server, Method::POST, &market("0.002"), token).await;
    assert_refused(&answer, StatusCode::FORBIDDEN, -7013);
    let (status, tested) = gateway(
        &server,
        Method::POST,
        "/api/v3/order/test?symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC\
         &quantity=0.001&price=70000",
        token,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tested}");

    // Binance's own refusal comes back as Binance sent it, and is recorded.
    let (status, refused) = gateway(
        &server,
        Method::POST,
        "/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001\
         &price=60000.001",
        token,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], -1013);

    assert_eq!(
        order_outcomes(&server, &bot.user).await,
        [
            ("order.place", "attempt"),
            ("order.place", "success"),
            ("order.cancel", "attempt"),
            ("order.cancel", "success"),
            ("order.place", "attempt"),
            ("order.place", "success"),
            ("order.place", "failure"),
            ("order.place", "attempt"),
            ("order.place", "failure"),
        ]
        .map(|(a, o)| (a.to_owned(), o.to_owned()))
    );
    let (_, page) = server.get("/api/v1/audit?limit=200", &bot.user).await;
    let placed_event = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["action"] == "order.place" && e["outcome"] == "success")
        .unwrap()
        .clone();
    assert_eq!(placed_event["detail"]["order_id"], order_id);
    assert_eq!(placed_event["detail"]["client_order_id"], "grid/1:a");
    assert_eq!(placed_event["detail"]["side"], "BUY");
    let last = &page["events"][0];
    assert_eq!(last["detail"]["binance_code"], -1013);
    server.finish().await;
}

async fn an_order_binance_does_not_answer_in_time_is_not_sent_again(backend: Backend) {
    let timeout = std::collections::HashMap::from([("BINANCE_TIMEOUT_MS", "400".to_owned())]);
    let server = TestServer::start_with(backend, timeout).await;
    let bot = bot(&server, "gus@example.com", json!({})).await;
    server.exchange.fail_next_on(
        "POST",
        "/api/v3/order",
        [fake_exchange::Fault::DelayAfterExecuting(
            std::time::Duration::from_secs(2),
        )],
    );
    let order = "/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC\
                 &quantity=0.001&price=60000&newClientOrderId=slow-1";
    let answer = gateway(&server, Method::POST, order, Some(&bot.token)).await;
    assert_refused(&answer, StatusCode::GATEWAY_TIMEOUT, -7018);
    assert!(
        answer.1["msg"].as_str().unwrap().contains("slow-1"),
        "{}",
        answer.1
    );
    assert_eq!(server.exchange.request_count("POST", "/api/v3/order"), 1);
    // It was placed: the bot finds it by its client order id.
    let lookup = "/api/v3/order?symbol=BTCUSDT&origClientOrderId=slow-1";
    let (status, found) = gateway(&server, Method::GET, lookup, Some(&bot.token)).await;
    assert_eq!(
        (status, &found["status"]),
        (StatusCode::OK, &json!("NEW")),
        "{found}"
    );
    let outcomes = order_outcomes(&server, &bot.user).await;
    assert_eq!(outcomes.last().unwrap().1, "unknown");
    server.finish().await;
}

async fn a_bots_order_rate_is_limited(backend: Backend) {
    let server = TestServer::start(backend).await;
    let bot = bot(&server, "hal@example.com", json!({"orders_per_minute": 2})).await;
    let order = |n: u32| {
        format!(
            "/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001\
             &price=6000{n}"
        )
    };
    for n in 0..2 {
        let (status, body) = gateway(&server, Method::POST, &order(n), Some(&bot.token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let url = server.url(&format!("/gateway/binance{}", order(3)));
    let response = server
        .http
        .post(url)
        .header("X-MBX-APIKEY", &bot.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "60");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], -7015);
    assert_eq!(server.exchange.request_count("POST", "/api/v3/order"), 2);
    // Another instance on the same database counts the same orders.
    let mut server = server;
    let other = server.start_another_instance().await;
    let response = server
        .http
        .post(format!("{other}/gateway/binance{}", order(5)))
        .header("X-MBX-APIKEY", &bot.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(server.exchange.request_count("POST", "/api/v3/order"), 2);
    // A minute later the bot may place orders again.
    server.clock.advance(chrono::Duration::seconds(61));
    let (status, body) = gateway(&server, Method::POST, &order(4), Some(&bot.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.finish().await;
}

/// A MARKET order by quantity is sized at the last price, read at most once a second and one
/// read at a time: an order that finds it over a second old is sized at it and reads the next
/// behind its answer, and once it is two seconds old orders wait for the next.
async fn market_orders_are_sized_at_a_price_read_at_most_once_a_second(backend: Backend) {
    let (server, bot) = bot_of_100_at_65000(backend, "ivy@example.com").await;
    let token = Some(bot.token.as_str());
    // 0.0015 × 65,000 = 97.5 fits; at 130,000 it would not.
    let order = "/api/v3/order/test?symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.0015";
    let orders_at_once = |count: usize| {
        futures_util::future::join_all(
            (0..count).map(|_| gateway(&server, Method::POST, order, token)),
        )
    };
    let price_reads = || server.exchange.request_count("GET", "/api/v3/ticker/price");
    let all_placed = |answers: Vec<(StatusCode, Value)>| {
        for (status, body) in answers {
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    all_placed(orders_at_once(8).await);
    assert_eq!(price_reads(), 1, "eight orders at once read the price once");
    server.exchange.set_price("BTCUSDT", "130000.00");
    all_placed(orders_at_once(1).await);

    // Over a second old: the order that finds it so is sized at it, and reads the next behind.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    all_placed(orders_at_once(1).await);
    let mut refused = None;
    for _ in 0..50 {
        let answer = gateway(&server, Method::POST, order, token).await;
        if answer.0 != StatusCode::OK {
            refused = Some(answer);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let refused = refused.expect("orders are sized at the price read behind them");
    assert_refused(&refused, StatusCode::FORBIDDEN, -7013);
    assert_eq!(
        price_reads(),
        2,
        "the price is read once behind the answers"
    );

    server.exchange.set_price("BTCUSDT", "65000.00");
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    all_placed(orders_at_once(4).await);
    assert_eq!(
        price_reads(),
        3,
        "orders that wait for the price read it once"
    );
    server.finish().await;
}

/// ccxt from PyPI (installed by `.ci/setup test` into `.tools/venv`), pointed at the gateway
/// with a bot token: markets, balance, a limit and a market order, open orders, a lookup, a
/// cancel, trades; and a clean ccxt exception with Keywarden's message for a wrong symbol, an
/// oversized order, a disallowed endpoint and a revoked token.
async fn ccxt_trades_through_the_gateway(backend: Backend) {
    trade_with_a_python_client(backend, "ccxt_client.py", "BTC/USDT").await;
}

/// python-binance from PyPI, configured as the README shows: the same trading round, and a
/// `BinanceAPIException` with Keywarden's code and message for each refusal.
async fn python_binance_trades_through_the_gateway(backend: Backend) {
    trade_with_a_python_client(backend, "python_binance_client.py", "BTCUSDT").await;
}

/// Runs one of `end2end/gateway`'s client scripts against the gateway with a bot (orders up
/// to 100 USDT) and a revoked token of it; `symbol` is the bot's market as the client names it.
async fn trade_with_a_python_client(backend: Backend, script: &str, symbol: &str) {
    let server = TestServer::start(backend).await;
    let bot = bot(
        &server,
        "ivy@example.com",
        json!({"max_order_notional": "100"}),
    )
    .await;
    let revoked = issue_token(&server, &bot.user, bot.id, json!({})).await;
    let tokens = format!("/api/v1/bot-configs/{}/tokens", bot.id);
    let (_, list) = server.get(&tokens, &bot.user).await;
    let revoked_id = list.as_array().unwrap().last().unwrap()["id"].clone();
    server
        .delete(&format!("{tokens}/{revoked_id}"), &bot.user)
        .await;
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.tools/venv/bin/python");
    let script = format!("{}/../end2end/gateway/{script}", env!("CARGO_MANIFEST_DIR"));
    assert!(
        std::path::Path::new(python).exists(),
        "{python} is missing: `bash .ci/setup test` installs the Python clients"
    );
    let mut client = std::process::Command::new(python);
    client
        .arg(&script)
        .env("GATEWAY_URL", server.url("/gateway/binance"))
        .env("BOT_TOKEN", &bot.token)
        .env("REVOKED_TOKEN", &revoked)
        .env("SYMBOL", symbol);
    // The server answers on this runtime while the client runs.
    let output = tokio::task::spawn_blocking(move || client.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("ok; refusals raised as"), "{stdout}");
    eprintln!("{stdout}");
    assert_eq!(
        server
            .exchange
            .request_count("GET", "/sapi/v1/capital/config/getall"),
        0
    );
    server.finish().await;
}

async fn a_bot_sees_only_its_own_account_and_keeps_working_with_a_replaced_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ann = bot(&server, "jan@example.com", json!({})).await;
    // Ben's key is another Binance account.
    let ben_key = "B".repeat(64);
    harness::secret(&ben_key);
    server
        .exchange
        .add_account(&ben_key, fake_exchange::Account::hmac("ben-secret"));
    let ben_user = server.user("ken@example.com").await;
    let (status, _) = server.create_key(&ben_user, &ben_key, "ben-secret").await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, ben_bot) = server
        .post(
            "/api/v1/bot-configs",
            &ben_user,
            json!({"name": "ben", "symbol": "BTCUSDT"}),
        )
        .await;
    let ben_token = issue_token(
        &server,
        &ben_user,
        ben_bot["id"].as_i64().unwrap(),
        json!({}),
    )
    .await;
    let order = "/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC\
                 &quantity=0.001&price=60000";
    let (status, placed) = gateway(&server, Method::POST, order, Some(&ben_token)).await;
    assert_eq!(status, StatusCode::OK, "{placed}");

    // Ann's bot asks for Ben's order by its id: it is signed with Ann's key, so Binance does
    // not know it, and cannot cancel it.
    let theirs = format!("/api/v3/order?symbol=BTCUSDT&orderId={}", placed["orderId"]);
    let (status, answer) = gateway(&server, Method::GET, &theirs, Some(&ann.token)).await;
    assert_eq!(
        (status, &answer["code"]),
        (StatusCode::BAD_REQUEST, &json!(-2013)),
        "{answer}"
    );
    let (status, _) = gateway(&server, Method::DELETE, &theirs, Some(&ann.token)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, open) = gateway(&server, Method::GET, "/api/v3/openOrders", Some(&ben_token)).await;
    assert_eq!(open.as_array().unwrap().len(), 1);

    // Ann replaces her key with another of the same environment: her bot keeps its token and
    // now signs with the new key.
    let ed25519 = json!({"api_key": fake_exchange::DEMO_ED25519_API_KEY,
                         "secret_key": fake_exchange::DEMO_ED25519_PRIVATE_KEY});
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/api-keys/me",
            Some(&ann.user),
            Some(ed25519),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = gateway(&server, Method::GET, ACCOUNT, Some(&ann.token)).await;
    assert_eq!(status, StatusCode::OK);
    let sent = server.exchange.requests().last().unwrap().clone();
    assert_eq!(
        sent.api_key.as_deref(),
        Some(fake_exchange::DEMO_ED25519_API_KEY)
    );
    server.finish().await;
}

/// Two bots of one account place orders that rest; the gateway holds their orders before
/// Binance's 50 per 10 seconds would refuse them, and still lets a cancel through.
async fn orders_are_held_before_binances_order_count_is_reached(backend: Backend) {
    let server = TestServer::start(backend).await;
    let first = bot(
        &server,
        "lou@example.com",
        json!({"orders_per_minute": 600}),
    )
    .await;
    let (_, second) = server
        .post(
            "/api/v1/bot-configs",
            &first.user,
            json!({"name": "second", "symbol": "BTCUSDT", "orders_per_minute": 600}),
        )
        .await;
    let second = issue_token(
        &server,
        &first.user,
        second["id"].as_i64().unwrap(),
        json!({}),
    )
    .await;
    let mut held = None;
    for n in 0..50 {
        let token = if n % 2 == 0 { &first.token } else { &second };
        let order = format!(
            "/api/v3/order?symbol=BTCUSDT&side=SELL&type=LIMIT&timeInForce=GTC&quantity=0.0001\
             &price=100000&newClientOrderId=rest-{n}"
        );
        let (status, body) = gateway(&server, Method::POST, &order, Some(token)).await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(body["code"], -7016, "{body}");
            held = Some(n);
            break;
        }
        assert_eq!(status, StatusCode::OK, "order {n}: {body}");
    }
    let held = held.expect("the gateway held an order before Binance's limit");
    assert!((45..=47).contains(&held), "held at order {held}");
    let cancel = "/api/v3/order?symbol=BTCUSDT&origClientOrderId=rest-0";
    let (status, body) = gateway(&server, Method::DELETE, cancel, Some(&first.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.finish().await;
}

async fn the_owner_sees_each_bots_day_and_its_own_activity(backend: Backend) {
    let server = TestServer::start(backend).await;
    let grid = bot(
        &server,
        "ivy@example.com",
        json!({"max_order_notional": "100"}),
    )
    .await;
    let (status, dca) = server
        .post(
            "/api/v1/bot-configs",
            &grid.user,
            json!({"name": "dca", "symbol": "ETHUSDT"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{dca}");
    let dca = dca["id"].as_i64().unwrap();
    server.exchange.set_price("BTCUSDT", "65000.00");
    let token = Some(grid.token.as_str());
    let order = "/api/v3/order?symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC";
    let placed = gateway(
        &server,
        Method::POST,
        &format!("{order}&quantity=0.001&price=60000"),
        token,
    )
    .await;
    assert_eq!(placed.0, StatusCode::OK, "{}", placed.1);
    // Refused by the policy, then by Binance (below its lot size): only the first is a refusal.
    let refused = gateway(
        &server,
        Method::POST,
        &format!("{order}&quantity=0.01&price=60000"),
        token,
    )
    .await;
    assert_refused(&refused, StatusCode::FORBIDDEN, -7013);
    let rejected = gateway(
        &server,
        Method::POST,
        &format!("{order}&quantity=0.0000001&price=60000"),
        token,
    )
    .await;
    assert_eq!(rejected.0, StatusCode::BAD_REQUEST, "{}", rejected.1);

    let (status, bots) = server.get("/api/v1/bot-configs", &grid.user).await;
    assert_eq!(status, StatusCode::OK);
    let of = |id: i64| {
        bots.as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == id)
            .unwrap()
            .clone()
    };
    let (grid_day, dca_day) = (of(grid.id), of(dca));
    assert_eq!(
        (&grid_day["orders_today"], &grid_day["refusals_today"]),
        (&json!(2), &json!(1))
    );
    assert!(grid_day["last_used_at"].is_string(), "{grid_day}");
    assert_eq!(
        (&dca_day["orders_today"], &dca_day["refusals_today"]),
        (&json!(0), &json!(0))
    );
    assert!(dca_day["last_used_at"].is_null(), "{dca_day}");

    let (status, page) = server
        .get(&format!("/api/v1/audit?bot={}", grid.id), &grid.user)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let outcomes: Vec<(&str, &str)> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        [
            ("order.place", "failure"),
            ("order.place", "attempt"),
            ("order.place", "failure"),
            ("order.place", "success"),
            ("order.place", "attempt"),
            ("bot_token.create", "success"),
            ("bot_config.create", "success"),
        ]
    );
    let (_, page) = server
        .get(&format!("/api/v1/audit?bot={dca}"), &grid.user)
        .await;
    let actions: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["bot_config.create"]);
    // Another user's bot id filters their own trail to nothing.
    let other = server.user("joe@example.com").await;
    let (_, page) = server
        .get(&format!("/api/v1/audit?bot={}", grid.id), &other)
        .await;
    assert_eq!(page["events"], json!([]));
}
