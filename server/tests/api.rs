//! The REST contract, line by line, against the real server on both backends.

mod harness;

use std::collections::HashMap;
use std::time::Duration;

use fake_exchange::{
    Account, DEMO_API_KEY, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY, DEMO_RSA_API_KEY,
    DEMO_RSA_PRIVATE_KEY, DEMO_SECRET_KEY, Fault, Restrictions,
};
use harness::{Backend, JWT_SECRET, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    register_login_and_me,
    registration_refuses_duplicates_and_bad_input,
    wrong_credentials_get_one_answer,
    every_endpoint_needs_a_valid_token,
    inactive_users_are_forbidden,
    create_validates_masks_and_encrypts,
    binance_rejections_store_nothing,
    exchange_faults_store_nothing,
    unreachable_exchange_is_a_bad_gateway,
    one_key_per_user,
    clock_skew_resynchronises_once,
    reads_are_retried_on_transient_faults,
    rate_limits_and_bans_answer_503_with_retry_after,
    request_weight_is_watched,
    revalidation_marks_refused_keys_invalid,
    ed25519_and_rsa_keys_sign_as_binance_checks,
    permissions_and_warnings_are_reported,
    keys_that_can_withdraw_are_refused,
    testnet_keys_and_wrong_environment,
    keys_are_rechecked_in_the_background,
    replace_and_rename_keep_the_key_and_its_configs,
    missing_key_is_404,
    balance_shows_non_zero_assets_as_sent,
    bot_configs_follow_their_key,
    users_see_only_their_own,
    server_functions_share_the_service,
    openapi_document_and_docs_page,
);

