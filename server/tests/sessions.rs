//! Accounts and sessions against the real server: the JWT attack set, refresh-token rotation
//! and reuse, sign-out, throttling (also across two instances), a sign-in flood beside reads,
//! CSRF, security headers and CORS.

mod harness;

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use fake_exchange::DEMO_RSA_PRIVATE_KEY;
use harness::{Backend, JWT_SECRET, PASSWORD, TestServer};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    forged_and_stale_tokens_are_refused,
    refresh_tokens_rotate_and_a_replay_revokes_the_session,
    sessions_can_be_listed_revoked_and_ended_everywhere,
    a_password_change_ends_the_other_sessions,
    failed_sign_ins_are_throttled_per_account_and_per_address,
    limits_hold_across_two_instances,
    concurrent_wrong_passwords_reach_the_hash_at_most_the_limit,
    an_ipv6_network_counts_as_one_address,
    a_planted_or_second_session_cookie_is_refused,
    strangers_cannot_shut_the_owner_out,
    registrations_are_limited_per_address,
    registering_a_taken_email_counts_too,
    password_change_guesses_are_limited,
    reads_keep_answering_during_a_sign_in_flood,
    responses_carry_security_headers,
    expired_sessions_and_counters_are_purged,
);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

const WRONG_PASSWORD: &str = "not the password";

/// Signs in on the instance at `base`, from the address `from` as a proxy names it.
async fn sign_in(
    server: &TestServer,
    base: &str,
    email: &str,
    password: &str,
    from: &str,
) -> (StatusCode, Value, Option<String>) {
    let request = server
        .http
        .post(format!("{base}/api/v1/auth/login"))
        .header("x-forwarded-for", from)
        .json(&json!({"email": email, "password": password}));
    answer(request).await
}

/// Status, JSON body and `Retry-After`.
async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value, Option<String>) {
    let response = request.send().await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, retry_after)
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap()
}

/// A genuine RS256 token (RSASSA-PKCS1-v1_5 with SHA-256) under a key the server never saw.
fn rs256_signed(header: &str, payload: &str) -> String {
    let signer = app::exchange::Signer::from_secret(DEMO_RSA_PRIVATE_KEY).unwrap();
    let signing_input = format!("{header}.{payload}");
    let signature = base64::engine::general_purpose::STANDARD
        .decode(signer.sign(&signing_input))
        .unwrap();
    format!("{signing_input}.{}", B64.encode(signature))
}

