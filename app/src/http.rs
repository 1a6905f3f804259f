//! The HTTP glue the REST routes and the server functions share: how a request names its
//! caller (`Authorization: Bearer <jwt>` or the browser's session cookie) and its client, the
//! session cookie, the CSP nonce, and how a service error is answered.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::header::{AUTHORIZATION, COOKIE, RETRY_AFTER, USER_AGENT, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::model::ErrorBody;
use crate::service::{ClientInfo, Credential, ServiceError};

/// The session cookie's name. Over https it has the `__Host-` prefix: the browser then only
/// accepts it from this very host (Secure, no Domain, Path=/), so a sibling subdomain cannot
/// plant one of its own (cookie tossing). A `http://` development URL keeps a plain name.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keywarden_session"
    } else {
        "keywarden_session"
    }
}

/// The credential a request carries: the bearer header wins over the cookie. `secure`: the
/// public URL is https (see `session_cookie_name`).
pub fn credential(headers: &HeaderMap, secure: bool) -> Option<Credential<'_>> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
            .map(Credential::Bearer);
    }
    let mut cookies = session_cookies(headers, secure);
    match (cookies.next(), cookies.next()) {
        (None, _) => None,
        (Some(value), None) => Some(Credential::Cookie(value)),
        // A second one can only have been planted: which one the browser meant is unknowable.
        (Some(_), Some(_)) => Some(Credential::TwoCookies),
    }
}

/// The values of the request's session cookies (non-empty), in the order sent.
pub fn session_cookies(headers: &HeaderMap, secure: bool) -> impl Iterator<Item = &str> {
    cookies_named(headers, session_cookie_name(secure))
}

fn cookies_named<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(found, value)| *found == name && !value.is_empty())
        .map(|(_, value)| value)
}

/// The client's address as the server resolved it (the socket's peer, or the address a
/// trusted proxy forwarded).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// The nonce that lets this response's own inline scripts run under its CSP.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// The request's client, for the audit trail and the sign-in limits.
pub fn client_info(parts: &Parts) -> ClientInfo {
    let ip = match parts.extensions.get::<ClientAddr>() {
        Some(ClientAddr(ip)) => Some(ip.to_string()),
        None => parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_string()),
    };
    let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    ClientInfo::new(ip, user_agent)
}

/// `Set-Cookie` value for a browser session: HttpOnly, SameSite=Strict, whole site.
pub fn session_cookie(value: &str, max_age_secs: i64, secure: bool) -> String {
    cookie(session_cookie_name(secure), value, max_age_secs, secure)
}

fn cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}")
}

/// A browser's sign-in awaiting its second factor keeps the challenge in a cookie of its own,
/// out of the page's scripts and its URL.
fn challenge_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-keywarden_challenge"
    } else {
        "keywarden_challenge"
    }
}

pub fn challenge_cookie(value: &str, max_age_secs: i64, secure: bool) -> String {
    cookie(challenge_cookie_name(secure), value, max_age_secs, secure)
}

/// The request's sign-in challenge, if it carries exactly one.
pub fn challenge(headers: &HeaderMap, secure: bool) -> Option<&str> {
    let mut found = cookies_named(headers, challenge_cookie_name(secure));
    match (found.next(), found.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

pub fn cleared_session_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

/// An error answered as `{detail, code[, binance_code, hint]}` with its status, a `Bearer`
/// challenge on 401 and `Retry-After` where the wait is known.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
    retry_after_secs: Option<u64>,
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        ApiError {
            status: StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body: err.body(),
            retry_after_secs: err.retry_after_secs(),
        }
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            body: ErrorBody::new(code, detail),
            retry_after_secs: None,
        }
    }

    /// The headers that go with the status.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> {
        let challenge = (self.status == StatusCode::UNAUTHORIZED)
            .then(|| (WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        let retry_after = self
            .retry_after_secs
            .map(|seconds| (RETRY_AFTER, HeaderValue::from(seconds)));
        challenge.into_iter().chain(retry_after)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let headers: Vec<_> = self.headers().collect();
        let mut response = (self.status, axum::Json(self.body)).into_response();
        response.headers_mut().extend(headers);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn found(pairs: &[(&'static str, &'static str)]) -> Option<String> {
        credential(&headers(pairs), false).map(|c| format!("{c:?}"))
    }

    #[test]
    fn over_https_only_the_host_only_cookie_counts_and_only_once() {
        let secure = |pairs| credential(&headers(pairs), true).map(|c| format!("{c:?}"));
        let planted = [("cookie", "keywarden_session=planted")];
        assert_eq!(secure(&planted), None);
        let own = [("cookie", "__Host-keywarden_session=abc")];
        assert_eq!(secure(&own).as_deref(), Some("Cookie(\"abc\")"));
        let two = [(
            "cookie",
            "__Host-keywarden_session=a; __Host-keywarden_session=b",
        )];
        assert_eq!(secure(&two).as_deref(), Some("TwoCookies"));
        let split = [
            ("cookie", "__Host-keywarden_session=a"),
            ("cookie", "__Host-keywarden_session=b"),
        ];
        assert_eq!(secure(&split).as_deref(), Some("TwoCookies"));
        assert_eq!(
            found(&[("cookie", "keywarden_session=a; keywarden_session=b")]).as_deref(),
            Some("TwoCookies")
        );
        assert!(session_cookie("v", 60, true).starts_with("__Host-keywarden_session=v; Path=/;"));
        assert!(session_cookie("v", 60, true).ends_with("; Secure"));
        assert!(cleared_session_cookie(false).starts_with("keywarden_session=; "));
    }

    #[test]
    fn reads_bearer_then_cookie() {
        assert_eq!(
            found(&[("authorization", "Bearer abc")]).as_deref(),
            Some("Bearer(\"abc\")")
        );
        assert_eq!(
            found(&[("cookie", "a=1; keywarden_session=xyz")]).as_deref(),
            Some("Cookie(\"xyz\")")
        );
        assert_eq!(found(&[("authorization", "Basic abc")]), None);
        assert_eq!(found(&[("authorization", "Bearer ")]), None);
        assert_eq!(found(&[]), None);
    }

    #[test]
    fn errors_carry_their_status_and_headers() {
        let headers = |err: ServiceError| -> Vec<(String, String)> {
            ApiError::from(err)
                .headers()
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
                .collect()
        };
        assert_eq!(
            headers(ServiceError::NotAuthenticated("no token")),
            [("www-authenticate".to_owned(), "Bearer".to_owned())]
        );
        assert_eq!(
            headers(ServiceError::TooManyAttempts {
                retry_after_secs: 30
            }),
            [("retry-after".to_owned(), "30".to_owned())]
        );
        assert!(headers(ServiceError::ApiKeyNotFound).is_empty());
        let answer = ApiError::from(ServiceError::ApiKeyNotFound).into_response();
        assert_eq!(answer.status(), StatusCode::NOT_FOUND);
    }
}
