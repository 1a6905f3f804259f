//! The second factor against the real server: setup and confirmation, the sign-in's second step
//! (REST and browser), replayed and wrong codes, recovery codes, step-up before the changes that
//! need it, and the operator's rule that every account has one.

mod harness;

use std::collections::HashMap;

use app::service::Clock;
use harness::{Backend, PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use totp_rs::{Algorithm, Secret, TOTP};

on_both_backends!(
    a_second_factor_is_confirmed_then_asked_for_at_sign_in,
    codes_and_recovery_codes_work_once,
    a_browser_signs_in_with_a_code,
    wrong_codes_are_throttled_like_passwords,
    changes_that_need_it_ask_for_a_recent_code,
    the_operator_can_require_a_second_factor,
    the_secret_follows_a_fernet_key_rotation,
);

/// The authenticator app: the code for the server's current time, `steps` 30-second steps on.
fn code(server: &TestServer, secret: &str, steps: i64) -> String {
    let bytes = Secret::Encoded(secret.to_owned()).to_bytes().unwrap();
    let totp = TOTP::new(Algorithm::SHA1, 6, 0, 30, bytes, None, "test".into()).unwrap();
    let at = server.clock.now().timestamp() + steps * 30;
    totp.generate(at as u64)
}

/// Sets up and confirms a second factor; answers the secret and the recovery codes.
async fn turn_on(server: &TestServer, token: &str) -> (String, Vec<String>) {
    let (status, setup) = server
        .post("/api/v1/auth/2fa/setup", token, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{setup}");
    let secret = setup["secret"].as_str().unwrap().to_owned();
    harness::secret(&secret);
    let first = code(server, &secret, 0);
    let (status, codes) = server
        .post("/api/v1/auth/2fa/enable", token, json!({ "code": first }))
        .await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    let codes: Vec<String> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    codes.iter().for_each(|c| harness::secret(c));
    (secret, codes)
}

/// Both steps of an API sign-in; answers the second step's status and body.
async fn sign_in_with(server: &TestServer, email: &str, code: &str) -> (StatusCode, Value) {
    let (status, first) = server.login(email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["two_factor_required"], true, "{first}");
    assert!(first.get("access_token").is_none(), "{first}");
    let challenge = first["challenge"].as_str().unwrap();
    let body = json!({ "challenge": challenge, "code": code });
    server
        .call(Method::POST, "/api/v1/auth/login/2fa", None, Some(body))
        .await
}

async fn a_second_factor_is_confirmed_then_asked_for_at_sign_in(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("ann@example.com").await;
    let (_, status) = server.get("/api/v1/auth/2fa", &token).await;
    assert_eq!(status["enabled"], false, "{status}");

    let (code_status, early) = server
        .post(
            "/api/v1/auth/2fa/enable",
            &token,
            json!({ "code": "123456" }),
        )
        .await;
    assert_eq!(code_status, StatusCode::CONFLICT, "{early}");
    assert_eq!(early["code"], "two_factor_not_set_up");

    let (_, setup) = server
        .post("/api/v1/auth/2fa/setup", &token, json!({}))
        .await;
    let secret = setup["secret"].as_str().unwrap().to_owned();
    harness::secret(&secret);
    let uri = setup["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/Keywarden:ann%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(setup["qr_svg"].as_str().unwrap().starts_with("<svg"));
    // Set up but not confirmed: sign-in still takes the password alone.
    let (_, plain) = server.login("ann@example.com", PASSWORD).await;
    assert!(plain["access_token"].is_string(), "{plain}");

    let wrong = json!({ "code": code(&server, &secret, 3) });
    let (status, refused) = server.post("/api/v1/auth/2fa/enable", &token, wrong).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["code"], "invalid_code");
    let first = code(&server, &secret, 0);
    let (status, codes) = server
        .post("/api/v1/auth/2fa/enable", &token, json!({ "code": first }))
        .await;
    assert_eq!(status, StatusCode::OK, "{codes}");
    assert_eq!(codes["recovery_codes"].as_array().unwrap().len(), 10);
    let (_, status) = server.get("/api/v1/auth/2fa", &token).await;
    assert_eq!(status["enabled"], true, "{status}");
    assert_eq!(status["recovery_codes_left"], 10);
    let (again, _) = server
        .post("/api/v1/auth/2fa/setup", &token, json!({}))
        .await;
    assert_eq!(again, StatusCode::CONFLICT);

    // The code that confirmed the factor cannot sign in as well.
    let (status, replayed) = sign_in_with(&server, "ann@example.com", &first).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{replayed}");
    server.clock.advance(chrono::Duration::seconds(30));
    let (status, tokens) =
        sign_in_with(&server, "ann@example.com", &code(&server, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    harness::secret(tokens["refresh_token"].as_str().unwrap());
    let (status, me) = server.get("/api/v1/users/me", access).await;
    assert_eq!(status, StatusCode::OK, "{me}");

    let unknown = json!({ "challenge": "not-a-challenge", "code": code(&server, &secret, 1) });
    let (status, _) = server
        .call(Method::POST, "/api/v1/auth/login/2fa", None, Some(unknown))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A challenge lasts five minutes.
    let (_, first_step) = server.login("ann@example.com", PASSWORD).await;
    server.clock.advance(chrono::Duration::minutes(6));
    let late = json!({ "challenge": first_step["challenge"], "code": code(&server, &secret, 0) });
    let (status, _) = server
        .call(Method::POST, "/api/v1/auth/login/2fa", None, Some(late))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let stored = server.raw_database_text().await;
    assert!(
        !stored.contains(&secret),
        "the TOTP secret is stored in plaintext"
    );
    harness::assert_no_secret_in_logs();
    server.finish().await;
}

async fn codes_and_recovery_codes_work_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("bea@example.com").await;
    let (secret, recovery) = turn_on(&server, &token).await;
    server.clock.advance(chrono::Duration::seconds(30));
    let now = code(&server, &secret, 0);
    let (status, _) = sign_in_with(&server, "bea@example.com", &now).await;
    assert_eq!(status, StatusCode::OK);
    let (status, replay) = sign_in_with(&server, "bea@example.com", &now).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{replay}");
    assert_eq!(replay["code"], "invalid_code");
    // A code of an earlier step than one already used is refused too.
    let (status, _) = sign_in_with(&server, "bea@example.com", &code(&server, &secret, -1)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Recovery codes: typed in lower case, with spaces; each once.
    let typed = recovery[3].to_lowercase().replace('-', " ");
    let (status, tokens) = sign_in_with(&server, "bea@example.com", &typed).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (status, _) = sign_in_with(&server, "bea@example.com", &recovery[3]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let access = tokens["access_token"].as_str().unwrap();
    let (_, left) = server.get("/api/v1/auth/2fa", access).await;
    assert_eq!(left["recovery_codes_left"], 9, "{left}");

    // Two answers to one challenge at once open one session.
    server.clock.advance(chrono::Duration::seconds(30));
    let (_, first) = server.login("bea@example.com", PASSWORD).await;
    let answer = |code: &str| json!({ "challenge": first["challenge"], "code": code });
    let (a, b) = tokio::join!(
        server.call(
            Method::POST,
            "/api/v1/auth/login/2fa",
            None,
            Some(answer(&recovery[0]))
        ),
        server.call(
            Method::POST,
            "/api/v1/auth/login/2fa",
            None,
            Some(answer(&recovery[1]))
        ),
    );
    let opened = [a.0, b.0].iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(opened, 1, "{} {}", a.1, b.1);
    harness::assert_no_secret_in_logs();
    server.finish().await;
}

async fn a_browser_signs_in_with_a_code(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("cy@example.com").await;
    let (secret, _) = turn_on(&server, &token).await;
    server.clock.advance(chrono::Duration::seconds(30));
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let response = browser
        .post(server.url("/api/v1/ui/auth/login"))
        .json(&json!({ "email": "cy@example.com", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.starts_with("keywarden_challenge="),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let step: Value = response.json().await.unwrap();
    assert_eq!(step, json!({ "two_factor_required": true }));
    // No session yet.
    let me = browser
        .get(server.url("/api/v1/ui/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);

    let response = browser
        .post(server.url("/api/v1/ui/auth/login/2fa"))
        .json(&json!({ "code": code(&server, &secret, 0) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let me = browser
        .get(server.url("/api/v1/ui/users/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    // Signed in with a code, the session is stepped up.
    let status: Value = browser
        .get(server.url("/api/v1/ui/auth/2fa"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["stepped_up"], true, "{status}");
    server.finish().await;
}

async fn wrong_codes_are_throttled_like_passwords(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("dan@example.com").await;
    let (secret, _) = turn_on(&server, &token).await;
    server.clock.advance(chrono::Duration::seconds(30));
    let (_, first) = server.login("dan@example.com", PASSWORD).await;
    let answer = |code: String| json!({ "challenge": first["challenge"], "code": code });
    let right = code(&server, &secret, 0);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    // The default limit is 5 failures per account in the window.
    for _ in 0..5 {
        let (status, body) = server
            .call(
                Method::POST,
                "/api/v1/auth/login/2fa",
                None,
                Some(answer(wrong.clone())),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/auth/login/2fa",
            None,
            Some(answer(right)),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // The step-up of a session that is already signed in counts against the same limit.
    let (status, _) = server
        .post("/api/v1/auth/step-up", &token, json!({ "code": wrong }))
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    server.finish().await;
}

async fn changes_that_need_it_ask_for_a_recent_code(backend: Backend) {
    let server = TestServer::start(backend).await;
    let plain = server.user("eve@example.com").await;
    server.add_demo_key(&plain).await;
    let (_, bot) = server
        .post(
            "/api/v1/bot-configs",
            &plain,
            json!({"name": "grid", "symbol": "BTCUSDT"}),
        )
        .await;
    let tokens_path = format!("/api/v1/bot-configs/{}/tokens", bot["id"]);
    // Without a second factor, the bearer token is enough, as it always was.
    let (status, _) = server.post(&tokens_path, &plain, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);

    let (secret, _) = turn_on(&server, &plain).await;
    // Confirming the factor proved a code: the session may go on for the window.
    let (status, _) = server.post(&tokens_path, &plain, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    server.clock.advance(chrono::Duration::minutes(6));
    let email_off = json!({ "enabled": false });
    let refused = [
        server.post(&tokens_path, &plain, json!({})).await,
        server.delete("/api/v1/api-keys/me", &plain).await,
        server
            .call(
                Method::PUT,
                "/api/v1/alerts/email",
                Some(&plain),
                Some(email_off.clone()),
            )
            .await,
        server
            .post("/api/v1/auth/2fa/disable", &plain, json!({}))
            .await,
    ];
    for (status, body) in refused {
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["code"], "step_up_required");
    }
    // Reads and other changes do not ask.
    let (status, _) = server.get("/api/v1/api-keys/me", &plain).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = server
        .post("/api/v1/auth/step-up", &plain, json!({ "code": "000000x" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = server
        .post(
            "/api/v1/auth/step-up",
            &plain,
            json!({ "code": code(&server, &secret, 0) }),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = server.post(&tokens_path, &plain, json!({})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = server
        .call(
            Method::PUT,
            "/api/v1/alerts/email",
            Some(&plain),
            Some(email_off),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server
        .post("/api/v1/auth/2fa/disable", &plain, json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // Off again: the password alone signs in, and nothing asks for a code.
    let (_, tokens) = server.login("eve@example.com", PASSWORD).await;
    let fresh = tokens["access_token"].as_str().unwrap();
    let (status, _) = server.delete("/api/v1/api-keys/me", fresh).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, events) = server.get("/api/v1/audit?limit=200", fresh).await;
    let actions: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for action in [
        "user.two_factor_enable",
        "session.step_up",
        "user.two_factor_disable",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    server.finish().await;
}

async fn the_operator_can_require_a_second_factor(backend: Backend) {
    let overrides = HashMap::from([("KEYWARDEN_REQUIRE_2FA", "true".to_owned())]);
    let server = TestServer::start_with(backend, overrides).await;
    let token = server.user("fay@example.com").await;
    let (status, body) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "two_factor_setup_required");
    let (status, _) = server.get("/api/v1/users/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    let (_, status) = server.get("/api/v1/auth/2fa", &token).await;
    assert_eq!(status["required"], true, "{status}");
    turn_on(&server, &token).await;
    let (status, body) = server.get("/api/v1/api-keys/me", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    server.finish().await;
}

async fn the_secret_follows_a_fernet_key_rotation(backend: Backend) {
    let mut server = TestServer::start(backend).await;
    let token = server.user("gus@example.com").await;
    let (secret, _) = turn_on(&server, &token).await;
    let (new_key, stdout) = server.rotate_to_a_new_key();
    assert!(
        stdout.contains("rotated 1 second-factor secrets"),
        "{stdout}"
    );

    // The old key retired: the authenticator app's codes still prove.
    server
        .restart_with(&[("FERNET_KEY", None), ("FERNET_KEYS", Some(new_key))])
        .await;
    server.clock.advance(chrono::Duration::seconds(30));
    let (status, body) = sign_in_with(&server, "gus@example.com", &code(&server, &secret, 0)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    server.finish().await;
}
