//! Alerts and webhooks against the real server, real receivers on loopback and the fake
//! Binance, on both backends: each event arrives once, signed, in order, after a restart and
//! with two instances; a failing receiver is retried and then given up on; the address rules
//! hold; nothing secret is in a payload or a log.

mod harness;

use std::collections::HashMap;

use fake_exchange::{Account, DEMO_API_KEY, DEMO_SECRET_KEY, Restrictions};
use harness::smtp_server::SmtpServer;
use harness::webhook_receiver::{Delivery, WebhookReceiver};
use harness::{Backend, PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    webhooks_are_managed_and_each_owners_alone,
    a_test_delivery_is_signed_and_logged,
    every_alert_arrives_once_and_in_order,
    a_key_that_can_move_funds_pauses_every_bot,
    trading_about_to_lapse_is_told_at_seven_days_and_at_one,
    a_bots_refusals_past_the_threshold_are_told_once,
    a_failing_receiver_is_retried_then_given_up,
    a_silent_receiver_times_out_fast,
    deliveries_survive_a_restart_and_go_out_once_from_two_instances,
    webhooks_cannot_reach_this_network,
    webhook_secrets_follow_a_fernet_key_rotation,
    alerts_are_emailed_when_the_operator_configured_smtp,
);

fn open_private() -> HashMap<&'static str, String> {
    HashMap::from([("KEYWARDEN_WEBHOOK_ALLOW_PRIVATE", "true".to_owned())])
}