fn sign(header: Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

async fn forged_and_stale_tokens_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("ada@example.com").await;
    let other = server.user("bob@example.com").await;
    server.add_demo_key(&token).await;
    let claims = claims_of(&token);
    let now = chrono::Utc::now().timestamp();
    let secret = EncodingKey::from_secret(JWT_SECRET.as_bytes());
    let with = |changes: Value| {
        let mut changed = claims.clone();
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                changed.as_object_mut().unwrap().remove(name);
            } else {
                changed[name] = value.clone();
            }
        }
        changed
    };
    let (header, payload, signature) = {
        let mut parts = token.split('.');
        (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        )
    };
    let none_header = B64.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let rs256_header = B64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let bob_id = claims_of(&other)["sub"].clone();
    let tampered_payload = B64.encode(with(json!({"sub": bob_id})).to_string());
    let hmac_under_rs256 = {
        // HS/RS confusion: an RS256 header over a body MACed with the server's own secret.
        use hmac::Mac;
        let signing_input = format!("{rs256_header}.{payload}");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(JWT_SECRET.as_bytes()).unwrap();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            B64.encode(mac.finalize().into_bytes())
        )
    };
    let attacks: Vec<(&str, String)> = vec![
        ("alg none", format!("{none_header}.{payload}.")),
        (
            "alg none, signature kept",
            format!("{none_header}.{payload}.{signature}"),
        ),
        ("HS/RS confusion", hmac_under_rs256),
        (
            "RS256 with an attacker's key",
            rs256_signed(&rs256_header, payload),
        ),
        (
            "wrong key",
            sign(
                Header::new(Algorithm::HS256),
                &claims,
                &EncodingKey::from_secret(b"a-different-secret-of-enough-length!!"),
            ),
        ),
        (
            "expired",
            sign(
                Header::default(),
                &with(json!({"exp": now - 120, "iat": now - 1000, "nbf": now - 1000})),
                &secret,
            ),
        ),
        (
            "not yet valid",
            sign(Header::default(), &with(json!({"nbf": now + 600})), &secret),
        ),
        (
            "issued in the future",
            sign(Header::default(), &with(json!({"iat": now + 600})), &secret),
        ),
        (
            "tampered payload",
            format!("{header}.{tampered_payload}.{signature}"),
        ),
        (
            "missing sub",
            sign(Header::default(), &with(json!({"sub": null})), &secret),
        ),
        (
            "missing exp",
            sign(Header::default(), &with(json!({"exp": null})), &secret),
        ),
        (
            "another user's session",
            sign(Header::default(), &with(json!({"sub": bob_id})), &secret),
        ),
        (
            "unknown session",
            sign(
                Header::default(),
                &with(json!({"sid": "no-such-session"})),
                &secret,
            ),
        ),
        ("not a JWT", "garbage".into()),
    ];
    for (name, forged) in &attacks {
        for (method, path) in [
            (Method::GET, "/api/v1/users/me"),
            (Method::DELETE, "/api/v1/api-keys/me"),
        ] {
            let (status, body) = server.call(method, path, Some(forged), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
            assert_eq!(body["code"], "not_authenticated", "{name}");
        }
    }
    assert_eq!(server.count("api_keys").await, 1, "nothing changed");
    let (status, _) = server.get("/api/v1/users/me", &token).await;
    assert_eq!(status, StatusCode::OK, "the genuine token still works");

    // Signed out: that session's token ends; another session of the same user goes on.
    let second = server.user_session("ada@example.com").await;
    let (status, _) = server
        .call(Method::POST, "/api/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = server.get("/api/v1/users/me", &token).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("not_authenticated"))
    );
    let (status, _) = server.get("/api/v1/users/me", &second).await;
    assert_eq!(status, StatusCode::OK);

    // Deactivated: 403 at once; deleted: 401.
    server.deactivate_user("ada@example.com");
    let (status, body) = server.get("/api/v1/api-keys/me", &second).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("inactive_user"))
    );
    server
        .execute("DELETE FROM users WHERE email = 'ada@example.com'")
        .await
        .unwrap();
    let (status, _) = server.get("/api/v1/users/me", &second).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    server.finish().await;
}

async fn refresh_tokens_rotate_and_a_replay_revokes_the_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    server.user("cy@example.com").await;
    let (status, first) = server.login("cy@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();

    let (status, second) = server.refresh(&r1).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    let access = second["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        claims_of(&access)["sid"],
        claims_of(first["access_token"].as_str().unwrap())["sid"]
    );
    let (status, _) = server.get("/api/v1/users/me", &access).await;
    assert_eq!(status, StatusCode::OK);

    // r1 again: someone replays a used token; the whole family ends.
    let (status, body) = server.refresh(&r1).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("not_authenticated"))
    );
    let (status, _) = server.get("/api/v1/users/me", &access).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the family's access token ends"
    );
    let (status, _) = server.refresh(&r2).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "and so does its latest refresh token"
    );
    let (status, _) = server.refresh("never-issued").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = server
        .call(Method::POST, "/api/v1/auth/refresh", None, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // The stored form is a hash.
    let raw = server.raw_database_text().await;
    assert!(!raw.contains(&r1) && !raw.contains(&r2));
    server.finish().await;
}

