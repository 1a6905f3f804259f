//! The page's server functions (bearer token or session cookie, with the cross-site check) and
//! the OpenAPI document and docs page, against the real server on both backends.

mod harness;

use fake_exchange::{DEMO_API_KEY, DEMO_SECRET_KEY};
use harness::{Backend, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    server_functions_share_the_service,
    plain_form_posts_reach_the_same_functions,
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
            .post(server.url("/api/v1/ui/api-keys/me/delete"))
            .json(&json!({}))
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

/// What a browser sends before the page's WebAssembly has loaded (or with JavaScript off): the
/// same server functions, fed urlencoded forms, answer with redirects to a page, never JSON.
async fn plain_form_posts_reach_the_same_functions(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = |path: &str| server.url(path);
    let post = |path: &str, from: &str, form: &[(&str, &str)], cookie: Option<&str>| {
        let mut request = browser
            .post(server.url(path))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header("origin", &server.base)
            .header("referer", page(from))
            .form(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send()
    };
    // Leptos strips an earlier error from the page it sends the browser back to, leaving
    // an empty query behind.
    let location = |response: &reqwest::Response| {
        let location = response.headers()["location"].to_str().unwrap();
        location.trim_end_matches('?').to_owned()
    };
    // The error a failed post carries back to the form's page, as the page decodes it.
    let carried_error = |location: &str| -> Value {
        let url = reqwest::Url::parse(location).unwrap();
        let (_, encoded) = url.query_pairs().find(|(k, _)| k == "__err").unwrap();
        use base64::Engine;
        let json = base64::engine::general_purpose::URL_SAFE
            .decode(encoded.as_bytes())
            .unwrap();
        serde_json::from_slice(&json).unwrap()
    };
    let email = "nojs@example.com";
    let password = harness::PASSWORD;

    let registered = post(
        "/api/v1/ui/auth/register",
        "/register",
        &[("email", email), ("password", password)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(registered.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&registered), "/login?registered");
    let again = post(
        "/api/v1/ui/auth/register",
        "/register",
        &[("email", email), ("password", password)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::FOUND,
        "the error's status is not the answer's"
    );
    let back = location(&again);
    assert!(back.starts_with(&page("/register?")), "{back}");
    assert_eq!(carried_error(&back)["code"], "email_taken");

    let wrong = post(
        "/api/v1/ui/auth/login",
        "/login",
        &[("email", email), ("password", "not the password")],
        None,
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), StatusCode::FOUND);
    assert!(wrong.headers().get("set-cookie").is_none());
    assert_eq!(
        carried_error(&location(&wrong))["code"],
        "invalid_credentials"
    );
    let signed_in = post(
        "/api/v1/ui/auth/login",
        "/login",
        &[("email", email), ("password", password)],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        (signed_in.status(), location(&signed_in).as_str()),
        (StatusCode::SEE_OTHER, "/")
    );
    let set_cookie = signed_in.headers()["set-cookie"].to_str().unwrap();
    let session = set_cookie.split(';').next().unwrap().to_owned();
    harness::secret(session.split_once('=').unwrap().1);
    let cookie = Some(session.as_str());

    // A pair Binance refuses: the form's page gets the reason, and the secret is nowhere in it.
    let refused_secret = "x".repeat(64);
    let refused = post(
        "/api/v1/ui/api-keys",
        "/",
        &[
            ("api_key", DEMO_API_KEY),
            ("secret_key", &refused_secret),
            ("label", ""),
            ("environment", "mainnet"),
        ],
        cookie,
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), StatusCode::FOUND);
    let back = location(&refused);
    assert!(
        !back.contains(&refused_secret) && !back.contains(DEMO_API_KEY),
        "{back}"
    );
    assert!(carried_error(&back)["detail"].as_str().is_some(), "{back}");
    assert_eq!(server.count("api_keys").await, 0);
    let added = post(
        "/api/v1/ui/api-keys",
        "/",
        &[
            ("api_key", DEMO_API_KEY),
            ("secret_key", DEMO_SECRET_KEY),
            ("label", ""),
            ("environment", "mainnet"),
        ],
        cookie,
    )
    .await
    .unwrap();
    assert_eq!(
        (added.status(), location(&added)),
        (StatusCode::FOUND, page("/"))
    );
    assert_eq!(server.count("api_keys").await, 1);
    let checked = post("/api/v1/ui/api-keys/me/validate", "/", &[], cookie)
        .await
        .unwrap();
    assert_eq!(
        (checked.status(), location(&checked)),
        (StatusCode::FOUND, page("/"))
    );

    // Another site's form riding on the cookie is refused, as any cross-site change is.
    let forged = browser
        .post(server.url("/api/v1/ui/api-keys/me/delete"))
        .header("accept", "text/html")
        .header("origin", "https://evil.example")
        .header("cookie", &session)
        .form(&[("x", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(server.count("api_keys").await, 1);
    let deleted = post("/api/v1/ui/api-keys/me/delete", "/key/delete", &[], cookie)
        .await
        .unwrap();
    assert_eq!(
        (deleted.status(), location(&deleted).as_str()),
        (StatusCode::SEE_OTHER, "/?deleted")
    );
    assert_eq!(server.count("api_keys").await, 0);
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
        "/api/v1/meta",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the document"
        );
    }
    // The docs page, and where it loads the document from.
    for (path, expected) in [
        ("/api/docs/", "swagger"),
        ("/api/docs/swagger-initializer.js", "\"/api/openapi.json\""),
    ] {
        let response = server.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.text().await.unwrap().contains(expected), "{path}");
    }
    let (status, body) = server
        .call(Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    server.finish().await;
}
