//! The operational surface and hostile conditions: health, readiness, metrics, request ids,
//! body limits, load shedding, graceful shutdown, hostile bodies, and concurrent writes that
//! must leave exactly what they claim.

mod harness;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use fake_exchange::{DEMO_API_KEY, DEMO_SECRET_KEY, Fault};
use harness::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    health_readiness_and_metrics,
    request_ids_are_echoed_and_logged,
    oversized_and_hostile_bodies_get_json_errors,
    hostile_labels_are_stored_verbatim,
    load_beyond_the_bound_is_shed_with_503,
    answers_past_the_time_limit_are_408,
    concurrent_creates_leave_one_key_per_user,
    concurrent_deletes_never_orphan_a_bot_config,
    sigterm_lets_requests_in_flight_finish,
    a_crash_mid_write_loses_no_acknowledged_write,
    a_crash_under_order_load_leaves_no_order_unrecorded,
    exchange_faults_under_load_change_nothing,
    two_instances_check_each_due_key_once,
    two_instances_under_mixed_load_keep_the_invariants,
    slow_headers_are_cut_off,
    slow_bodies_are_cut_off_and_one_address_holds_a_bounded_share,
    nul_characters_are_refused_where_they_enter,
    metrics_can_have_an_address_of_their_own,
    json_logs_carry_the_request_id,
);

async fn health_readiness_and_metrics(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("ops@example.com").await;
    server.add_demo_key(&token).await;
    let (status, _) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, body) = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );

    let metrics = server
        .http
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert!(
        metrics.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text().await.unwrap();
    // The default pool: a few connections on SQLite, more on PostgreSQL.
    let pool_max = match backend {
        Backend::Sqlite => r#"keywarden_db_pool_connections{state="max"} 4"#,
        Backend::Postgres => r#"keywarden_db_pool_connections{state="max"} 10"#,
    };
    for expected in [
        r#"keywarden_http_requests_total{route="/api/v1/api-keys/balance",method="GET",status="200"} 1"#,
        r#"keywarden_http_requests_total{route="/api/v1/auth/register",method="POST",status="201"} 1"#,
        r#"keywarden_http_request_duration_seconds_count{route="/api/v1/api-keys/balance"} 1"#,
        r#"keywarden_exchange_calls_total{outcome="ok"} 3"#,
        pool_max,
        "keywarden_http_requests_in_flight",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains(DEMO_API_KEY) && !text.contains("ops@example.com"));

    // Migrations behind the binary: not ready.
    let sql =
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)";
    server.execute(sql).await.unwrap();
    let (status, body) = server.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("not_ready"))
    );
    server.finish().await;
}

async fn request_ids_are_echoed_and_logged(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("rid@example.com").await;
    let response = server
        .http
        .get(server.url("/api/v1/api-keys/me"))
        .bearer_auth(&token)
        .header("x-request-id", "trace-me-0042")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-0042");
    assert!(harness::logs_contain("trace-me-0042"));
    for hostile in ["has space", "a".repeat(65).leak() as &str, "quote\"d"] {
        let response = server
            .http
            .get(server.url("/healthz"))
            .header("x-request-id", hostile)
            .send()
            .await
            .unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, hostile);
        assert_eq!(id.len(), 16, "a generated id");
    }
    server.finish().await;
}

async fn post_raw(
    server: &TestServer,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = server
        .http
        .post(server.url(path))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, json)
}

/// The server answers 413 from the Content-Length alone and closes the connection, which a
/// client still sending may see first; such tries are repeated until the answer is read.
async fn post_oversized(
    server: &TestServer,
    path: &str,
    token: &str,
    body: &[u8],
) -> (StatusCode, Value) {
    for _ in 0..10 {
        let sent = server
            .http
            .post(server.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                return (status, response.json().await.unwrap());
            }
            Err(err) => assert!(err.is_request(), "{err}"),
        }
    }
    panic!("{path}: the answer was never read");
}

