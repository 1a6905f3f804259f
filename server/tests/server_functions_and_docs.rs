//! The page's server functions (bearer token or session cookie, with the cross-site check) and
//! the OpenAPI document and docs page, against the real server on both backends.

mod harness;

use fake_exchange::{DEMO_API_KEY, DEMO_SECRET_KEY};
use harness::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    server_functions_share_the_service,
    openapi_document_and_docs_page,
);

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