async fn register_login_and_me(backend: Backend) {
    let server = TestServer::start(backend).await;
    let credentials = json!({"email": "Ann@Example.com", "password": "long enough pw"});
    let (status, user) = server
        .call(
            Method::POST,
            "/api/v1/auth/register",
            None,
            Some(credentials),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["is_active"], true);
    assert!(user["id"].as_i64().is_some());
    assert!(
        user["created_at"].as_str().unwrap().ends_with('Z'),
        "{user}"
    );
    assert!(user.get("hashed_password").is_none());

    let (status, token) = server
        .call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": "ann@example.com", "password": "long enough pw"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 900);
    let access = token["access_token"].as_str().unwrap();
    let (status, me) = server.get("/api/v1/users/me", access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me, user);

    // The OAuth2 password flow FastAPI clients use: form-encoded username/password.
    let response = server
        .http
        .post(server.url("/api/v1/auth/login"))
        .form(&[
            ("username", "ann@example.com"),
            ("password", "long enough pw"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    server.finish().await;
}

async fn registration_refuses_duplicates_and_bad_input(backend: Backend) {
    let server = TestServer::start(backend).await;
    let register =
        |body: Value| server.call(Method::POST, "/api/v1/auth/register", None, Some(body));
    let (status, _) = register(json!({"email": "bo@example.com", "password": "12345678"})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = register(json!({"email": "BO@example.com", "password": "12345678"})).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    for bad in [
        json!({"email": "not-an-email", "password": "12345678"}),
        json!({"email": "cy@example.com", "password": "1234567"}),
        json!({"email": "cy@example.com"}),
        json!({"email": 5, "password": "12345678"}),
    ] {
        let (status, body) = register(bad.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad} -> {body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(body["code"], "validation_error");
    }
    let response = server
        .http
        .post(server.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "invalid_json");
    assert_eq!(server.count("users").await, 1);
    server.finish().await;
}

async fn wrong_credentials_get_one_answer(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.user("dee@example.com").await;
    let login = |email: &str, password: &str| {
        server.call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
    };
    let wrong_password = login("dee@example.com", "not the password").await;
    let unknown_email = login("nobody@example.com", "not the password").await;
    assert_eq!(wrong_password.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password.1["code"], "invalid_credentials");
    for not_an_email in ["dee@example.com\0", "\0", "no at sign", ""] {
        assert_eq!(
            login(not_an_email, "not the password").await,
            wrong_password,
            "{not_an_email:?}"
        );
    }
    server.finish().await;
}

fn token_signed_with(secret: &str, sub: &str, exp_offset_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": sub, "iat": now, "exp": now + exp_offset_secs}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn every_endpoint_needs_a_valid_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("eve@example.com").await;
    let (_, me) = server.get("/api/v1/users/me", &token).await;
    let id = me["id"].to_string();
    let protected = [
        (Method::GET, "/api/v1/users/me"),
        (Method::POST, "/api/v1/api-keys/"),
        (Method::POST, "/api/v1/api-keys"),
        (Method::GET, "/api/v1/api-keys/me"),
        (Method::DELETE, "/api/v1/api-keys/me"),
        (Method::PUT, "/api/v1/api-keys/me"),
        (Method::PATCH, "/api/v1/api-keys/me"),
        (Method::GET, "/api/v1/api-keys/balance"),
        (Method::POST, "/api/v1/api-keys/me/validate"),
        (Method::POST, "/api/v1/bot-configs"),
        (Method::GET, "/api/v1/bot-configs"),
        (Method::DELETE, "/api/v1/bot-configs/1"),
    ];
    let bad_tokens = [
        None,
        Some("not-a-jwt".to_owned()),
        Some(token_signed_with(
            "some-other-secret-of-enough-length-xx",
            &id,
            600,
        )),
        Some(token_signed_with(JWT_SECRET, &id, -3600)),
        Some(token_signed_with(JWT_SECRET, "999999", 600)),
    ];
    for (method, path) in protected {
        for bad in &bad_tokens {
            let mut request = server.http.request(method.clone(), server.url(path));
            if let Some(bad) = bad {
                request = request.bearer_auth(bad);
            }
            let response = request.json(&json!({})).send().await.unwrap();
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {bad:?}"
            );
            assert_eq!(response.headers()["www-authenticate"], "Bearer");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["code"], "not_authenticated");
        }
    }
    server.finish().await;
}

async fn inactive_users_are_forbidden(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("fay@example.com").await;
    server.add_demo_key(&token).await;
    server.deactivate_user("fay@example.com");
    let deactivations = "audit_events WHERE action = 'user.deactivate' AND outcome = 'success'";
    assert_eq!(server.count(deactivations).await, 1);
    let unknown = server
        .command(&["deactivate-user", "--email", "nobody@example.com"], &[])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no account has this email"), "{stderr}");
    for path in [
        "/api/v1/users/me",
        "/api/v1/api-keys/me",
        "/api/v1/bot-configs",
    ] {
        let (status, body) = server.get(path, &token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(body["code"], "inactive_user");
    }
    let (status, _) = server.delete("/api/v1/api-keys/me", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(server.count("api_keys").await, 1);
    server.finish().await;
}

async fn create_validates_masks_and_encrypts(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("gus@example.com").await;
    let created = server.add_demo_key(&token).await;
    assert_eq!(created["api_key_masked"], "vmPU********Eh8A");
    assert_eq!(created["label"], "main");
    assert_eq!(created["is_valid"], true);
    for field in ["id", "created_at", "updated_at"] {
        assert!(!created[field].is_null(), "{field}");
    }
    let text = created.to_string();
    assert!(!text.contains(DEMO_SECRET_KEY) && !text.contains(DEMO_API_KEY));
    assert_eq!(server.exchange.calls(), 1, "validated with Binance once");

    let (status, fetched) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, created);

    // Nothing readable at rest, and the ciphertexts are standard Fernet tokens.
    let raw = server.raw_database_text().await;
    assert!(
        !raw.contains(DEMO_API_KEY),
        "plaintext api key in the database"
    );
    assert!(
        !raw.contains(DEMO_SECRET_KEY),
        "plaintext secret in the database"
    );
    // Standard Fernet tokens holding envelopes that name their row: version, user, key, field.
    let (enc_key, enc_secret) = server.stored_ciphertexts().await;
    let fernet = fernet::Fernet::new(&server.fernet_key).unwrap();
    let user_id = server.get("/api/v1/users/me", &token).await.1["id"].clone();
    for (token, field, value) in [
        (&enc_key, "api_key", DEMO_API_KEY),
        (&enc_secret, "secret_key", DEMO_SECRET_KEY),
    ] {
        let envelope = String::from_utf8(fernet.decrypt(token).unwrap()).unwrap();
        let parts: Vec<&str> = envelope.splitn(5, '\n').collect();
        assert_eq!(parts[0], "keywarden:v1");
        assert_eq!(parts[1], user_id.to_string());
        assert_eq!(parts[2].len(), 16, "the Fernet key's id");
        assert_eq!((parts[3], parts[4]), (field, value));
    }

    // Without the trailing slash, for another user.
    let other = server.user("hal@example.com").await;
    let (status, body) = server
        .post(
            "/api/v1/api-keys",
            &other,
            json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["label"], Value::Null);
    server.finish().await;
}

async fn binance_rejections_store_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("ivy@example.com").await;
    let unknown_key = "A".repeat(64);
    let cases = [
        (
            unknown_key.as_str(),
            DEMO_SECRET_KEY,
            -2015,
            "Invalid API-key, IP, or permissions for action.",
        ),
        (
            DEMO_API_KEY,
            "wrong-secret",
            -1022,
            "Signature for this request is not valid.",
        ),
        (
            "short-key",
            DEMO_SECRET_KEY,
            -2014,
            "API-key format invalid.",
        ),
    ];
    for (api_key, secret_key, code, message) in cases {
        let (status, body) = server.create_key(&token, api_key, secret_key).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["binance_code"], code);
        assert_eq!(body["detail"], message);
        assert_eq!(body["code"], "binance_rejected");
        assert!(
            body["hint"].as_str().is_some_and(|h| !h.is_empty()),
            "{body}"
        );
        assert!(!body.to_string().contains("wrong-secret"));
    }
    assert_eq!(
        server.exchange.calls(),
        3,
        "Binance's 4xx answers are never retried"
    );
    assert_eq!(server.count("api_keys").await, 0);
    let (status, _) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.finish().await;
}

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

async fn one_key_per_user(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("lee@example.com").await;
    server.add_demo_key(&token).await;
    let (status, body) = server
        .create_key(&token, DEMO_API_KEY, DEMO_SECRET_KEY)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("api_key_exists"))
    );
    assert_eq!(
        server.exchange.calls(),
        1,
        "the second pair was not sent to Binance"
    );
    assert_eq!(server.count("api_keys").await, 1);
    server.finish().await;
}

