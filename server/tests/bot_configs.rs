//! Bot configs against the real server on both backends: they need a key and go with it, and
//! no user reaches another's configs or key.

mod harness;

use harness::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_backends!(bot_configs_follow_their_key, users_see_only_their_own,);

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