async fn sessions_can_be_listed_revoked_and_ended_everywhere(backend: Backend) {
    let server = TestServer::start(backend).await;
    let one = server.user("dee@example.com").await;
    let two = server.user_session("dee@example.com").await;
    let three = server.user_session("dee@example.com").await;
    let (status, sessions) = server.get("/api/v1/auth/sessions", &one).await;
    assert_eq!(status, StatusCode::OK);
    let sessions = sessions.as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for session in &sessions {
        assert_eq!(session["kind"], "api");
        assert_eq!(session["ip"], "127.0.0.1");
        assert_eq!(session["user_agent"], "keywarden-tests");
    }
    let two_id = claims_of(&two)["sid"].as_str().unwrap().to_owned();
    let (status, _) = server
        .delete(&format!("/api/v1/auth/sessions/{two_id}"), &one)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.get("/api/v1/users/me", &two).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = server
        .delete(&format!("/api/v1/auth/sessions/{two_id}"), &one)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("session_not_found"))
    );
    // Another user's session cannot be revoked.
    let stranger = server.user("eli@example.com").await;
    let three_id = claims_of(&three)["sid"].as_str().unwrap().to_owned();
    let (status, _) = server
        .delete(&format!("/api/v1/auth/sessions/{three_id}"), &stranger)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/auth/logout-everywhere",
            Some(&three),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for token in [&one, &three] {
        let (status, _) = server.get("/api/v1/users/me", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = server.get("/api/v1/users/me", &stranger).await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;
}

async fn a_password_change_ends_the_other_sessions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let here = server.user("fox@example.com").await;
    let elsewhere = server.user_session("fox@example.com").await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/auth/password",
            Some(&here),
            Some(change("wrong one!", "a brand new password")),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("wrong_password"))
    );
    let (status, _) = server
        .call(
            Method::POST,
            "/api/v1/auth/password",
            Some(&here),
            Some(change(PASSWORD, "short")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = server.get("/api/v1/users/me", &elsewhere).await;
    assert_eq!(status, StatusCode::OK, "failed changes end nothing");

    harness::secret("a brand new password");
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/auth/password",
            Some(&here),
            Some(change(PASSWORD, "a brand new password")),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = server.get("/api/v1/users/me", &elsewhere).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = server.get("/api/v1/users/me", &here).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the session that changed it goes on"
    );
    let (status, _) = server.login("fox@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let (status, _) = server
        .login("fox@example.com", "a brand new password")
        .await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;
}

fn trusting_loopback() -> HashMap<&'static str, String> {
    HashMap::from([("KEYWARDEN_TRUSTED_PROXIES", "127.0.0.1".to_owned())])
}

