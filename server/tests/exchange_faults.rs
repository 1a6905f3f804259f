//! When Binance misbehaves, against the real server on both backends: 5xx, garbage, timeouts,
//! an unreachable host, clock skew, retries, rate limits and bans, request weight, redirects.

mod harness;

use std::collections::HashMap;
use std::time::Duration;

use fake_exchange::{DEMO_API_KEY, DEMO_SECRET_KEY, Fault};
use harness::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(
    exchange_faults_store_nothing,
    unreachable_exchange_is_a_bad_gateway,
    clock_skew_resynchronises_once,
    reads_are_retried_on_transient_faults,
    rate_limits_and_bans_answer_503_with_retry_after,
    request_weight_is_watched,
    a_redirect_is_never_followed,
    each_account_has_its_share_of_binance_calls,
    binance_calls_in_flight_are_bounded,
);

async fn exchange_faults_store_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("jo@example.com").await;
    let cases = [
        (
            Fault::ServerError,
            StatusCode::BAD_GATEWAY,
            "exchange_unavailable",
        ),
        (
            Fault::Garbage,
            StatusCode::BAD_GATEWAY,
            "exchange_unavailable",
        ),
        (
            Fault::Delay(Duration::from_millis(1500)),
            StatusCode::GATEWAY_TIMEOUT,
            "exchange_timeout",
        ),
    ];
    for (fault, expected, code) in cases {
        server.exchange.set_fault(fault.clone());
        let (status, body) = server
            .create_key(&token, DEMO_API_KEY, DEMO_SECRET_KEY)
            .await;
        assert_eq!(status, expected, "{fault:?}: {body}");
        assert_eq!(body["code"], code);
        assert_eq!(server.count("api_keys").await, 0, "{fault:?}");
    }
    server.finish().await;
}

async fn unreachable_exchange_is_a_bad_gateway(backend: Backend) {
    // A port nothing listens on: bind one, then free it.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let server = TestServer::start_with(backend, HashMap::from([("BINANCE_BASE_URL", url)])).await;
    let token = server.user("kit@example.com").await;
    let (status, body) = server
        .create_key(&token, DEMO_API_KEY, DEMO_SECRET_KEY)
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(server.count("api_keys").await, 0);
    server.finish().await;
}

async fn clock_skew_resynchronises_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("sam@example.com").await;
    // Binance's clock is a minute ahead: the first try gets -1021, then we learn the offset.
    server.exchange.set_fault(Fault::ClockSkew(60_000));
    let (status, body) = server
        .create_key(&token, DEMO_API_KEY, DEMO_SECRET_KEY)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(server.exchange.calls(), 2);
    let (status, _) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.exchange.calls(), 3, "the offset is kept");
    server.finish().await;
}

async fn reads_are_retried_on_transient_faults(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("tia@example.com").await;
    server
        .exchange
        .fail_next([Fault::ServerError, Fault::ResetMidResponse]);
    let (status, body) = server
        .create_key(&token, DEMO_API_KEY, DEMO_SECRET_KEY)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(server.exchange.calls(), 3);

    // Faults that last beyond the retries end as 502, and change nothing.
    for fault in [Fault::ServerError, Fault::ResetMidResponse] {
        server.exchange.set_fault(fault.clone());
        let before = server.exchange.calls();
        let (status, body) = server.get("/api/v1/api-keys/balance", &token).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{fault:?}: {body}");
        assert_eq!(body["code"], "exchange_unavailable");
        assert_eq!(
            server.exchange.calls() - before,
            3,
            "{fault:?}: three tries"
        );
    }
    assert_eq!(server.count("api_keys").await, 1);
    server.finish().await;
}

async fn rate_limits_and_bans_answer_503_with_retry_after(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("uma@example.com").await;
    let cases = [
        // Binance bans an address that keeps calling after a 429: however short its
        // Retry-After, it is handed to the client at once, never tried again.
        (Fault::RateLimited(1), "exchange_rate_limited", "1", 1),
        (Fault::RateLimited(30), "exchange_rate_limited", "30", 1),
        // A ban is never retried.
        (Fault::Banned(120), "exchange_ip_banned", "120", 1),
    ];
    for (fault, code, retry_after, tries) in cases {
        server.exchange.set_fault(fault.clone());
        let before = server.exchange.calls();
        let response = server
            .http
            .post(server.url("/api/v1/api-keys/"))
            .bearer_auth(&token)
            .json(&json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{fault:?}"
        );
        assert_eq!(response.headers()["retry-after"], retry_after, "{fault:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], code);
        assert_eq!(server.exchange.calls() - before, tries, "{fault:?}");
        assert_eq!(server.count("api_keys").await, 0);
    }
    server.finish().await;
}

async fn request_weight_is_watched(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("val@example.com").await;
    // Binance counts weight per calendar minute; keep the calls inside one.
    let second = chrono::Utc::now().timestamp() % 60;
    if second >= 55 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    server.add_demo_key(&token).await;
    // Binance reports 5500 of 6000 used this minute: we stop before it bans us.
    server.exchange.fail_next([Fault::UsedWeight(5_500)]);
    let (status, _) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(status, StatusCode::OK);
    let before = server.exchange.calls();
    let (status, body) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "exchange_rate_limited");
    assert_eq!(server.exchange.calls(), before, "Binance was not called");
    server.finish().await;
}