async fn oversized_and_hostile_bodies_get_json_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("big@example.com").await;
    let huge = json!({"api_key": "A".repeat(70_000), "secret_key": "x"})
        .to_string()
        .into_bytes();
    for path in [
        "/api/v1/api-keys/",
        "/api/v1/ui/api-keys",
        "/api/v1/bot-configs",
    ] {
        let (status, body) = post_oversized(&server, path, &token, &huge).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")),
            "{path}"
        );
    }
    // Chunked, so no Content-Length announces the size.
    let stream =
        futures_util::stream::iter((0..80).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024])));
    let chunked = server
        .http
        .post(server.url("/api/v1/bot-configs"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    // The server answers 413 as soon as the limit is passed and closes the connection; the
    // client may see the answer or, still sending, the closed connection. Never a success.
    match chunked {
        Ok(response) => assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(err) => assert!(err.is_request(), "{err}"),
    }

    let nested = format!(
        r#"{{"name": {}{}, "symbol": "BTCUSDT"}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    )
    .into_bytes();
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("deeply nested", nested, StatusCode::UNPROCESSABLE_ENTITY),
        (
            "wrong types",
            br#"{"name": 5, "symbol": ["BTC"]}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "invalid UTF-8",
            b"{\"name\": \"\xff\xfe\", \"symbol\": \"BTCUSDT\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "NUL in a name",
            b"{\"name\": \"a\\u0000b\", \"symbol\": \"BTCUSDT\"}".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("not JSON", b"name=grid".to_vec(), StatusCode::BAD_REQUEST),
        ("empty", Vec::new(), StatusCode::BAD_REQUEST),
    ];
    server.add_demo_key(&token).await;
    for (name, body, expected) in cases {
        let (status, answer) = post_raw(
            &server,
            "/api/v1/bot-configs",
            &token,
            "application/json",
            body,
        )
        .await;
        assert_eq!(status, expected, "{name}: {answer}");
        assert!(
            answer["code"].is_string() && answer["detail"].is_string(),
            "{name}: {answer}"
        );
    }
    let (status, answer) = post_raw(
        &server,
        "/api/v1/bot-configs",
        &token,
        "text/plain",
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{answer}");
    assert_eq!(server.count("bot_configs").await, 0, "nothing half-written");
    server.finish().await;
}

async fn hostile_labels_are_stored_verbatim(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("lab@example.com").await;
    server.add_demo_key(&token).await;
    let (status, body) = server
        .call(
            Method::PATCH,
            "/api/v1/api-keys/me",
            Some(&token),
            Some(json!({"label": "x".repeat(10_000)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for label in [
        "'; DROP TABLE api_keys; --",
        "<script>window.pwned = 1</script>",
        "\" onmouseover=\"alert(1)",
        "emoji 🔑 and ünïcödé",
    ] {
        let (status, body) = server
            .call(
                Method::PATCH,
                "/api/v1/api-keys/me",
                Some(&token),
                Some(json!({"label": label})),
            )
            .await;
        assert_eq!(
            (status, body["label"].as_str()),
            (StatusCode::OK, Some(label))
        );
        let (_, key) = server.get("/api/v1/api-keys/me", &token).await;
        assert_eq!(key["label"], label);
    }
    assert_eq!(server.count("api_keys").await, 1);
    server.finish().await;
}

async fn answers_past_the_time_limit_are_408(backend: Backend) {
    // The suite's Binance timeout (1 s) would race the time limit; the exchange client must
    // give up well after it.
    let overrides = HashMap::from([
        ("KEYWARDEN_REQUEST_TIMEOUT", "1s".to_owned()),
        ("BINANCE_TIMEOUT_MS", "5000".to_owned()),
    ]);
    let server = TestServer::start_with(backend, overrides).await;
    let token = server.user("late@example.com").await;
    server.add_demo_key(&token).await;
    // Slower than the time limit, faster than the exchange client gives up.
    server
        .exchange
        .set_fault(Fault::Delay(Duration::from_millis(2500)));
    let started = Instant::now();
    let response = server
        .http
        .get(server.url("/api/v1/api-keys/balance"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(waited < Duration::from_millis(2000), "waited {waited:?}");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "request_timeout", "{body}");
    server.exchange.set_fault(Fault::None);
    let (status, _) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;
}

async fn load_beyond_the_bound_is_shed_with_503(backend: Backend) {
    let overrides = HashMap::from([("KEYWARDEN_MAX_IN_FLIGHT", "3".to_owned())]);
    let server = TestServer::start_with(backend, overrides).await;
    let token = server.user("shed@example.com").await;
    server.add_demo_key(&token).await;
    server
        .exchange
        .set_fault(Fault::Delay(Duration::from_millis(400)));
    let requests: Vec<_> = (0..12)
        .map(|_| {
            tokio::spawn(
                server
                    .http
                    .get(server.url("/api/v1/api-keys/balance"))
                    .bearer_auth(&token)
                    .send(),
            )
        })
        .collect();
    let (mut ok, mut shed) = (0, 0);
    for request in requests {
        let response = request.await.unwrap().unwrap();
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert_eq!(response.headers()["retry-after"], "1");
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], "overloaded");
                shed += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(ok >= 3 && shed >= 1, "ok {ok}, shed {shed}");
    assert_eq!(ok + shed, 12);
    server.exchange.set_fault(Fault::None);
    let (status, _) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "answers again once the load is gone"
    );
    server.finish().await;
}

async fn concurrent_creates_leave_one_key_per_user(backend: Backend) {
    // 400 signed calls at once: on a busy two-core machine some take longer than the suite's
    // short Binance timeout, which this test is not about.
    let overrides = HashMap::from([
        ("KEYWARDEN_REGISTRATIONS_PER_IP", "1000".to_owned()),
        ("BINANCE_TIMEOUT_MS", "10000".to_owned()),
    ]);
    let server = TestServer::start_with(backend, overrides).await;
    let mut tokens = Vec::new();
    for i in 0..50 {
        tokens.push(server.user(&format!("c{i}@example.com")).await);
    }
    let creates: Vec<_> = (0..200)
        .map(|i| {
            let request = server
                .http
                .post(server.url("/api/v1/api-keys/"))
                .bearer_auth(&tokens[i % 50])
                .json(&json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY}));
            tokio::spawn(request.send())
        })
        .collect();
    let mut created = 0;
    for create in creates {
        let response = create.await.unwrap().unwrap();
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::BAD_REQUEST => {
                let body: Value = response.json().await.unwrap();
                assert_eq!(body["code"], "api_key_exists");
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!(created, 50);
    assert_eq!(server.count("api_keys").await, 50);
    assert_eq!(
        server
            .count("audit_events WHERE action = 'key.create' AND outcome = 'success'")
            .await,
        50
    );
    server.finish().await;
}

async fn concurrent_deletes_never_orphan_a_bot_config(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("orph@example.com").await;
    for round in 0..10 {
        server.add_demo_key(&token).await;
        let configs: Vec<_> = (0..8)
            .map(|i| {
                let request = server
                    .http
                    .post(server.url("/api/v1/bot-configs"))
                    .bearer_auth(&token)
                    .json(&json!({"name": format!("bot {round}-{i}"), "symbol": "BTCUSDT"}));
                tokio::spawn(request.send())
            })
            .collect();
        let delete = tokio::spawn(
            server
                .http
                .delete(server.url("/api/v1/api-keys/me"))
                .bearer_auth(&token)
                .send(),
        );
        for config in configs {
            let status = config.await.unwrap().unwrap().status();
            assert!(
                [StatusCode::CREATED, StatusCode::BAD_REQUEST].contains(&status),
                "{status}"
            );
        }
        assert_eq!(
            delete.await.unwrap().unwrap().status(),
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            server.count("bot_configs").await,
            0,
            "round {round}: an orphan survived"
        );
    }
    server.finish().await;
}

async fn sigterm_lets_requests_in_flight_finish(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("term@example.com").await;
    server.add_demo_key(&token).await;
    let (
        Process {
            child: mut process,
            base,
        },
        ready,
    ) = spawn_server_with(&server, &[], std::process::Stdio::null()).await;
    eprintln!("{backend:?}: process start to /readyz 200 in {ready:?}");

    server
        .exchange
        .set_fault(Fault::Delay(Duration::from_millis(700)));
    let slow = tokio::spawn(
        server
            .http
            .get(format!("{base}/api/v1/api-keys/balance"))
            .bearer_auth(&token)
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let response = slow
        .await
        .unwrap()
        .expect("the request in flight was answered");
    assert_eq!(response.status(), StatusCode::OK);
    let exited = tokio::task::spawn_blocking(move || process.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exited.success(), "{exited:?}");
    assert!(
        server
            .http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err(),
        "stopped accepting"
    );
    server.exchange.set_fault(Fault::None);
    server.finish().await;
}

/// A `keywarden serve` process on the test server's database and exchanges.
struct Process {
    child: std::process::Child,
    base: String,
}

async fn spawn_server(server: &TestServer) -> Process {
    spawn_server_with(server, &[], std::process::Stdio::null())
        .await
        .0
}

/// Starts `keywarden serve` with `extra` environment and waits for `/readyz`; returns it and
/// how long it took from the spawn.
async fn spawn_server_with(
    server: &TestServer,
    extra: &[(&'static str, Option<&str>)],
    stdout: std::process::Stdio,
) -> (Process, Duration) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let mut env = vec![
        ("KEYWARDEN_ADDR", Some(addr.as_str())),
        ("KEYWARDEN_PUBLIC_URL", None),
    ];
    env.extend_from_slice(extra);
    let started = Instant::now();
    let mut child = server
        .command(&["serve"], &env)
        .stdout(stdout)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://{addr}");
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(response) = server.http.get(format!("{base}/readyz")).send().await
            && response.status() == StatusCode::OK
        {
            return (Process { child, base }, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    panic!("the server never became ready");
}

async fn a_crash_mid_write_loses_no_acknowledged_write(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut tokens = Vec::new();
    for i in 0..6 {
        let token = server.user(&format!("crash{i}@example.com")).await;
        server.add_demo_key(&token).await;
        tokens.push(token);
    }
    let mut process = spawn_server(&server).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (http, base, token, stop) = (
                server.http.clone(),
                process.base.clone(),
                token.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let name = format!("bot {i}-{n}");
                    let sent = http
                        .post(format!("{base}/api/v1/bot-configs"))
                        .bearer_auth(&token)
                        .json(&json!({"name": name, "symbol": "BTCUSDT"}))
                        .send()
                        .await;
                    match sent {
                        Ok(response) if response.status() == StatusCode::CREATED => {
                            acknowledged.push(name)
                        }
                        Ok(response) => panic!("unexpected {}", response.status()),
                        Err(_) => break, // the server is gone
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    process.child.kill().unwrap(); // SIGKILL, mid-write
    process.child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = 0;
    let restarted = spawn_server(&server).await;
    for (writer, token) in writers.into_iter().zip(&tokens) {
        let names = writer.await.unwrap();
        acknowledged += names.len();
        let listed: Vec<String> = server
            .http
            .get(format!("{}/api/v1/bot-configs", restarted.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        for name in &names {
            assert!(listed.contains(name), "acknowledged {name} is lost");
        }
        // At most the one write in flight at the kill may exist unacknowledged.
        assert!(
            listed.len() <= names.len() + 1,
            "{} listed, {} acknowledged",
            listed.len(),
            names.len()
        );
        let balance = server
            .http
            .get(format!("{}/api/v1/api-keys/balance", restarted.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            balance.status(),
            StatusCode::OK,
            "the key still decrypts and signs"
        );
    }
    let configs = server.count("bot_configs").await;
    let events = server
        .count("audit_events WHERE action = 'bot_config.create'")
        .await;
    assert_eq!(
        configs, events,
        "every config landed with its event, nothing half-written"
    );
    assert!(
        acknowledged > 20,
        "the load ran: {acknowledged} acknowledged writes"
    );
    eprintln!(
        "{backend:?}: {acknowledged} acknowledged writes before SIGKILL, {configs} rows after restart, 0 lost"
    );
    let mut restarted = restarted;
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
    server.finish().await;
}

/// Bots place orders through the gateway of a real `keywarden serve` until it is killed with
/// SIGKILL: every order that reached the exchange has its attempt in the audit trail.
async fn a_crash_under_order_load_leaves_no_order_unrecorded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut bots = Vec::new();
    for i in 0..4 {
        let user = server.user(&format!("trader{i}@example.com")).await;
        server.add_demo_key(&user).await;
        let config = json!({"name": format!("bot{i}"), "symbol": "BTCUSDT",
                            "orders_per_minute": 600});
        let (_, bot) = server.post("/api/v1/bot-configs", &user, config).await;
        let path = format!("/api/v1/bot-configs/{}/tokens", bot["id"]);
        let (_, issued) = server.post(&path, &user, json!({})).await;
        let token = issued["token"].as_str().unwrap().to_owned();
        harness::secret(&token);
        bots.push(token);
    }
    let mut process = spawn_server(&server).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traders: Vec<_> = bots
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let (http, base, token, stop) = (
                server.http.clone(),
                process.base.clone(),
                token.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let order = format!(
                        "{base}/gateway/binance/api/v3/order?symbol=BTCUSDT&side=SELL&type=LIMIT\
                         &timeInForce=GTC&quantity=0.0001&price=100000&newClientOrderId=crash-{i}-{n}"
                    );
                    let sent = http.post(order).header("X-MBX-APIKEY", &token).send().await;
                    if sent.is_err() {
                        break; // the server is gone
                    }
                }
                n
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    process.child.kill().unwrap(); // SIGKILL, mid-order
    process.child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for trader in traders {
        trader.await.unwrap();
    }
    let received: Vec<String> = server
        .exchange
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v3/order")
        .filter_map(|r| {
            let sent = format!("{}&{}", r.query, r.body);
            let start = sent.find("newClientOrderId=")? + "newClientOrderId=".len();
            Some(sent[start..].split('&').next()?.to_owned())
        })
        .collect();
    assert!(
        received.len() > 10,
        "the load ran: {} orders",
        received.len()
    );
    for id in &received {
        let attempt = format!(
            "audit_events WHERE action = 'order.place' AND outcome = 'attempt' \
             AND detail LIKE '%\"client_order_id\":\"{id}\"%'"
        );
        assert_eq!(
            server.count(&attempt).await,
            1,
            "order {id} reached Binance unrecorded"
        );
    }
    eprintln!(
        "{backend:?}: {} orders reached the exchange before SIGKILL, each with its record",
        received.len()
    );
    server.finish().await;
}

async fn exchange_faults_under_load_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut tokens = Vec::new();
    for i in 0..4 {
        let token = server.user(&format!("fault{i}@example.com")).await;
        server.add_demo_key(&token).await;
        tokens.push(token);
    }
    let faults = [
        Fault::ServerError,
        Fault::Garbage,
        Fault::RateLimited(30),
        Fault::Banned(30),
        Fault::ResetMidResponse,
        Fault::Delay(Duration::from_millis(1500)),
    ];
    let (mut requests, mut failed) = (0, 0);
    let fault_count = faults.len();
    for fault in faults {
        server.exchange.set_fault(fault.clone());
        let calls: Vec<_> = tokens
            .iter()
            .flat_map(|token| {
                let replace = server
                    .http
                    .put(server.url("/api/v1/api-keys/me"))
                    .bearer_auth(token)
                    .json(&json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY, "label": "changed"}));
                let validate = server.http.post(server.url("/api/v1/api-keys/me/validate")).bearer_auth(token);
                let balance = server.http.get(server.url("/api/v1/api-keys/balance")).bearer_auth(token);
                [replace, validate, balance].map(|r| tokio::spawn(r.send()))
            })
            .collect();
        for call in calls {
            let status = call.await.unwrap().unwrap().status();
            requests += 1;
            assert!(
                [
                    StatusCode::BAD_GATEWAY,
                    StatusCode::SERVICE_UNAVAILABLE,
                    StatusCode::GATEWAY_TIMEOUT
                ]
                .contains(&status),
                "{fault:?}: {status}"
            );
            failed += 1;
        }
        server.exchange.set_fault(Fault::None);
    }
    for token in &tokens {
        let (_, key) = server.get("/api/v1/api-keys/me", token).await;
        assert_eq!(key["label"], "main", "no failed replace changed the key");
        assert_eq!(key["is_valid"], true, "no failed check marked it invalid");
    }
    let replaced = server
        .count("audit_events WHERE action = 'key.replace' AND outcome = 'success'")
        .await;
    assert_eq!(replaced, 0);
    eprintln!(
        "{backend:?}: {requests} requests under {} faults, {failed} answered 502/503/504, 0 rows changed",
        fault_count
    );
    server.finish().await;
}

async fn two_instances_check_each_due_key_once(backend: Backend) {
    let overrides = HashMap::from([("KEYWARDEN_REGISTRATIONS_PER_IP", "1000".to_owned())]);
    let server = TestServer::start_with(backend, overrides).await;
    for i in 0..12 {
        let token = server.user(&format!("due{i}@example.com")).await;
        server.add_demo_key(&token).await;
    }
    let (one, two) = (
        server.another_service().await,
        server.another_service().await,
    );
    // Checked a day ago: all due for the six-hourly check.
    let every = chrono::Duration::hours(6);
    let long_ago = match backend {
        Backend::Sqlite => "UPDATE api_keys SET last_validated_at = '2000-01-01T00:00:00+00:00'",
        Backend::Postgres => {
            "UPDATE api_keys SET last_validated_at = created_at - INTERVAL '1 day'"
        }
    };
    server.execute(long_ago).await.unwrap();
    let (a, b) = tokio::join!(
        one.revalidate_due_keys(every, 100, 4),
        two.revalidate_due_keys(every, 100, 4)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a + b, 12, "instance one checked {a}, two {b}");
    assert_eq!(
        server
            .count("audit_events WHERE action = 'key.validate'")
            .await,
        12
    );
    let (again_a, again_b) = tokio::join!(
        one.revalidate_due_keys(every, 100, 4),
        two.revalidate_due_keys(every, 100, 4)
    );
    assert_eq!(
        (again_a.unwrap(), again_b.unwrap()),
        (0, 0),
        "nothing is due twice"
    );
    server.finish().await;
}

async fn two_instances_under_mixed_load_keep_the_invariants(backend: Backend) {
    let overrides = HashMap::from([("KEYWARDEN_REGISTRATIONS_PER_IP", "1000".to_owned())]);
    let mut server = TestServer::start_with(backend, overrides).await;
    let other = server.start_another_instance().await;
    let bases = [server.base.clone(), other];
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(server.user(&format!("mix{i}@example.com")).await);
    }
    let mut calls = Vec::new();
    for round in 0..4 {
        for (i, token) in tokens.iter().enumerate() {
            let base = &bases[(i + round) % 2];
            let create = server
                .http
                .post(format!("{base}/api/v1/api-keys/"))
                .bearer_auth(token)
                .json(&json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY}));
            let config = server
                .http
                .post(format!("{base}/api/v1/bot-configs"))
                .bearer_auth(token)
                .json(&json!({"name": format!("bot {round}"), "symbol": "ETHUSDT"}));
            let read = server
                .http
                .get(format!("{base}/api/v1/api-keys/me"))
                .bearer_auth(token);
            calls.extend([create, config, read].map(|r| tokio::spawn(r.send())));
        }
        if round == 2 {
            for token in tokens.iter().step_by(2) {
                let delete = server
                    .http
                    .delete(format!("{}/api/v1/api-keys/me", bases[1]))
                    .bearer_auth(token);
                calls.push(tokio::spawn(delete.send()));
            }
        }
    }
    let total = calls.len();
    for call in calls {
        let status = call.await.unwrap().unwrap().status();
        assert!(status.as_u16() < 500, "{status}");
    }
    let keys = server.count("api_keys").await;
    assert!(keys <= 20, "one key per user at most: {keys}");
    let orphans = server
        .count("bot_configs WHERE api_key_id NOT IN (SELECT id FROM api_keys)")
        .await;
    assert_eq!(orphans, 0);
    for token in &tokens {
        let (status, _) = server.get("/api/v1/api-keys/me", token).await;
        if status == StatusCode::OK {
            let (status, _) = server.get("/api/v1/api-keys/balance", token).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "every stored key decrypts and works"
            );
        }
    }
    eprintln!(
        "{backend:?}: {total} mixed requests over two instances, {keys} keys, 0 orphans, no 5xx"
    );
    server.finish().await;
}

async fn slow_headers_are_cut_off(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let overrides = HashMap::from([("KEYWARDEN_HEADER_TIMEOUT", "1s".to_owned())]);
    let server = TestServer::start_with(backend, overrides).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the connection was still open after 10 s");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let (status, _) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK, "others are served meanwhile");
    server.finish().await;
}

/// Opens a request that announces `length` bytes of body and sends one; answers the stream.
async fn trickling_body(addr: &str, length: usize) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n\
         content-length: {length}\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

async fn slow_bodies_are_cut_off_and_one_address_holds_a_bounded_share(backend: Backend) {
    use tokio::io::AsyncReadExt;
    let overrides = HashMap::from([
        ("KEYWARDEN_BODY_TIMEOUT", "2s".to_owned()),
        ("KEYWARDEN_MAX_IN_FLIGHT_PER_ADDRESS", "2".to_owned()),
        ("KEYWARDEN_TRUSTED_PROXIES", "127.0.0.1".to_owned()),
    ]);
    let server = TestServer::start_with(backend, overrides).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut first = trickling_body(&addr, 100).await;
    let _second = trickling_body(&addr, 100).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // This address holds both its places: a third request from it waits for none.
    let (status, body) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too_many_requests");
    // Another address (named by the trusted proxy) is served meanwhile.
    let other = server
        .http
        .get(server.url("/healthz"))
        .header("x-forwarded-for", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);

    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), first.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the trickling request was still open after 10 s"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "waited {waited:?}");
    // Their places are given back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = server.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;
}

async fn nul_characters_are_refused_where_they_enter(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("nul@example.com").await;
    server.add_demo_key(&token).await;
    let form = |path: &str, body: &'static str| {
        server
            .http
            .post(server.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    };
    let requests = [
        server
            .http
            .delete(server.url("/api/v1/auth/sessions/%00"))
            .bearer_auth(&token),
        server
            .http
            .get(server.url("/api/v1/audit?before=%00"))
            .bearer_auth(&token),
        server
            .http
            .patch(server.url("/api/v1/api-keys/me"))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(r#"{"label":"main\u0000"}"#),
        server
            .http
            .post(server.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(r#"{"email":"nul@example.com","password":"pass\u0000word"}"#),
        form(
            "/api/v1/auth/login",
            "username=nul%40example.com&password=a%00b",
        ),
        form(
            "/api/v1/ui/auth/register",
            "email=a%00%40example.com&password=long+enough",
        ),
        server
            .http
            .get(server.url("/gateway/binance/api/v3/ticker/price?symbol=BTC%00USDT"))
            .header("x-mbx-apikey", "kwb_nothing"),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "validation_error", "{body}");
    }
    // Nothing changed, and the label's text is taken as it is otherwise.
    let (_, key) = server.get("/api/v1/api-keys/me", &token).await;
    assert_ne!(key["label"], "main\u{0}");
    let (status, _) = server
        .call(
            Method::PATCH,
            "/api/v1/api-keys/me",
            Some(&token),
            Some(json!({ "label": "100%00 \\u0000" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;
}

async fn metrics_can_have_an_address_of_their_own(backend: Backend) {
    let server = TestServer::start(backend).await;
    let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let (Process { mut child, base }, _) = spawn_server_with(
        &server,
        &[("KEYWARDEN_METRICS_ADDR", Some(metrics_addr.as_str()))],
        std::process::Stdio::null(),
    )
    .await;
    let public = server
        .http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);
    let internal = server
        .http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(internal.status(), StatusCode::OK);
    let text = internal.text().await.unwrap();
    // The public address's requests are counted there.
    assert!(text.contains("route=\"/readyz\""), "{text}");
    child.kill().unwrap();
    child.wait().unwrap();
    server.finish().await;
}

async fn json_logs_carry_the_request_id(backend: Backend) {
    let server = TestServer::start(backend).await;
    let json_logs = [
        ("KEYWARDEN_LOG_FORMAT", Some("json")),
        ("RUST_LOG", Some("info")),
    ];
    let (Process { mut child, base }, _) =
        spawn_server_with(&server, &json_logs, std::process::Stdio::piped()).await;
    let response = server
        .http
        .get(format!("{base}/readyz"))
        .header("x-request-id", "json-log-check")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let output = tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut text).unwrap();
        child.wait().unwrap();
        text
    })
    .await
    .unwrap();
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let request = lines
        .iter()
        .find(|line| line["span"]["id"] == "json-log-check")
        .unwrap_or_else(|| panic!("no line with the request id in {output}"));
    assert_eq!(request["fields"]["status"], 200);
    assert_eq!(request["level"], "INFO");
    server.finish().await;
}
