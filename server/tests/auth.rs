//! Accounts and access against the real server on both backends: registration, sign-in,
//! access tokens on every endpoint, inactive users, and sessions ending by the server's clock
//! (idle time and maximum age), moved forward by the test.

mod harness;

use std::collections::HashMap;

use chrono::Duration;
use harness::{Backend, JWT_SECRET, PASSWORD, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    register_login_and_me,
    registration_refuses_duplicates_and_bad_input,
    wrong_credentials_get_one_answer,
    every_endpoint_needs_a_valid_token,
    inactive_users_are_forbidden,
    a_browser_session_ends_after_the_idle_time_without_a_request,
    every_session_ends_at_its_maximum_age_however_used,
);

async fn register_login_and_me(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, user) = server.register("Ann@Example.com", "long enough pw").await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["is_active"], true);
    assert!(user["id"].as_i64().is_some());
    assert!(
        user["created_at"].as_str().unwrap().ends_with('Z'),
        "{user}"
    );
    assert!(user.get("hashed_password").is_none());

    let (status, token) = server.login("ann@example.com", "long enough pw").await;
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
    let (status, _) = server.register("bo@example.com", "12345678").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server.register("BO@example.com", "12345678").await;
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
        // The bodies under test, sent as they are.
        let (status, body) = server
            .call(
                Method::POST,
                "/api/v1/auth/register",
                None,
                Some(bad.clone()),
            )
            .await;
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
    let wrong_password = server.login("dee@example.com", "not the password").await;
    let unknown_email = server.login("nobody@example.com", "not the password").await;
    assert_eq!(wrong_password.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_password, unknown_email);
    assert_eq!(wrong_password.1["code"], "invalid_credentials");
    for not_an_email in ["no at sign", ""] {
        assert_eq!(
            server.login(not_an_email, "not the password").await,
            wrong_password,
            "{not_an_email:?}"
        );
    }
    // A NUL character goes no further than the door, for any field.
    for with_nul in ["dee@example.com\0", "\0"] {
        let (status, body) = server.login(with_nul, "not the password").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{with_nul:?}");
        assert_eq!(body["code"], "validation_error");
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
    // Its right password gets the wrong password's answer, recorded for what it was.
    let (right, body) = server.login("fay@example.com", PASSWORD).await;
    let (wrong, wrong_body) = server.login("fay@example.com", "not the password").await;
    assert_eq!(
        (right, wrong),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(body, wrong_body);
    let recorded = "audit_events WHERE action = 'user.login' AND error_code = 'inactive_user'";
    assert_eq!(server.count(recorded).await, 1);
    // Its key is no longer checked in the background.
    server
        .execute("UPDATE api_keys SET last_validated_at = NULL")
        .await
        .unwrap();
    let checked = server
        .another_service()
        .await
        .revalidate_due_keys(chrono::Duration::hours(6), 100, 4)
        .await
        .unwrap();
    assert_eq!(checked, 0);
    server.finish().await;
}

const IDLE: Duration = Duration::minutes(30);
const MAX_AGE: Duration = Duration::hours(2);
/// Real time passes too (password hashing, requests): "just before" a limit is this far before.
const MARGIN: Duration = Duration::minutes(1);
const BROWSER_ME: &str = "/api/v1/ui/users/me";

/// A server with these session limits and 15-minute access tokens.
async fn server_with_session_limits(backend: Backend) -> TestServer {
    let limits = HashMap::from([
        ("KEYWARDEN_SESSION_IDLE", format!("{}m", IDLE.num_minutes())),
        (
            "KEYWARDEN_SESSION_MAX_AGE",
            format!("{}m", MAX_AGE.num_minutes()),
        ),
        ("JWT_EXPIRES_MINUTES", "15".to_owned()),
    ]);
    TestServer::start_with(backend, limits).await
}

fn assert_ended((status, body): (StatusCode, Value), context: &str) {
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("not_authenticated")),
        "{context}: {body}"
    );
}

async fn a_browser_session_ends_after_the_idle_time_without_a_request(backend: Backend) {
    let server = server_with_session_limits(backend).await;
    let (status, _) = server.register("ida@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    let cookie = server.browser_session("ida@example.com").await;
    // Just inside the idle time, twice: the first request keeps the session for the second,
    // though by then the sign-in is longer ago than the idle time.
    for step in ["since sign-in", "since the last request"] {
        server.clock.advance(IDLE - MARGIN);
        let (status, body) = server.get_with_cookie(BROWSER_ME, &cookie).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "just inside the idle time {step}: {body}"
        );
    }
    server.clock.advance(IDLE + MARGIN);
    assert_ended(
        server.get_with_cookie(BROWSER_ME, &cookie).await,
        "idle for longer than the idle time",
    );
    server.finish().await;
}

/// The access token, and the refresh token, of an API client's sign-in or refresh.
fn tokens(body: &Value) -> (String, String) {
    let token = |name: &str| body[name].as_str().unwrap().to_owned();
    (token("access_token"), token("refresh_token"))
}

async fn every_session_ends_at_its_maximum_age_however_used(backend: Backend) {
    let server = server_with_session_limits(backend).await;
    let email = "mo@example.com";
    let (status, _) = server.register(email, PASSWORD).await;
    assert_eq!(status, StatusCode::CREATED);
    let cookie = server.browser_session(email).await;
    let (status, body) = server.login(email, PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (mut access, mut refresh) = tokens(&body);

    // Both sessions are used every 20 minutes: the browser's is never idle for 30, and each
    // access token (15 minutes) has expired by then, so the client refreshes first.
    let step = Duration::minutes(20);
    let mut since_sign_in = Duration::zero();
    let mut use_both = async |by: Duration, context: &str| {
        server.clock.advance(by);
        let (status, body) = server.get("/api/v1/users/me", &access).await;
        assert_ended(
            (status, body),
            &format!("{context}: the access token expired"),
        );
        let (status, body) = server.refresh(&refresh).await;
        assert_eq!(status, StatusCode::OK, "{context}: {body}");
        (access, refresh) = tokens(&body);
        let (status, body) = server.get("/api/v1/users/me", &access).await;
        assert_eq!(status, StatusCode::OK, "{context}: {body}");
        let (status, body) = server.get_with_cookie(BROWSER_ME, &cookie).await;
        assert_eq!(status, StatusCode::OK, "{context}: {body}");
    };
    while since_sign_in + step < MAX_AGE - MARGIN {
        since_sign_in += step;
        use_both(step, &format!("{} minutes in", since_sign_in.num_minutes())).await;
    }
    use_both(
        MAX_AGE - MARGIN - since_sign_in,
        "just before the maximum age",
    )
    .await;

    // Past the maximum age: the access token just issued is refused with its session, the
    // refresh token trades for nothing, and the browser session (last used two minutes ago) ends.
    server.clock.advance(MARGIN * 2);
    assert_ended(
        server.get("/api/v1/users/me", &access).await,
        "a fresh access token of an expired session",
    );
    assert_ended(
        server.refresh(&refresh).await,
        "refresh after the maximum age",
    );
    assert_ended(
        server.get_with_cookie(BROWSER_ME, &cookie).await,
        "browser session after the maximum age",
    );
    server.finish().await;
}