async fn a_redirect_is_never_followed(backend: Backend) {
    // Where the redirect points: anything that connects there would hand over the API key
    // and a signed request.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let location = format!("http://{}/api/v3/account", trap.local_addr().unwrap());
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while let Ok((_connection, _)) = trap.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let server = TestServer::start(backend).await;
    let token = server.user("red@example.com").await;
    server.exchange.set_fault(Fault::Redirect(location));
    let (status, body) = server
        .create_key(&token, DEMO_API_KEY, DEMO_SECRET_KEY)
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["code"], "exchange_unavailable");
    assert_eq!(server.count("api_keys").await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 0);
    server.finish().await;
}

async fn each_account_has_its_share_of_binance_calls(backend: Backend) {
    let overrides = HashMap::from([("KEYWARDEN_BINANCE_CALLS_PER_MINUTE", "3".to_owned())]);
    let server = TestServer::start_with(backend, overrides).await;
    let ann = server.user("ann@example.com").await;
    server.add_demo_key(&ann).await;
    let (_, bot) = server
        .post(
            "/api/v1/bot-configs",
            &ann,
            json!({"name": "grid", "symbol": "BTCUSDT"}),
        )
        .await;
    let path = format!("/api/v1/bot-configs/{}/tokens", bot["id"]);
    let (_, issued) = server.post(&path, &ann, json!({})).await;
    let bot_token = issued["token"].as_str().unwrap().to_owned();
    harness::secret(&bot_token);
    // The key's check was one call; two balances make three.
    for _ in 0..2 {
        let (status, body) = server.get("/api/v1/api-keys/balance", &ann).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let response = server
        .http
        .get(server.url("/api/v1/api-keys/balance"))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "binance_quota_exceeded", "{body}");
    let (status, _) = server
        .post("/api/v1/api-keys/me/validate", &ann, json!({}))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    // Its bots share the account's quota; a cancel is never held back.
    let gateway = |method: reqwest::Method, path: &str| {
        server
            .http
            .request(method, server.url(&format!("/gateway/binance{path}")))
            .header("x-mbx-apikey", &bot_token)
    };
    let read = gateway(reqwest::Method::GET, "/api/v3/account")
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = read.json().await.unwrap();
    assert_eq!(body["code"], -7021, "{body}");
    let cancel = gateway(
        reqwest::Method::DELETE,
        "/api/v3/order?symbol=BTCUSDT&orderId=424242",
    )
    .send()
    .await
    .unwrap();
    let body: Value = cancel.json().await.unwrap();
    assert_ne!(body["code"], -7021, "{body}");

    // Another account has its own share; the next minute, so does this one again.
    let bob = server.user("bob@example.com").await;
    server.add_demo_key(&bob).await;
    server.clock.advance(chrono::Duration::seconds(60));
    let (status, _) = server.get("/api/v1/api-keys/balance", &ann).await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;
}

async fn binance_calls_in_flight_are_bounded(backend: Backend) {
    let overrides = HashMap::from([
        ("KEYWARDEN_BINANCE_CONCURRENCY", "2".to_owned()),
        ("BINANCE_TIMEOUT_MS", "5000".to_owned()),
        ("KEYWARDEN_REGISTRATIONS_PER_IP", "100".to_owned()),
    ]);
    let server = TestServer::start_with(backend, overrides).await;
    let mut tokens = Vec::new();
    for i in 0..6 {
        let token = server.user(&format!("queue{i}@example.com")).await;
        server.add_demo_key(&token).await;
        tokens.push(token);
    }
    let delay = Duration::from_millis(400);
    server.exchange.set_fault(Fault::Delay(delay));
    let started = std::time::Instant::now();
    let reads: Vec<_> = tokens
        .iter()
        .map(|token| {
            let request = server
                .http
                .get(server.url("/api/v1/api-keys/balance"))
                .bearer_auth(token);
            tokio::spawn(request.send())
        })
        .collect();
    for read in reads {
        assert_eq!(read.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    // Two at a time: six calls take three turns of the delay at least.
    let waited = started.elapsed();
    assert!(waited >= delay * 3, "six calls took {waited:?}");
    server.exchange.set_fault(Fault::None);
    server.finish().await;
}