async fn missing_key_is_404(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("max@example.com").await;
    for (method, path) in [
        (Method::GET, "/api/v1/api-keys/me"),
        (Method::DELETE, "/api/v1/api-keys/me"),
        (Method::GET, "/api/v1/api-keys/balance"),
    ] {
        let (status, body) = server.call(method, path, Some(&token), None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["code"], "api_key_not_found");
    }
    server.finish().await;
}

async fn balance_shows_non_zero_assets_as_sent(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("ned@example.com").await;
    server.add_demo_key(&token).await;
    let (status, body) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["balances"],
        json!([
            {"asset": "BTC", "free": "0.50000000", "locked": "0.10000000"},
            {"asset": "USDT", "free": "1000.00000000", "locked": "0.00000000"},
        ])
    );
    assert_eq!(body["environment"], "mainnet");
    assert!(body["updated_at"].as_str().unwrap().ends_with('Z'));
    server.exchange.set_fault(Fault::ServerError);
    let (status, _) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    server.finish().await;
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

async fn server_functions_share_the_service(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("rae@example.com").await;
    // Bearer token on a server function path.
    let (status, body) = server
        .post(
            "/api/v1/ui/api-keys",
            &token,
            json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY, "label": "ui"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["api_key_masked"], "vmPU********Eh8A");
    let (status, body) = server.get("/api/v1/ui/api-keys/me", &token).await;
    assert_eq!(
        (status, body["label"].as_str()),
        (StatusCode::OK, Some("ui"))
    );
    let (status, body) = server
        .post(
            "/api/v1/ui/api-keys",
            &token,
            json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY, "label": null}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("api_key_exists"))
    );

    // The browser's session: login sets an HttpOnly, SameSite=Strict cookie.
    let response = server
        .http
        .post(server.url("/api/v1/ui/auth/login"))
        .json(&json!({"email": "rae@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("keywarden_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let response = server
        .http
        .get(server.url("/api/v1/ui/users/me"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // A change riding on the cookie must come from the app's own origin (CSRF).
    let delete = |origin: Option<&str>| {
        let mut request = server
            .http
            .delete(server.url("/api/v1/ui/api-keys/me"))
            .header("cookie", &session);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    for foreign in [Some("https://evil.example"), None] {
        let response = delete(foreign).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{foreign:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "cross_site_request");
        assert_eq!(server.count("api_keys").await, 1);
    }
    let response = delete(Some(&server.base)).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(server.count("api_keys").await, 0);

    let (status, body) = server
        .call(Method::GET, "/api/v1/ui/api-keys/me", None, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("not_authenticated"))
    );
    server.finish().await;
}

async fn openapi_document_and_docs_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, doc) = server
        .call(Method::GET, "/api/openapi.json", None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/users/me",
        "/api/v1/api-keys/",
        "/api/v1/api-keys/me",
        "/api/v1/api-keys/me/validate",
        "/api/v1/api-keys/balance",
        "/api/v1/bot-configs",
        "/api/v1/bot-configs/{id}",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the document"
        );
    }
    let response = server
        .http
        .get(server.url("/api/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("swagger"));
    let (status, body) = server
        .call(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
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
        // A short Retry-After is waited out twice, then given up: three tries.
        (Fault::RateLimited(1), "exchange_rate_limited", "1", 3),
        // A long one is handed to the client at once.
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

async fn revalidation_marks_refused_keys_invalid(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("wes@example.com").await;
    let created = server.add_demo_key(&token).await;
    assert_eq!(created["last_validated_at"], created["created_at"]);
    let validate = "/api/v1/api-keys/me/validate";

    let (status, checked) = server.post(validate, &token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(checked["is_valid"], true);
    assert!(checked["last_validated_at"].as_str() >= created["last_validated_at"].as_str());

    // The user deleted the key on Binance: it is marked invalid, not deleted.
    server.exchange.remove_account(DEMO_API_KEY);
    let (status, checked) = server.post(validate, &token, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{checked}");
    assert_eq!(checked["is_valid"], false);
    let (_, fetched) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(fetched, checked);

    // Faults say nothing about the key: the row stays as it was.
    server.exchange.set_fault(Fault::Garbage);
    let (status, _) = server.post(validate, &token, json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    let (_, unchanged) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(unchanged, checked);

    // The same operation as a server function.
    server.exchange.set_fault(Fault::None);
    server
        .exchange
        .add_account(DEMO_API_KEY, Account::hmac(DEMO_SECRET_KEY));
    let (status, body) = server
        .post("/api/v1/ui/api-keys/me/validate", &token, json!({}))
        .await;
    assert_eq!(
        (status, body["is_valid"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    let (status, _) = server
        .post(validate, &server.user("xan@example.com").await, json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.finish().await;
}

async fn ed25519_and_rsa_keys_sign_as_binance_checks(backend: Backend) {
    let server = TestServer::start(backend).await;
    let cases = [
        (
            "ed25519",
            DEMO_ED25519_API_KEY,
            DEMO_ED25519_PRIVATE_KEY.to_owned(),
            "sBRX********pZJb",
        ),
        // A PEM pasted into a single-line field arrives without its line breaks.
        (
            "ed25519",
            DEMO_ED25519_API_KEY,
            DEMO_ED25519_PRIVATE_KEY.replace('\n', ""),
            "sBRX********pZJb",
        ),
        (
            "rsa",
            DEMO_RSA_API_KEY,
            DEMO_RSA_PRIVATE_KEY.to_owned(),
            "CAvI********TRTQ",
        ),
    ];
    for (i, (key_type, api_key, pem, masked)) in cases.into_iter().enumerate() {
        let token = server.user(&format!("{key_type}{i}@example.com")).await;
        let (status, body) = server.create_key(&token, api_key, &pem).await;
        assert_eq!(status, StatusCode::CREATED, "{key_type}: {body}");
        assert_eq!(body["key_type"], key_type);
        assert_eq!(body["api_key_masked"], masked);
        let (status, balance) = server.get("/api/v1/api-keys/balance", &token).await;
        assert_eq!(status, StatusCode::OK, "{key_type}: {balance}");
        assert_eq!(balance["balances"].as_array().unwrap().len(), 2);
        assert_eq!(balance["environment"], "mainnet");
        assert!(balance["updated_at"].is_string());
        let raw = server.raw_database_text().await;
        assert!(
            !raw.contains("MC4CAQAwBQYDK2VwBCIEIIJEYWtGBrhACmb9Dvy"),
            "PEM body at rest"
        );
    }
    // A PEM signed by another key is refused by Binance's signature check.
    let other = DEMO_ED25519_PRIVATE_KEY.replace("IIJEYWtGBrhACmb9", "IIJEYWtGBrhACmb8");
    let token = server.user("forger@example.com").await;
    let (status, body) = server
        .create_key(&token, DEMO_ED25519_API_KEY, &other)
        .await;
    assert_eq!(
        (status, body["binance_code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(-1022))
    );
    let bad_pem = "-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----";
    let (status, body) = server
        .create_key(&token, DEMO_ED25519_API_KEY, bad_pem)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(server.count("api_keys").await, 3);
    server.finish().await;
}

async fn permissions_and_warnings_are_reported(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("yul@example.com").await;
    let key = server.add_demo_key(&token).await;
    assert_eq!(
        key["permissions"],
        json!({"reading": true, "spot_trading": true, "withdrawals": false,
               "futures": false, "margin": false, "ip_restricted": false})
    );
    let codes: Vec<&str> = key["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["no_ip_restriction", "trading_expires"]);
    let expires =
        chrono::DateTime::parse_from_rfc3339(key["trading_expires_at"].as_str().unwrap()).unwrap();
    let days = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "{days}");
    let date = expires
        .with_timezone(&chrono::Utc)
        .format("%Y-%m-%d")
        .to_string();
    let detail = key["warnings"][1]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!(" on {date} ")), "{detail}");

    // An IP-restricted key keeps trading and earns no warning.
    let restricted = "R".repeat(64);
    server.exchange.add_account(
        &restricted,
        Account::hmac("restricted-secret").with_restrictions(Restrictions {
            ip_restrict: true,
            ..Restrictions::default()
        }),
    );
    let token = server.user("zed@example.com").await;
    let (status, key) = server
        .create_key(&token, &restricted, "restricted-secret")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(key["permissions"]["ip_restricted"], true);
    assert_eq!(key["warnings"], json!([]));
    assert_eq!(key["trading_expires_at"], Value::Null);

    // A read-only key is accepted, with a warning that bots cannot trade with it.
    let read_only = "O".repeat(64);
    server.exchange.add_account(
        &read_only,
        Account::hmac("read-only-secret").with_restrictions(Restrictions {
            ip_restrict: true,
            enable_spot_and_margin_trading: false,
            ..Restrictions::default()
        }),
    );
    let token = server.user("ike@example.com").await;
    let (status, key) = server
        .create_key(&token, &read_only, "read-only-secret")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(key["warnings"][0]["code"], "no_spot_trading");
    server.finish().await;
}

async fn keys_that_can_withdraw_are_refused(backend: Backend) {
    let withdrawing = "W".repeat(64);
    let account = Account::hmac("withdraw-secret").with_restrictions(Restrictions {
        enable_withdrawals: true,
        ..Restrictions::default()
    });
    let server = TestServer::start(backend).await;
    server.exchange.add_account(&withdrawing, account.clone());
    let token = server.user("amy@example.com").await;
    let (status, body) = server
        .create_key(&token, &withdrawing, "withdraw-secret")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("withdrawals_enabled"))
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("disable withdrawals")
    );
    assert_eq!(server.count("api_keys").await, 0);
    server.finish().await;

    let allow = HashMap::from([("KEYWARDEN_ALLOW_WITHDRAWAL_KEYS", "true".to_owned())]);
    let server = TestServer::start_with(backend, allow).await;
    server.exchange.add_account(&withdrawing, account);
    let token = server.user("amy@example.com").await;
    let (status, body) = server
        .create_key(&token, &withdrawing, "withdraw-secret")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["permissions"]["withdrawals"], true);
    server.finish().await;
}

async fn testnet_keys_and_wrong_environment(backend: Backend) {
    let server = TestServer::start(backend).await;
    let testnet_key = "T".repeat(64);
    server
        .testnet
        .add_account(&testnet_key, Account::hmac("testnet-secret"));
    let token = server.user("ben@example.com").await;

    // Sent to mainnet: Binance says -2015, and a probe finds it on the testnet.
    let (status, body) = server
        .create_key(&token, &testnet_key, "testnet-secret")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("wrong_environment"))
    );
    assert!(
        body["detail"].as_str().unwrap().contains("testnet"),
        "{body}"
    );
    assert_eq!(server.count("api_keys").await, 0);

    let (status, key) = server
        .post(
            "/api/v1/api-keys/",
            &token,
            json!({"api_key": testnet_key, "secret_key": "testnet-secret", "environment": "testnet"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    assert_eq!(key["environment"], "testnet");
    // The testnet says `canWithdraw: true` of every account: nothing is known of the key's
    // permissions but that it reads, and it is not refused for withdrawals.
    assert_eq!(
        key["permissions"],
        json!({"reading": true, "spot_trading": null, "withdrawals": null, "futures": null,
               "margin": null, "ip_restricted": null})
    );
    assert_eq!(key["warnings"], json!([]));
    let (status, balance) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(
        (status, balance["environment"].as_str()),
        (StatusCode::OK, Some("testnet"))
    );

    // A key neither environment knows is Binance's own -2015.
    let other = server.user("cal@example.com").await;
    let (status, body) = server.create_key(&other, &"U".repeat(64), "x").await;
    assert_eq!(
        (status, body["binance_code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(-2015))
    );
    server.finish().await;
}

async fn keys_are_rechecked_in_the_background(backend: Backend) {
    let every = HashMap::from([("KEYWARDEN_REVALIDATE_EVERY", "1s".to_owned())]);
    let server = TestServer::start_with(backend, every).await;
    let token = server.user("dot@example.com").await;
    let created = server.add_demo_key(&token).await;
    // The user deletes the key on Binance; the next background check marks it invalid.
    server.exchange.remove_account(DEMO_API_KEY);
    let mut key = created.clone();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        key = server.get("/api/v1/api-keys/me", &token).await.1;
        if key["is_valid"] == false {
            break;
        }
    }
    assert_eq!(key["is_valid"], false, "{key}");
    assert!(key["last_validated_at"].as_str() > created["last_validated_at"].as_str());
    assert_eq!(
        server.count("api_keys").await,
        1,
        "marked invalid, not deleted"
    );
    server.finish().await;
}

async fn replace_and_rename_keep_the_key_and_its_configs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("eli@example.com").await;
    let original = server.add_demo_key(&token).await;
    for name in ["grid", "dca"] {
        let config = json!({"name": name, "symbol": "BTCUSDT"});
        let (status, _) = server.post("/api/v1/bot-configs", &token, config).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (_, key) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(key["bot_config_count"], 2);

    // A pair Binance refuses changes nothing: the old one keeps working.
    let refused = json!({"api_key": "Q".repeat(64), "secret_key": "nope"});
    let (status, body) = server
        .call(
            Method::PUT,
            "/api/v1/api-keys/me",
            Some(&token),
            Some(refused),
        )
        .await;
    assert_eq!(
        (status, body["binance_code"].as_i64()),
        (StatusCode::BAD_REQUEST, Some(-2015))
    );
    let (_, unchanged) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(unchanged, key);
    let (status, _) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(status, StatusCode::OK);

    // An accepted pair takes the old one's place: same id, same configs, new type and mask.
    let replacement =
        json!({"api_key": DEMO_ED25519_API_KEY, "secret_key": DEMO_ED25519_PRIVATE_KEY});
    let (status, replaced) = server
        .call(
            Method::PUT,
            "/api/v1/api-keys/me",
            Some(&token),
            Some(replacement),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["id"], original["id"]);
    assert_eq!(replaced["key_type"], "ed25519");
    assert_eq!(replaced["api_key_masked"], "sBRX********pZJb");
    assert_eq!(
        replaced["label"], "main",
        "a missing label keeps the current one"
    );
    assert_eq!(replaced["bot_config_count"], 2);
    let (_, configs) = server.get("/api/v1/bot-configs", &token).await;
    assert!(
        configs
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["api_key_id"] == original["id"])
    );
    let (status, _) = server.get("/api/v1/api-keys/balance", &token).await;
    assert_eq!(status, StatusCode::OK, "the new pair signs the calls now");

    let (status, renamed) = server
        .call(
            Method::PATCH,
            "/api/v1/api-keys/me",
            Some(&token),
            Some(json!({"label": " trading bot "})),
        )
        .await;
    assert_eq!(
        (status, renamed["label"].as_str()),
        (StatusCode::OK, Some("trading bot"))
    );
    let (status, renamed) = server
        .call(
            Method::PATCH,
            "/api/v1/api-keys/me",
            Some(&token),
            Some(json!({"label": null})),
        )
        .await;
    assert_eq!(
        (status, renamed["label"].clone()),
        (StatusCode::OK, Value::Null)
    );
    let long = json!({"label": "x".repeat(101)});
    let (status, _) = server
        .call(
            Method::PATCH,
            "/api/v1/api-keys/me",
            Some(&token),
            Some(long),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    // The server functions behind the page's "Replace key" and "Rename".
    let (status, body) = server
        .call(
            Method::PATCH,
            "/api/v1/ui/api-keys/me",
            Some(&token),
            Some(json!({"label": "ui"})),
        )
        .await;
    assert_eq!(
        (status, body["label"].as_str()),
        (StatusCode::OK, Some("ui"))
    );
    let (status, list) = server.get("/api/v1/ui/bot-configs", &token).await;
    assert_eq!(
        (status, list.as_array().map(Vec::len)),
        (StatusCode::OK, Some(2))
    );

    let other = server.user("fin@example.com").await;
    let (status, _) = server
        .call(
            Method::PATCH,
            "/api/v1/api-keys/me",
            Some(&other),
            Some(json!({"label": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let demo = json!({"api_key": DEMO_API_KEY, "secret_key": DEMO_SECRET_KEY});
    let (status, _) = server
        .call(Method::PUT, "/api/v1/api-keys/me", Some(&other), Some(demo))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.finish().await;
}