/// Adds a webhook for every event; returns its id and secret.
async fn webhook(server: &TestServer, user: &str, url: &str) -> (i64, String) {
    let (status, created) = server
        .post("/api/v1/webhooks", user, json!({ "url": url }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    harness::secret(&secret);
    (created["id"].as_i64().unwrap(), secret)
}

/// A user with the demo key and a webhook for every alert, on a server whose webhooks may reach
/// loopback; returns the server, the user's token and the receiver.
async fn keyed_user_with_webhook(
    backend: Backend,
    email: &str,
) -> (TestServer, String, WebhookReceiver) {
    let server = TestServer::start_with(backend, open_private()).await;
    let user = server.user(email).await;
    server.add_demo_key(&user).await;
    let receiver = WebhookReceiver::start().await;
    webhook(&server, &user, &receiver.url).await;
    (server, user, receiver)
}

/// A bot trading BTCUSDT with `policy` added to its config; returns it and a token for it.
async fn bot_with_token(server: &TestServer, user: &str, policy: Value) -> (Value, String) {
    let mut config = json!({"name": "grid", "symbol": "BTCUSDT"});
    config
        .as_object_mut()
        .unwrap()
        .extend(policy.as_object().unwrap().clone());
    let (status, bot) = server.post("/api/v1/bot-configs", user, config).await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    let tokens = format!("/api/v1/bot-configs/{}/tokens", bot["id"]);
    let (_, token) = server.post(&tokens, user, json!({})).await;
    let token = token["token"].as_str().unwrap().to_owned();
    harness::secret(&token);
    (bot, token)
}

fn kinds(deliveries: &[Delivery]) -> Vec<&str> {
    deliveries.iter().map(Delivery::kind).collect()
}

/// What no payload may hold: the key pair, the webhook's secret, the user's password.
fn assert_nothing_secret(deliveries: &[Delivery], also: &[&str]) {
    for delivery in deliveries {
        for secret in [DEMO_API_KEY, DEMO_SECRET_KEY, PASSWORD].iter().chain(also) {
            assert!(!delivery.body.contains(secret), "{}", delivery.body);
        }
    }
}

async fn webhooks_are_managed_and_each_owners_alone(backend: Backend) {
    let server = TestServer::start_with(backend, open_private()).await;
    let user = server.user("ada@example.com").await;
    let receiver = WebhookReceiver::start().await;
    let body =
        json!({ "url": receiver.url, "events": ["key.invalid", "bots.paused", "key.invalid"] });
    let (status, created) = server.post("/api/v1/webhooks", &user, body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let secret = created["secret"].as_str().unwrap();
    harness::secret(secret);
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    assert_eq!(created["events"], json!(["key.invalid", "bots.paused"]));
    assert_eq!(created["url"], receiver.url);
    let id = created["id"].as_i64().unwrap();

    let (status, listed) = server.get("/api/v1/webhooks", &user).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert!(listed[0].get("secret").is_none(), "{listed}");
    assert!(!server.raw_database_text().await.contains(secret));

    for (body, code) in [
        (json!({ "url": "ftp://example.com/" }), "validation_error"),
        (
            json!({ "url": "https://u:p@example.com/" }),
            "validation_error",
        ),
        (
            json!({ "url": receiver.url, "events": [] }),
            "validation_error",
        ),
        (
            json!({ "url": receiver.url, "events": ["key.stolen"] }),
            "validation_error",
        ),
        (json!({ "events": ["bots.paused"] }), "validation_error"),
    ] {
        let (status, error) = server.post("/api/v1/webhooks", &user, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {error}");
        assert_eq!(error["code"], code, "{body}");
    }
    for _ in 1..5 {
        webhook(&server, &user, &receiver.url).await;
    }
    let (status, error) = server
        .post("/api/v1/webhooks", &user, json!({ "url": receiver.url }))
        .await;
    assert_eq!(
        (status, &error["code"]),
        (StatusCode::CONFLICT, &json!("webhook_limit"))
    );

    // Another user sees none of them and can touch none.
    let other = server.user("bob@example.com").await;
    assert_eq!(server.get("/api/v1/webhooks", &other).await.1, json!([]));
    for (method, path) in [
        (Method::DELETE, format!("/api/v1/webhooks/{id}")),
        (Method::POST, format!("/api/v1/webhooks/{id}/test")),
        (Method::GET, format!("/api/v1/webhooks/{id}/deliveries")),
        (Method::GET, "/api/v1/webhooks/abc/deliveries".to_owned()),
    ] {
        let (status, error) = server.call(method, &path, Some(&other), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(error["code"], "webhook_not_found");
    }
    let (status, _) = server
        .call(Method::GET, "/api/v1/webhooks", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, _) = server
        .delete(&format!("/api/v1/webhooks/{id}"), &user)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server
        .delete(&format!("/api/v1/webhooks/{id}"), &user)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        server
            .get("/api/v1/webhooks", &user)
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        4
    );
    server.finish().await;
}

async fn a_test_delivery_is_signed_and_logged(backend: Backend) {
    let server = TestServer::start_with(backend, open_private()).await;
    let user = server.user("cy@example.com").await;
    let receiver = WebhookReceiver::start().await;
    let (id, secret) = webhook(&server, &user, &receiver.url).await;
    let (status, queued) = server
        .post(&format!("/api/v1/webhooks/{id}/test"), &user, json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let event_id = queued["event_id"].as_str().unwrap();
    assert!(event_id.starts_with("evt_"), "{event_id}");

    let delivered = receiver.wait_for(1).await;
    assert_eq!(delivered.len(), 1);
    let delivery = &delivered[0];
    assert!(delivery.signed_with(&secret), "{}", delivery.signature);
    assert!(!delivery.signed_with("whsec_another"));
    assert_eq!(delivery.id(), event_id);
    assert_eq!(delivery.kind(), "webhook.test");
    assert_eq!(delivery.json["data"]["webhook_id"], id);
    let created_at = delivery.json["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created_at).is_ok(),
        "{created_at}"
    );
    assert_eq!(
        delivery
            .json
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["created_at", "data", "id", "type"]
    );
    assert_nothing_secret(&delivered, &[&secret]);

    let (status, log) = server
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &user)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");
    assert_eq!(log[0]["event_id"], event_id);
    assert_eq!(log[0]["type"], "webhook.test");
    assert_eq!(log[0]["status"], "delivered");
    assert_eq!(log[0]["response_code"], 200);
    assert!(log[0]["attempted_at"].is_string());
    server.finish().await;
}

async fn every_alert_arrives_once_and_in_order(backend: Backend) {
    let proxied = HashMap::from([
        ("KEYWARDEN_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("KEYWARDEN_TRUSTED_PROXIES", "127.0.0.1".to_owned()),
    ]);
    let server = TestServer::start_with(backend, proxied).await;
    let user = server.user("dee@example.com").await;
    server.add_demo_key(&user).await;
    let receiver = WebhookReceiver::start().await;
    let (_, secret) = webhook(&server, &user, &receiver.url).await;
    // An alert of one type only reaches the webhooks that listen for it.
    let only_paused = WebhookReceiver::start().await;
    let (status, _) = server
        .post(
            "/api/v1/webhooks",
            &user,
            json!({ "url": only_paused.url, "events": ["bots.paused"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let sign_in_from = |ip: &'static str| {
        let request = server
            .http
            .post(server.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", ip)
            .header(
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36",
            )
            .json(&json!({ "email": "dee@example.com", "password": PASSWORD }));
        async move {
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), StatusCode::OK);
        }
    };
    // The address the account registered from (the test client's) is known; a new one is told
    // once.
    sign_in_from("198.51.100.9").await;
    sign_in_from("198.51.100.9").await;
    let (status, _) = server
        .post(
            "/api/v1/auth/password",
            &user,
            json!({ "current_password": PASSWORD, "new_password": "another long password" }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let user = server
        .user_session_with("dee@example.com", "another long password")
        .await;
    for _ in 0..2 {
        let (status, _) = server
            .post("/api/v1/bot-configs/pause-all", &user, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // Binance forgets the key: the next check marks it invalid, and the one after says nothing
    // new.
    server.exchange.remove_account(DEMO_API_KEY);
    for _ in 0..2 {
        let (status, key) = server
            .post("/api/v1/api-keys/me/validate", &user, json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{key}");
        assert_eq!(key["is_valid"], false);
    }

    let delivered = receiver.wait_for(4).await;
    assert_eq!(
        kinds(&delivered),
        [
            "login.new_address",
            "password.changed",
            "bots.paused",
            "key.invalid"
        ]
    );
    for delivery in &delivered {
        assert!(delivery.signed_with(&secret), "{}", delivery.body);
    }
    let ids: std::collections::HashSet<&str> = delivered.iter().map(Delivery::id).collect();
    assert_eq!(ids.len(), 4, "every alert has its own id");
    assert_eq!(delivered[0].json["data"]["ip"], "198.51.100.9");
    assert_eq!(delivered[0].json["data"]["client"], "Chrome 120 on Linux");
    assert_eq!(
        delivered[3].json["data"]["api_key_masked"],
        "vmPU********Eh8A"
    );
    assert_eq!(delivered[3].json["data"]["error_code"], "binance_rejected");
    assert_nothing_secret(&delivered, &[&secret, "another long password"]);
    assert_eq!(kinds(&only_paused.wait_for(1).await), ["bots.paused"]);
    server.finish().await;
}

async fn a_key_that_can_move_funds_pauses_every_bot(backend: Backend) {
    let (server, user, receiver) = keyed_user_with_webhook(backend, "eve@example.com").await;
    let (_, token) = bot_with_token(&server, &user, json!({})).await;

    // On Binance, the owner switches withdrawals on; the next check finds it.
    let withdrawing = Restrictions {
        enable_withdrawals: true,
        ..Restrictions::default()
    };
    let account = |restrictions| Account::hmac(DEMO_SECRET_KEY).with_restrictions(restrictions);
    server
        .exchange
        .add_account(DEMO_API_KEY, account(withdrawing));
    let (status, key) = server
        .post("/api/v1/api-keys/me/validate", &user, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    assert_eq!(key["permissions"]["withdrawals"], true);

    let delivered = receiver.wait_for(1).await;
    assert_eq!(kinds(&delivered), ["key.funds_permission"]);
    assert_eq!(
        delivered[0].json["data"]["permissions"],
        json!(["withdrawals"])
    );
    assert_eq!(delivered[0].json["data"]["bots_paused"], true);
    let (_, bots) = server.get("/api/v1/bot-configs", &user).await;
    assert_eq!(bots[0]["paused"], true);

    // Its bots are refused, and told why.
    let answer = server
        .http
        .get(server.url("/gateway/binance/api/v3/account"))
        .header("X-MBX-APIKEY", &token)
        .send()
        .await
        .unwrap();
    // A paused bot's token does not work, as for a disabled bot.
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    let refusal: Value = answer.json().await.unwrap();
    assert!(
        refusal["msg"].as_str().unwrap().contains("moves funds"),
        "{refusal}"
    );

    // Resuming waits until the key can no longer move funds.
    let (status, error) = server
        .post("/api/v1/bot-configs/resume-all", &user, json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["code"], "withdrawals_enabled");
    server
        .exchange
        .add_account(DEMO_API_KEY, account(Restrictions::default()));
    server
        .post("/api/v1/api-keys/me/validate", &user, json!({}))
        .await;
    let (status, resumed) = server
        .post("/api/v1/bot-configs/resume-all", &user, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["paused"], false);
    assert_eq!(
        receiver.wait_for(1).await.len(),
        1,
        "no alert for a permission switched off"
    );
    server.finish().await;
}

async fn trading_about_to_lapse_is_told_at_seven_days_and_at_one(backend: Backend) {
    let (server, user, receiver) = keyed_user_with_webhook(backend, "fay@example.com").await;
    // Binance takes trading from an unrestricted key 30 days after it was made.
    let made_days_ago = |days: f64| {
        let mut account = Account::hmac(DEMO_SECRET_KEY);
        account.created_ms -= (days * 24.0 * 3600.0 * 1000.0) as i64;
        account
    };
    // Each stage is checked twice (the scheduled checks and the owner's own): told once.
    for (age, alerts) in [(20.0, 0), (24.0, 1), (29.5, 2)] {
        server
            .exchange
            .add_account(DEMO_API_KEY, made_days_ago(age));
        for _ in 0..2 {
            let (status, key) = server
                .post("/api/v1/api-keys/me/validate", &user, json!({}))
                .await;
            assert_eq!(status, StatusCode::OK, "{key}");
        }
        assert_eq!(
            receiver.wait_for(alerts).await.len(),
            alerts,
            "at {age} days"
        );
    }
    let delivered = receiver.delivered();
    assert_eq!(
        kinds(&delivered),
        ["key.trading_expiring", "key.trading_expiring"]
    );
    assert_eq!(delivered[0].json["data"]["within_days"], 7);
    assert_eq!(delivered[1].json["data"]["within_days"], 1);
    assert!(delivered[1].json["data"]["trading_expires_at"].is_string());
    server.finish().await;
}

async fn a_bots_refusals_past_the_threshold_are_told_once(backend: Backend) {
    let (server, user, receiver) = keyed_user_with_webhook(backend, "gil@example.com").await;
    let (bot, token) = bot_with_token(&server, &user, json!({"order_types": ["LIMIT"]})).await;
    let market_order = || {
        server
            .http
            .post(server.url("/gateway/binance/api/v3/order"))
            .header("X-MBX-APIKEY", &token)
            .form(&[
                ("symbol", "BTCUSDT"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "0.001"),
                ("timestamp", "1"),
                ("signature", "x"),
            ])
            .send()
    };
    for _ in 0..9 {
        assert_eq!(
            market_order().await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
    }
    assert_eq!(
        receiver.wait_for(0).await.len(),
        0,
        "nine refusals are below the threshold"
    );
    for _ in 0..6 {
        assert_eq!(
            market_order().await.unwrap().status(),
            StatusCode::FORBIDDEN
        );
    }
    let delivered = receiver.wait_for(1).await;
    assert_eq!(kinds(&delivered), ["bot.refusals"]);
    assert_eq!(delivered[0].json["data"]["bot_config_id"], bot["id"]);
    assert_eq!(delivered[0].json["data"]["symbol"], "BTCUSDT");
    assert!(delivered[0].json["data"]["refusals"].as_i64().unwrap() >= 10);
    assert_nothing_secret(&delivered, &[&token]);
    server.finish().await;
}

async fn a_failing_receiver_is_retried_then_given_up(backend: Backend) {
    let mut settings = open_private();
    settings.insert("KEYWARDEN_WEBHOOK_RETRY_FOR", "3s".to_owned());
    let server = TestServer::start_with(backend, settings).await;
    let user = server.user("hu@example.com").await;
    let receiver = WebhookReceiver::start().await;
    let (id, _) = webhook(&server, &user, &receiver.url).await;
    let test = format!("/api/v1/webhooks/{id}/test");
    let log = format!("/api/v1/webhooks/{id}/deliveries");

    // Two failures, then it arrives.
    receiver.answer_next([500, 503]);
    server.post(&test, &user, json!({})).await;
    receiver.wait_for(1).await;
    let statuses = |log: &Value| -> Vec<(String, Value)> {
        log.as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|t| {
                (
                    t["status"].as_str().unwrap().to_owned(),
                    t["response_code"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(
        statuses(&server.get(&log, &user).await.1),
        [
            ("retrying".to_owned(), json!(500)),
            ("retrying".to_owned(), json!(503)),
            ("delivered".to_owned(), json!(200)),
        ]
    );

    // A receiver that keeps failing is given up on after the retry period, counted from when
    // each alert was raised; the alert behind it waits its turn meanwhile.
    receiver.answer(500);
    let (_, first) = server.post(&test, &user, json!({})).await;
    let (_, second) = server.post(&test, &user, json!({})).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    let log = loop {
        let (_, log) = server.get(&log, &user).await;
        let failed = |event: &Value| {
            log.as_array()
                .unwrap()
                .iter()
                .any(|t| t["event_id"] == event["event_id"] && t["status"] == "failed")
        };
        if failed(&first) && failed(&second) {
            break log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never given up: {log}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let chronological: Vec<&Value> = log.as_array().unwrap().iter().rev().collect();
    let tries_of = |event: &Value| {
        chronological
            .iter()
            .enumerate()
            .filter(|(_, t)| t["event_id"] == event["event_id"])
            .map(|(n, _)| n)
            .collect::<Vec<usize>>()
    };
    let (tries_of_first, tries_of_second) = (tries_of(&first), tries_of(&second));
    assert!(tries_of_first.len() > 3, "retried: {tries_of_first:?}");
    assert!(
        tries_of_first.last() < tries_of_second.first(),
        "the second alert waited for the first: {log}"
    );
    assert_eq!(receiver.delivered().len(), 1);

    // Once the receiver works again, the next alert arrives.
    receiver.answer(200);
    let (_, third) = server.post(&test, &user, json!({})).await;
    let delivered = receiver.wait_for(2).await;
    assert_eq!(delivered.len(), 2);
    assert_eq!(delivered[1].id(), third["event_id"].as_str().unwrap());
    server.finish().await;
}

async fn deliveries_survive_a_restart_and_go_out_once_from_two_instances(backend: Backend) {
    let mut settings = open_private();
    settings.insert("KEYWARDEN_WEBHOOK_RETRY_FOR", "1h".to_owned());
    let mut server = TestServer::start_with(backend, settings).await;
    let user = server.user("ida@example.com").await;
    let receiver = WebhookReceiver::start().await;
    let (id, _) = webhook(&server, &user, &receiver.url).await;
    let test = format!("/api/v1/webhooks/{id}/test");

    // Queued while the receiver is down; delivered by the restarted server.
    receiver.answer(503);
    let (_, queued) = server.post(&test, &user, json!({})).await;
    let log = format!("/api/v1/webhooks/{id}/deliveries");
    while server
        .get(&log, &user)
        .await
        .1
        .as_array()
        .unwrap()
        .is_empty()
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    server.restart_with(&[]).await;
    receiver.answer(200);
    let delivered = receiver.wait_for(1).await;
    assert_eq!(delivered[0].id(), queued["event_id"].as_str().unwrap());

    // Two instances share the queue: each alert goes out once, in order.
    let other = server.start_another_instance().await;
    let mut ids = Vec::new();
    for n in 0..12 {
        let url = if n % 2 == 0 {
            server.url(&test)
        } else {
            format!("{other}{test}")
        };
        let answer = server
            .http
            .post(url)
            .bearer_auth(&user)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::ACCEPTED);
        let queued: Value = answer.json().await.unwrap();
        ids.push(queued["event_id"].as_str().unwrap().to_owned());
    }
    let delivered = receiver.wait_for(13).await;
    let arrived: Vec<&str> = delivered[1..].iter().map(Delivery::id).collect();
    assert_eq!(arrived, ids, "each once, in the order raised");
    server.finish().await;
}

async fn webhooks_cannot_reach_this_network(backend: Backend) {
    let server = TestServer::start(backend).await;
    let user = server.user("jo@example.com").await;
    let receiver = WebhookReceiver::start().await;
    for url in [
        receiver.url.as_str(),
        "http://localhost:9/hook",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]:9/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:9/hook",
    ] {
        let (status, error) = server
            .post("/api/v1/webhooks", &user, json!({ "url": url }))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {error}");
        assert_eq!(error["code"], "webhook_url_refused", "{url}");
    }
    assert_eq!(server.count("webhooks").await, 0);
    server.finish().await;

    // The operator opens one address: a receiver there works, but it cannot redirect a
    // delivery to another loopback address, written out or by name.
    let one = HashMap::from([("KEYWARDEN_WEBHOOK_ALLOW_PRIVATE", "127.0.0.2/32".to_owned())]);
    let server = TestServer::start_with(backend, one).await;
    let user = server.user("jo@example.com").await;
    let (status, _) = server
        .post("/api/v1/webhooks", &user, json!({ "url": receiver.url }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let allowed = WebhookReceiver::start_on("127.0.0.2").await;
    let port = receiver.url.split(':').nth(2).unwrap();
    for target in [receiver.url.clone(), format!("http://localhost:{port}")] {
        allowed.redirect_to(&target);
        let (id, _) = webhook(&server, &user, &allowed.url).await;
        server
            .post(&format!("/api/v1/webhooks/{id}/test"), &user, json!({}))
            .await;
        let log = format!("/api/v1/webhooks/{id}/deliveries");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
        let error = loop {
            let (_, log) = server.get(&log, &user).await;
            if let Some(error) = log[0]["error"].as_str() {
                break error.to_owned();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no try logged: {log}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        assert!(error.contains("loopback"), "{target}: {error}");
    }
    assert_eq!(
        receiver.requests(),
        0,
        "nothing reached the refused address"
    );
    server.finish().await;
}

async fn webhook_secrets_follow_a_fernet_key_rotation(backend: Backend) {
    let mut server = TestServer::start_with(backend, open_private()).await;
    let user = server.user("kim@example.com").await;
    let receiver = WebhookReceiver::start().await;
    let (id, secret) = webhook(&server, &user, &receiver.url).await;
    let (new_key, stdout) = server.rotate_to_a_new_key();
    assert!(stdout.contains("rotated 1 webhook secrets"), "{stdout}");

    // The old key retired: deliveries are still signed with the secret the owner holds.
    server
        .restart_with(&[("FERNET_KEY", None), ("FERNET_KEYS", Some(new_key))])
        .await;
    server
        .post(&format!("/api/v1/webhooks/{id}/test"), &user, json!({}))
        .await;
    let delivered = receiver.wait_for(1).await;
    assert!(delivered[0].signed_with(&secret));
    server.finish().await;
}

async fn alerts_are_emailed_when_the_operator_configured_smtp(backend: Backend) {
    // Without SMTP, no email: the account is told so.
    let server = TestServer::start(backend).await;
    let user = server.user("lea@example.com").await;
    let (status, email) = server.get("/api/v1/alerts/email", &user).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        email,
        json!({"available": false, "enabled": true, "address": "lea@example.com"})
    );
    server.finish().await;

    let smtp = SmtpServer::start().await;
    let settings = HashMap::from([
        ("KEYWARDEN_SMTP_URL", smtp.url.clone()),
        (
            "KEYWARDEN_SMTP_FROM",
            "Keywarden <alerts@keywarden.test>".to_owned(),
        ),
        ("KEYWARDEN_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("KEYWARDEN_WEBHOOK_RETRY_FOR", "2s".to_owned()),
    ]);
    let server = TestServer::start_with(backend, settings).await;
    let user = server.user("lea@example.com").await;
    let (_, email) = server.get("/api/v1/alerts/email", &user).await;
    assert_eq!(email["available"], true);
    assert_eq!(email["enabled"], true);

    let pause = || server.post("/api/v1/bot-configs/pause-all", &user, json!({}));
    let resume = || server.post("/api/v1/bot-configs/resume-all", &user, json!({}));
    pause().await;
    let mails = smtp.wait_for(1).await;
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, ["lea@example.com"]);
    assert!(
        mails[0].from.contains("alerts@keywarden.test"),
        "{}",
        mails[0].from
    );
    assert_eq!(mails[0].subject(), "Keywarden: Every bot was paused");
    assert!(mails[0].body().contains("Event evt_"), "{}", mails[0].data);

    // Turned off, nothing more is sent; turned on again, it is.
    let (status, off) = server
        .call(
            Method::PUT,
            "/api/v1/alerts/email",
            Some(&user),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(off["enabled"], false);
    resume().await;
    pause().await;
    assert_eq!(smtp.wait_for(1).await.len(), 1);
    server
        .call(
            Method::PUT,
            "/api/v1/alerts/email",
            Some(&user),
            Some(json!({"enabled": true})),
        )
        .await;

    // A webhook failing for the whole retry period is told by email, and only by email; a
    // webhook's test is not emailed.
    let receiver = WebhookReceiver::start().await;
    receiver.answer(500);
    let (id, secret) = webhook(&server, &user, &receiver.url).await;
    server
        .post(&format!("/api/v1/webhooks/{id}/test"), &user, json!({}))
        .await;
    let mails = smtp.wait_for(2).await;
    assert_eq!(mails.len(), 2);
    assert_eq!(mails[1].subject(), "Keywarden: A webhook has been failing");
    assert!(
        mails[1].body().contains(&receiver.url),
        "{}",
        mails[1].body()
    );
    assert!(receiver.delivered().is_empty());
    for mail in &mails {
        for secret in [secret.as_str(), PASSWORD, DEMO_SECRET_KEY] {
            assert!(!mail.data.contains(secret) && !mail.body().contains(secret));
        }
    }
    server.finish().await;
}

async fn a_silent_receiver_times_out_fast(backend: Backend) {
    let mut settings = open_private();
    settings.insert("KEYWARDEN_WEBHOOK_RETRY_FOR", "1s".to_owned());
    let server = TestServer::start_with(backend, settings).await;
    let user = server.user("max@example.com").await;
    let receiver = WebhookReceiver::start().await;
    receiver.stall(std::time::Duration::from_secs(30));
    let (id, _) = webhook(&server, &user, &receiver.url).await;
    let started = std::time::Instant::now();
    server
        .post(&format!("/api/v1/webhooks/{id}/test"), &user, json!({}))
        .await;
    let log = format!("/api/v1/webhooks/{id}/deliveries");
    let error = loop {
        let (_, log) = server.get(&log, &user).await;
        if let Some(error) = log[0]["error"].as_str() {
            break error.to_owned();
        }
        assert!(started.elapsed().as_secs() < 15, "no try logged: {log}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(error, "the receiver did not answer within 5 s");
    assert!(started.elapsed().as_secs() < 8, "{:?}", started.elapsed());
    server.finish().await;
}
