//! The API key resource against the real server on both backends: create (checked with
//! Binance, masked, encrypted), Binance's refusals, one key per user, replace, rename, delete,
//! validate, balance, permissions and warnings, Ed25519 and RSA keys, testnet keys, background
//! re-checks.

mod harness;

use std::collections::HashMap;
use std::time::Duration;

use fake_exchange::{
    Account, DEMO_API_KEY, DEMO_ED25519_API_KEY, DEMO_ED25519_PRIVATE_KEY, DEMO_RSA_API_KEY,
    DEMO_RSA_PRIVATE_KEY, DEMO_SECRET_KEY, Fault, Restrictions,
};
use harness::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    create_validates_masks_and_encrypts,
    binance_rejections_store_nothing,
    one_key_per_user,
    revalidation_marks_refused_keys_invalid,
    ed25519_and_rsa_keys_sign_as_binance_checks,
    permissions_and_warnings_are_reported,
    keys_that_can_withdraw_are_refused,
    keys_that_can_transfer_are_refused,
    egress_addresses_guide_the_ip_restriction,
    testnet_keys_and_wrong_environment,
    keys_are_rechecked_in_the_background,
    replace_and_rename_keep_the_key_and_its_configs,
    missing_key_is_404,
    balance_shows_non_zero_assets_as_sent,
);

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
    // Standard Fernet tokens holding envelopes that name their row: format, user, key, field,
    // and the row version both halves share.
    let (enc_key, enc_secret) = server.stored_ciphertexts().await;
    let fernet = fernet::Fernet::new(&server.fernet_key).unwrap();
    let user_id = server.get("/api/v1/users/me", &token).await.1["id"].clone();
    let mut versions = Vec::new();
    for (token, field, value) in [
        (&enc_key, "api_key", DEMO_API_KEY),
        (&enc_secret, "secret_key", DEMO_SECRET_KEY),
    ] {
        let envelope = String::from_utf8(fernet.decrypt(token).unwrap()).unwrap();
        let parts: Vec<&str> = envelope.splitn(6, '\n').collect();
        assert_eq!(parts[0], "keywarden:v2");
        assert_eq!(parts[1], user_id.to_string());
        assert_eq!(parts[2].len(), 16, "the Fernet key's id");
        assert_eq!((parts[3], parts[5]), (field, value));
        versions.push(parts[4].parse::<i64>().unwrap());
    }
    assert!(
        versions[0] > 0 && versions[0] == versions[1],
        "{versions:?}"
    );

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
               "futures": false, "margin": false, "ip_restricted": false,
               "internal_transfer": false, "universal_transfer": false,
               "vanilla_options": false})
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

/// Binance's transfer permissions move funds as withdrawals do: refused by default, naming
/// what to switch off; the operator's switch allows them too, and the key then shows them.
async fn keys_that_can_transfer_are_refused(backend: Backend) {
    let internal = "I".repeat(64);
    let universal = "U".repeat(64);
    let accounts = [
        (
            &internal,
            Restrictions {
                enable_internal_transfer: true,
                enable_vanilla_options: true,
                ..Restrictions::default()
            },
        ),
        (
            &universal,
            Restrictions {
                permits_universal_transfer: true,
                enable_internal_transfer: true,
                ..Restrictions::default()
            },
        ),
    ];
    let add_accounts = |server: &TestServer| {
        for (key, restrictions) in &accounts {
            let account = Account::hmac("transfer-secret").with_restrictions(restrictions.clone());
            server.exchange.add_account(key, account);
        }
    };
    let server = TestServer::start(backend).await;
    add_accounts(&server);
    let token = server.user("tia@example.com").await;
    let (status, body) = server
        .create_key(&token, &internal, "transfer-secret")
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("transfers_enabled"))
    );
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("disable internal transfer "), "{detail}");
    let (status, body) = server
        .create_key(&token, &universal, "transfer-secret")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("(internal transfer, universal transfer)"),
        "{detail}"
    );
    assert_eq!(server.count("api_keys").await, 0);
    server.finish().await;

    let allow = HashMap::from([("KEYWARDEN_ALLOW_WITHDRAWAL_KEYS", "true".to_owned())]);
    let server = TestServer::start_with(backend, allow).await;
    add_accounts(&server);
    let token = server.user("tia@example.com").await;
    let (status, body) = server
        .create_key(&token, &internal, "transfer-secret")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let permissions = &body["permissions"];
    assert_eq!(
        (
            &permissions["internal_transfer"],
            &permissions["universal_transfer"],
            &permissions["vanilla_options"],
            &permissions["withdrawals"],
        ),
        (&json!(true), &json!(false), &json!(true), &json!(false))
    );
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
               "margin": null, "ip_restricted": null, "internal_transfer": null,
               "universal_transfer": null, "vanilla_options": null})
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

    // The count follows a bot config's delete.
    let first = &configs[0]["id"];
    let (status, _) = server
        .call(
            Method::DELETE,
            &format!("/api/v1/bot-configs/{first}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, key) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(key["bot_config_count"], 1);

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

/// The operator names the addresses Keywarden calls Binance from: `GET /api/v1/meta` gives
/// them, an unrestricted key's warning asks for exactly those, and the next check after the
/// user restricted the key finds it restricted and drops the warning.
async fn egress_addresses_guide_the_ip_restriction(backend: Backend) {
    let egress = HashMap::from([(
        "KEYWARDEN_EGRESS_IPS",
        " 203.0.113.7, 2001:db8::7 ".to_owned(),
    )]);
    let server = TestServer::start_with(backend, egress).await;
    let (status, _) = server.call(Method::GET, "/api/v1/meta", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = server.user("eve@example.com").await;
    let (status, meta) = server.get("/api/v1/meta", &token).await;
    assert_eq!(status, StatusCode::OK, "{meta}");
    assert_eq!(meta["egress_ips"], json!(["203.0.113.7", "2001:db8::7"]));
    assert_eq!(
        meta["gateway_url"],
        format!("{}/gateway/binance", server.base)
    );

    let key = server.add_demo_key(&token).await;
    let warning = key["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["code"] == "no_ip_restriction")
        .expect("an unrestricted key is warned about")
        .clone();
    let detail = warning["detail"].as_str().unwrap();
    assert!(
        detail.contains("restrict it to exactly 203.0.113.7, 2001:db8::7 "),
        "{detail}"
    );
    server.exchange.add_account(
        DEMO_API_KEY,
        Account::hmac(DEMO_SECRET_KEY).with_restrictions(Restrictions {
            ip_restrict: true,
            ..Restrictions::default()
        }),
    );
    let (status, key) = server
        .post("/api/v1/api-keys/me/validate", &token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    assert_eq!(key["permissions"]["ip_restricted"], true);
    assert!(
        !key["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "no_ip_restriction"),
        "{key}"
    );
    server.finish().await;
}
