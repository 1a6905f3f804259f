//! Bot configs against the real server on both backends: they need a key and go with it, no
//! user reaches another's configs, tokens or key; policies, gateway tokens and the emergency
//! stop.

mod harness;

use harness::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    bot_configs_follow_their_key,
    users_see_only_their_own,
    policies_have_defaults_and_change_with_an_event_each,
    tokens_are_shown_once_and_stored_hashed,
    the_emergency_stop_pauses_every_bot_of_the_account,
    an_account_has_at_most_100_bot_configs,
);

async fn patch(server: &TestServer, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    server
        .call(Method::PATCH, path, Some(token), Some(body))
        .await
}

/// The actions of the caller's audit events, oldest first.
async fn actions(server: &TestServer, token: &str) -> Vec<String> {
    let (_, page) = server.get("/api/v1/audit?limit=200", token).await;
    let mut actions: Vec<String> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    actions.reverse();
    actions
}

async fn bot_configs_follow_their_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("ola@example.com").await;
    let config = json!({"name": "grid", "symbol": "btcusdt"});
    let (status, body) = server
        .post("/api/v1/bot-configs", &token, config.clone())
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("no_api_key"))
    );

    let key = server.add_demo_key(&token).await;
    let (status, first) = server.post("/api/v1/bot-configs", &token, config).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["api_key_id"], key["id"]);
    assert_eq!(first["symbol"], "BTCUSDT");
    assert_eq!(first["name"], "grid");
    assert!(first["created_at"].is_string());
    let (status, _) = server
        .post(
            "/api/v1/bot-configs",
            &token,
            json!({"name": "dca", "symbol": "ETHUSDT"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server
        .post(
            "/api/v1/bot-configs",
            &token,
            json!({"name": "", "symbol": "ETH/USDT"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, list) = server.get("/api/v1/bot-configs", &token).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0], first);

    let path = format!("/api/v1/bot-configs/{}", first["id"]);
    let (status, _) = server.delete(&path, &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.delete(&path, &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the key takes its remaining configs with it.
    let (status, body) = server.delete("/api/v1/api-keys/me", &token).await;
    assert_eq!((status, body), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(server.count("bot_configs").await, 0);
    assert_eq!(server.count("api_keys").await, 0);
    let (_, list) = server.get("/api/v1/bot-configs", &token).await;
    assert_eq!(list, json!([]));
    server.finish().await;
}

async fn users_see_only_their_own(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ann = server.user("pam@example.com").await;
    let bob = server.user("quin@example.com").await;
    server.add_demo_key(&ann).await;
    let (_, config) = server
        .post(
            "/api/v1/bot-configs",
            &ann,
            json!({"name": "grid", "symbol": "BTCUSDT"}),
        )
        .await;
    let (status, _) = server.get("/api/v1/api-keys/me", &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list) = server.get("/api/v1/bot-configs", &bob).await;
    assert_eq!(list, json!([]));
    let (status, _) = server
        .delete(&format!("/api/v1/bot-configs/{}", config["id"]), &bob)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.delete("/api/v1/api-keys/me", &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = server.get("/api/v1/api-keys/balance", &bob).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(server.count("bot_configs").await, 1);
    let (status, _) = server.get("/api/v1/api-keys/me", &ann).await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;
}

async fn policies_have_defaults_and_change_with_an_event_each(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("rae@example.com").await;
    server.add_demo_key(&token).await;
    let (status, bot) = server
        .post(
            "/api/v1/bot-configs",
            &token,
            json!({"name": "grid", "symbol": "BTCUSDT"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bot}");
    assert_eq!(bot["enabled"], true);
    assert_eq!(bot["max_order_notional"], Value::Null);
    assert_eq!(
        bot["order_types"],
        json!(["LIMIT", "LIMIT_MAKER", "MARKET"])
    );
    assert_eq!(bot["orders_per_minute"], 60);
    assert_eq!(bot["paused"], false);
    assert_eq!(bot["warnings"][0]["code"], "no_notional_limit");

    let path = format!("/api/v1/bot-configs/{}", bot["id"]);
    let change = json!({"max_order_notional": "250.50", "order_types": ["MARKET", "LIMIT"],
                        "orders_per_minute": 10, "enabled": false});
    let (status, changed) = patch(&server, &path, &token, change).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["max_order_notional"], "250.50");
    assert_eq!(changed["order_types"], json!(["LIMIT", "MARKET"]));
    assert_eq!(changed["orders_per_minute"], 10);
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["warnings"], json!([]));
    assert_eq!(
        (&changed["name"], &changed["symbol"]),
        (&bot["name"], &bot["symbol"])
    );

    // Left out: unchanged; null: the limit is lifted.
    let (_, renamed) = patch(&server, &path, &token, json!({"name": " grid 2 "})).await;
    assert_eq!(renamed["name"], "grid 2");
    assert_eq!(renamed["max_order_notional"], "250.50");
    let (_, lifted) = patch(&server, &path, &token, json!({"max_order_notional": null})).await;
    assert_eq!(lifted["max_order_notional"], Value::Null);
    assert_eq!(lifted["enabled"], false);

    for bad in [
        json!({"max_order_notional": "-5"}),
        json!({"max_order_notional": "1e9"}),
        json!({"max_order_notional": 250}),
        json!({"order_types": []}),
        json!({"order_types": ["ICEBERG"]}),
        json!({"orders_per_minute": 0}),
        json!({"name": ""}),
    ] {
        let (status, body) = patch(&server, &path, &token, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["code"].is_string(), "{body}");
    }
    let (_, list) = server.get("/api/v1/bot-configs", &token).await;
    assert_eq!(list[0], lifted, "refused changes change nothing");

    // Created with a policy of its own.
    let (status, strict) = server
        .post(
            "/api/v1/bot-configs",
            &token,
            json!({"name": "dca", "symbol": "ethusdt", "max_order_notional": "100",
                   "order_types": ["LIMIT"], "orders_per_minute": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{strict}");
    assert_eq!(strict["order_types"], json!(["LIMIT"]));
    assert_eq!(strict["max_order_notional"], "100");

    let other = server.user("sid@example.com").await;
    let (status, _) = patch(&server, &path, &other, json!({"enabled": true})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for missing in ["/api/v1/bot-configs/999999", "/api/v1/bot-configs/x"] {
        let (status, body) = patch(&server, missing, &token, json!({"enabled": true})).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("bot_config_not_found"))
        );
    }
    assert_eq!(
        actions(&server, &token).await,
        [
            "user.register",
            "user.login",
            "key.create",
            "bot_config.create",
            "bot_config.update",
            "bot_config.update",
            "bot_config.update",
            "bot_config.create",
        ]
    );
    let (_, page) = server.get("/api/v1/audit?limit=1", &token).await;
    assert_eq!(page["events"][0]["bot_config_id"], strict["id"]);
    server.finish().await;
}

async fn tokens_are_shown_once_and_stored_hashed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("tia@example.com").await;
    server.add_demo_key(&token).await;
    let (_, bot) = server
        .post(
            "/api/v1/bot-configs",
            &token,
            json!({"name": "grid", "symbol": "BTCUSDT"}),
        )
        .await;
    let tokens = format!("/api/v1/bot-configs/{}/tokens", bot["id"]);
    let (status, issued) = server
        .post(
            &tokens,
            &token,
            json!({"name": "vps", "expires_in_days": 30,
                   "allowed_ips": ["203.0.113.7", "10.0.0.0/8"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let secret = issued["token"].as_str().unwrap().to_owned();
    harness::secret(&secret);
    assert!(secret.starts_with("kwb_"), "{secret}");
    assert!(secret.len() >= 4 + 43, "256 random bits: {secret}");
    let prefix = issued["prefix"].as_str().unwrap();
    assert!(secret.starts_with(prefix) && prefix.len() < secret.len() / 2);
    assert_eq!(issued["name"], "vps");
    let created = chrono::DateTime::parse_from_rfc3339(issued["created_at"].as_str().unwrap());
    let expires = chrono::DateTime::parse_from_rfc3339(issued["expires_at"].as_str().unwrap());
    assert_eq!((expires.unwrap() - created.unwrap()).num_days(), 30);

    let (status, second) = server.post(&tokens, &token, json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    harness::secret(second["token"].as_str().unwrap());
    assert_eq!(second["expires_at"], Value::Null);
    assert_ne!(second["token"], issued["token"]);

    // Listed without the secret; only its hash is in the database.
    let (status, list) = server.get(&tokens, &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["prefix"], issued["prefix"]);
    assert_eq!(list[0]["allowed_ips"], json!(["203.0.113.7", "10.0.0.0/8"]));
    assert_eq!(list[0]["last_used_at"], Value::Null);
    assert!(list[0].get("token").is_none(), "{list}");
    assert!(!list.to_string().contains(&secret));
    assert!(!server.raw_database_text().await.contains(&secret));

    for bad in [
        json!({"expires_in_days": 0}),
        json!({"expires_in_days": 4000}),
        json!({"allowed_ips": ["example.com"]}),
        json!({"allowed_ips": ["10.0.0.0/33"]}),
        json!({"name": "a\u{7}b"}),
    ] {
        let (status, body) = server.post(&tokens, &token, bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }

    // Another user's bot: no tokens to list, issue or revoke.
    let other = server.user("uma@example.com").await;
    let first = format!("{tokens}/{}", issued["id"]);
    assert_eq!(server.get(&tokens, &other).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        server.post(&tokens, &other, json!({})).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(server.delete(&first, &other).await.0, StatusCode::NOT_FOUND);

    let (status, _) = server.delete(&first, &token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.delete(&first, &token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("bot_token_not_found"))
    );
    let (_, list) = server.get(&tokens, &token).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], second["id"]);

    // A bot's tokens go with it.
    let (status, _) = server
        .delete(&format!("/api/v1/bot-configs/{}", bot["id"]), &token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(server.count("bot_tokens").await, 0);
    let recorded = actions(&server, &token).await;
    assert_eq!(
        recorded[recorded.len() - 4..],
        [
            "bot_token.create",
            "bot_token.create",
            "bot_token.revoke",
            "bot_config.delete"
        ]
    );
    server.finish().await;
}

async fn the_emergency_stop_pauses_every_bot_of_the_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("val@example.com").await;
    server.add_demo_key(&token).await;
    for name in ["grid", "dca"] {
        let body = json!({"name": name, "symbol": "BTCUSDT"});
        server.post("/api/v1/bot-configs", &token, body).await;
    }
    let other = server.user("wes@example.com").await;
    server.add_demo_key(&other).await;
    let body = json!({"name": "theirs", "symbol": "BTCUSDT"});
    server.post("/api/v1/bot-configs", &other, body).await;

    let (status, paused) = server
        .post("/api/v1/bot-configs/pause-all", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{paused}");
    assert_eq!(paused["paused"], true);
    let since = paused["paused_at"].clone();
    assert!(since.is_string());
    let (_, again) = server
        .post("/api/v1/bot-configs/pause-all", &token, json!({}))
        .await;
    assert_eq!(again["paused_at"], since, "a pause keeps its first time");
    let (_, list) = server.get("/api/v1/bot-configs", &token).await;
    assert!(list.as_array().unwrap().iter().all(|b| b["paused"] == true));
    assert_eq!(
        list[0]["enabled"], true,
        "pausing leaves each bot's own switch"
    );
    let (_, theirs) = server.get("/api/v1/bot-configs", &other).await;
    assert_eq!(theirs[0]["paused"], false);

    let (status, resumed) = server
        .post("/api/v1/bot-configs/resume-all", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        resumed,
        json!({"paused": false, "paused_at": null, "reason": null})
    );
    let (_, list) = server.get("/api/v1/bot-configs", &token).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|b| b["paused"] == false)
    );
    let recorded = actions(&server, &token).await;
    assert_eq!(
        recorded[recorded.len() - 3..],
        ["bots.pause", "bots.pause", "bots.resume"]
    );
    server.finish().await;
}

async fn an_account_has_at_most_100_bot_configs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("max@example.com").await;
    server.add_demo_key(&token).await;
    for i in 0..90 {
        let config = json!({"name": format!("bot {i}"), "symbol": "BTCUSDT"});
        let (status, body) = server.post("/api/v1/bot-configs", &token, config).await;
        assert_eq!(status, StatusCode::CREATED, "{i}: {body}");
    }
    // Thirty at once for the last ten places: the count cannot be raced past the cap.
    let at_once = (90..120).map(|i| {
        let config = json!({"name": format!("bot {i}"), "symbol": "BTCUSDT"});
        server.post("/api/v1/bot-configs", &token, config)
    });
    let statuses: Vec<StatusCode> = futures_util::future::join_all(at_once)
        .await
        .into_iter()
        .map(|(status, _)| status)
        .collect();
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, refused), (10, 20), "{statuses:?}");
    let config = json!({"name": "one more", "symbol": "BTCUSDT"});
    let (status, body) = server.post("/api/v1/bot-configs", &token, config).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "bot_config_limit");
    assert_eq!(server.count("bot_configs").await, 100);
    // Another account is not touched by this one's count.
    let other = server.user("min@example.com").await;
    server.add_demo_key(&other).await;
    let config = json!({"name": "first", "symbol": "BTCUSDT"});
    let (status, _) = server.post("/api/v1/bot-configs", &other, config).await;
    assert_eq!(status, StatusCode::CREATED);
    server.finish().await;
}