async fn failed_sign_ins_are_throttled_per_account_and_per_address(backend: Backend) {
    let mut overrides = trusting_loopback();
    overrides.insert("KEYWARDEN_LOGIN_FAILURES_PER_IP", "8".into());
    let server = TestServer::start_with(backend, overrides).await;
    server.user("gil@example.com").await;
    server.user("hal@example.com").await;
    let base = server.base.clone();

    // Five failures against gil from one address...
    for _ in 0..5 {
        let (status, _, _) = sign_in(
            &server,
            &base,
            "gil@example.com",
            WRONG_PASSWORD,
            "203.0.113.1",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // ...and the sixth attempt from there, even with the right password, waits.
    let (status, body, retry_after) =
        sign_in(&server, &base, "gil@example.com", PASSWORD, "203.0.113.1").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts")),
        "{body}"
    );
    let seconds: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=900).contains(&seconds), "{seconds}");
    // Another account from another address is unaffected.
    let (status, _, _) = sign_in(&server, &base, "hal@example.com", PASSWORD, "198.51.100.7").await;
    assert_eq!(status, StatusCode::OK);

    // Per address: three more failures from 203.0.113.1 (on other accounts) reach its 8.
    for email in ["hal@example.com", "nobody@example.com", "hal@example.com"] {
        let (status, _, _) = sign_in(&server, &base, email, WRONG_PASSWORD, "203.0.113.1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, retry_after) =
        sign_in(&server, &base, "hal@example.com", PASSWORD, "203.0.113.1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after.is_some());
    let (status, _, _) = sign_in(&server, &base, "hal@example.com", PASSWORD, "198.51.100.8").await;
    assert_eq!(status, StatusCode::OK);
    server.finish().await;

    // Without a trusted proxy in front, X-Forwarded-For is the client's claim and is ignored:
    // failures claiming three addresses all count against the socket's.
    let overrides = HashMap::from([("KEYWARDEN_LOGIN_FAILURES_PER_IP", "3".to_owned())]);
    let plain = TestServer::start_with(backend, overrides).await;
    plain.user("ivy@example.com").await;
    for i in 0..3 {
        let claimed = format!("192.0.2.{i}");
        let (status, _, _) = sign_in(
            &plain,
            &plain.base,
            "nobody@example.com",
            WRONG_PASSWORD,
            &claimed,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = sign_in(
        &plain,
        &plain.base,
        "ivy@example.com",
        PASSWORD,
        "192.0.2.99",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    plain.finish().await;
}

async fn limits_hold_across_two_instances(backend: Backend) {
    let mut server = TestServer::start_with(backend, trusting_loopback()).await;
    server.user("jo@example.com").await;
    let other = server.start_another_instance().await;
    let bases = [server.base.clone(), other.clone()];
    for i in 0..5 {
        let (status, _, _) = sign_in(
            &server,
            &bases[i % 2],
            "jo@example.com",
            WRONG_PASSWORD,
            "203.0.113.9",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for base in &bases {
        let (status, _, _) =
            sign_in(&server, base, "jo@example.com", PASSWORD, "203.0.113.9").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{base}");
    }
    // A session opened on one instance is ended through the other, and both know it.
    let token = server.user("kay@example.com").await;
    let (status, _, _) = answer(
        server
            .http
            .post(format!("{other}/api/v1/auth/logout"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for base in &bases {
        let (status, _, _) = answer(
            server
                .http
                .get(format!("{base}/api/v1/users/me"))
                .bearer_auth(&token),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{base}");
    }
    server.finish().await;
}

async fn registrations_are_limited_per_address(backend: Backend) {
    let mut overrides = trusting_loopback();
    overrides.insert("KEYWARDEN_REGISTRATIONS_PER_IP", "3".into());
    let server = TestServer::start_with(backend, overrides).await;
    let register = |email: String, ip: &'static str| {
        server
            .http
            .post(server.url("/api/v1/auth/register"))
            .header("x-forwarded-for", ip)
            .json(&json!({"email": email, "password": PASSWORD}))
    };
    for i in 0..3 {
        let (status, _, _) = answer(register(format!("r{i}@example.com"), "203.0.113.5")).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, body, retry_after) =
        answer(register("r3@example.com".into(), "203.0.113.5")).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts"))
    );
    let seconds: u64 = retry_after.unwrap().parse().unwrap();
    assert!((3000..=3600).contains(&seconds), "{seconds}");
    assert_eq!(server.count("users").await, 3);
    let (status, _, _) = answer(register("r3@example.com".into(), "203.0.113.6")).await;
    assert_eq!(status, StatusCode::CREATED);
    server.finish().await;
}

async fn concurrent_wrong_passwords_reach_the_hash_at_most_the_limit(backend: Backend) {
    let server = TestServer::start_with(
        backend,
        HashMap::from([("KEYWARDEN_LOGIN_FAILURES_PER_IP", "1000".to_owned())]),
    )
    .await;
    server.user("race@example.com").await;
    let attempts = (0..200).map(|_| server.login("race@example.com", WRONG_PASSWORD));
    let answers = futures_util::future::join_all(attempts).await;
    let refused = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let checked = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!((checked, refused), (5, 195));
    // Each checked attempt is a hashed password, recorded as such.
    let hashed = server
        .count("audit_events WHERE action = 'user.login' AND error_code = 'invalid_credentials'")
        .await;
    assert_eq!(hashed, 5);
    server.finish().await;
}

async fn an_ipv6_network_counts_as_one_address(backend: Backend) {
    let mut overrides = trusting_loopback();
    overrides.insert("KEYWARDEN_LOGIN_FAILURES_PER_IP", "3".into());
    let server = TestServer::start_with(backend, overrides).await;
    let base = server.base.clone();
    let attempt = |from: &'static str| {
        let (server, base) = (&server, base.clone());
        async move {
            sign_in(server, &base, "nobody@example.com", WRONG_PASSWORD, from)
                .await
                .0
        }
    };
    // Three addresses of one /64 are one client to the limit...
    for from in ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"] {
        assert_eq!(attempt(from).await, StatusCode::UNAUTHORIZED, "{from}");
    }
    assert_eq!(
        attempt("2001:db8:1:2::99").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...and the next /64 is another.
    assert_eq!(attempt("2001:db8:1:3::1").await, StatusCode::UNAUTHORIZED);
    server.finish().await;
}

async fn a_planted_or_second_session_cookie_is_refused(backend: Backend) {
    let https = HashMap::from([(
        "KEYWARDEN_PUBLIC_URL",
        "https://keywarden.example".to_owned(),
    )]);
    let server = TestServer::start_with(backend, https).await;
    server.user("toss@example.com").await;
    let signed_in = server
        .http
        .post(server.url("/api/v1/ui/auth/login"))
        .json(&json!({"email": "toss@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), StatusCode::OK);
    let set_cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        set_cookie.starts_with("__Host-keywarden_session="),
        "{set_cookie}"
    );
    assert!(set_cookie.contains("; Path=/;") && set_cookie.ends_with("; Secure"));
    assert!(!set_cookie.contains("Domain"), "{set_cookie}");
    let value = set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1;
    harness::secret(value);
    let me = |cookie: String| {
        let request = server
            .http
            .get(server.url("/api/v1/users/me"))
            .header("cookie", cookie);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(
        me(format!("__Host-keywarden_session={value}"))
            .await
            .status(),
        StatusCode::OK
    );
    // The same value under the plain name, as a sibling subdomain could set it, opens nothing.
    assert_eq!(
        me(format!("keywarden_session={value}")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Two session cookies: one was planted, so neither counts.
    let two = me(format!(
        "__Host-keywarden_session=planted.x; __Host-keywarden_session={value}"
    ))
    .await;
    assert_eq!(two.status(), StatusCode::UNAUTHORIZED);
    let body: Value = two.json().await.unwrap();
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("two session cookies")
    );
    server.finish().await;
}

async fn registering_a_taken_email_counts_too(backend: Backend) {
    let mut overrides = trusting_loopback();
    overrides.insert("KEYWARDEN_REGISTRATIONS_PER_IP", "3".into());
    let server = TestServer::start_with(backend, overrides).await;
    let register = || {
        server
            .http
            .post(server.url("/api/v1/auth/register"))
            .header("x-forwarded-for", "203.0.113.9")
            .json(&json!({"email": "taken@example.com", "password": PASSWORD}))
    };
    let statuses = [
        StatusCode::CREATED,
        StatusCode::CONFLICT,
        StatusCode::CONFLICT,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::TOO_MANY_REQUESTS,
    ];
    for expected in statuses {
        let (status, body, _) = answer(register()).await;
        assert_eq!(status, expected, "{body}");
    }
    assert_eq!(server.count("users").await, 1);
    server.finish().await;
}

async fn password_change_guesses_are_limited(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("guess@example.com").await;
    let change = |current: &str| json!({"current_password": current, "new_password": "a brand new password"});
    for guess in 0..5 {
        let (status, body) = server
            .call(
                Method::POST,
                "/api/v1/auth/password",
                Some(&token),
                Some(change(&format!("guess number {guess}"))),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    // Past the sign-in limit, even the right password waits.
    let (status, body) = server
        .call(
            Method::POST,
            "/api/v1/auth/password",
            Some(&token),
            Some(change(PASSWORD)),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("too_many_attempts"))
    );
    let (status, _) = server.get("/api/v1/users/me", &token).await;
    assert_eq!(status, StatusCode::OK, "the password did not change");
    server.finish().await;
}

async fn reads_keep_answering_during_a_sign_in_flood(backend: Backend) {
    let server = TestServer::start(backend).await;
    let token = server.user("kim@example.com").await;
    server.add_demo_key(&token).await;
    let flood: Vec<_> = (0..24)
        .map(|i| {
            let request = server
                .http
                .post(server.url("/api/v1/auth/login"))
                .json(&json!({"email": "kim@example.com", "password": if i % 2 == 0 { PASSWORD } else { "wrong password" }}));
            tokio::spawn(request.send())
        })
        .collect();
    let mut reads = 0;
    while reads < 40 {
        let read = tokio::time::timeout(
            Duration::from_secs(10),
            server.get("/api/v1/api-keys/me", &token),
        );
        let (status, _) = read.await.expect("a read finished beside the flood");
        assert_eq!(status, StatusCode::OK);
        reads += 1;
    }
    for login in flood {
        let status = login.await.unwrap().unwrap().status();
        assert!(
            [
                StatusCode::OK,
                StatusCode::UNAUTHORIZED,
                StatusCode::TOO_MANY_REQUESTS
            ]
            .contains(&status),
            "{status}"
        );
    }
    server.finish().await;
}

async fn responses_carry_security_headers(backend: Backend) {
    let mut overrides = HashMap::new();
    overrides.insert(
        "KEYWARDEN_CORS_ORIGINS",
        "https://bots.example.com".to_owned(),
    );
    let server = TestServer::start_with(backend, overrides).await;
    let token = server.user("lee@example.com").await;
    let response = server
        .http
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(
        headers["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    // A page lets in only the scripts carrying this response's nonce.
    let page = server.http.get(server.url("/login")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    let nonce = csp
        .split_once("'nonce-")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(nonce, _)| nonce.to_owned())
        .expect("the page policy has a nonce");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"));
    let html = page.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "{html}");
    assert!(html.contains("<title>Keywarden</title>"), "{html}");
    assert!(html.contains(r#"href="/pkg/keywarden.css""#), "{html}");

    // CORS: the listed origin may call with a bearer token; others get no CORS grant.
    let preflight = |origin: &'static str| {
        server
            .http
            .request(Method::OPTIONS, server.url("/api/v1/api-keys/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://bots.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://bots.example.com"
    );
    assert!(
        allowed
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    // A cross-site sign-in attempt (login CSRF) is refused before it reaches the service.
    let (status, body, _) = answer(
        server
            .http
            .post(server.url("/api/v1/ui/auth/login"))
            .header("origin", "https://evil.example")
            .json(&json!({"email": "lee@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("cross_site_request"))
    );
    server.finish().await;
}

async fn expired_sessions_and_counters_are_purged(backend: Backend) {
    let server = TestServer::start(backend).await;
    let kept = server.user("pia@example.com").await;
    let ended = server.user_session("pia@example.com").await;
    let (status, _) = server.post("/api/v1/auth/logout", &ended, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = server.login("pia@example.com", WRONG_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(server.count("sessions").await, 2);
    let service = server.another_service().await;

    // The ended session goes, with its refresh tokens; the live one and the counters stay.
    assert!(service.purge_expired().await.unwrap() >= 2);
    assert_eq!(server.count("sessions").await, 1);
    assert_eq!(server.count("refresh_tokens").await, 1);
    assert!(server.count("attempt_counters").await >= 1);
    let (status, _) = server.get("/api/v1/users/me", &kept).await;
    assert_eq!(status, StatusCode::OK);

    // Past every session's end and every limit's window, nothing is left.
    server.clock.advance(chrono::Duration::days(2));
    service.purge_expired().await.unwrap();
    for table in ["sessions", "refresh_tokens", "attempt_counters"] {
        assert_eq!(server.count(table).await, 0, "{table}");
    }
    server.finish().await;
}

async fn strangers_cannot_shut_the_owner_out(backend: Backend) {
    let mut overrides = trusting_loopback();
    overrides.insert("KEYWARDEN_LOGIN_FAILURES_PER_ACCOUNT", "2".into());
    let server = TestServer::start_with(backend, overrides).await;
    // The owner registered and signed in from 192.0.2.10 (through the trusted proxy).
    let (status, _, _) = {
        let request = server
            .http
            .post(server.url("/api/v1/auth/register"))
            .header("x-forwarded-for", "192.0.2.10")
            .json(&json!({"email": "kit@example.com", "password": PASSWORD}));
        answer(request).await
    };
    assert_eq!(status, StatusCode::CREATED);
    let base = server.base.clone();
    let (status, _, _) = sign_in(&server, &base, "kit@example.com", PASSWORD, "192.0.2.10").await;
    assert_eq!(status, StatusCode::OK);

    // A stranger spends the limit of one address: that address is stopped, and the owner told.
    for _ in 0..2 {
        let (status, _, _) = sign_in(
            &server,
            &base,
            "kit@example.com",
            WRONG_PASSWORD,
            "203.0.113.9",
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _, _) = sign_in(&server, &base, "kit@example.com", PASSWORD, "203.0.113.9").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (status, _, _) = sign_in(&server, &base, "kit@example.com", PASSWORD, "203.0.113.9").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let told = "alerts WHERE type = 'login.blocked'";
    assert_eq!(
        server.count(told).await,
        1,
        "told once, however often it is stopped"
    );
    // The owner, from their own address or from a new one, still signs in.
    let (status, _, _) = sign_in(&server, &base, "kit@example.com", PASSWORD, "192.0.2.10").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = sign_in(&server, &base, "kit@example.com", PASSWORD, "198.51.100.3").await;
    assert_eq!(status, StatusCode::OK);

    // Many strangers together meet a slower back-off (ten times one address's limit)...
    for i in 0..9 {
        for _ in 0..2 {
            let from = format!("203.0.113.{}", 20 + i);
            let (status, _, _) =
                sign_in(&server, &base, "kit@example.com", WRONG_PASSWORD, &from).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{from}");
        }
    }
    let (status, _, _) = sign_in(&server, &base, "kit@example.com", PASSWORD, "203.0.113.99").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ...which the owner's known addresses never meet.
    for known in ["192.0.2.10", "198.51.100.3"] {
        let (status, _, _) = sign_in(&server, &base, "kit@example.com", PASSWORD, known).await;
        assert_eq!(status, StatusCode::OK, "{known}");
    }
    server.finish().await;
}
