//! How a request names its caller: `Authorization: Bearer <jwt>` or the browser's session
//! cookie holding the same token. Shared by the REST routes and the server functions.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE, USER_AGENT};
use axum::http::request::Parts;

use crate::service::ClientInfo;

pub const SESSION_COOKIE: &str = "keywarden_session";

/// The access token a request carries: the bearer header wins over the cookie.
pub fn access_token(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|t| !t.is_empty())
}

/// The request's client for the audit trail: the socket's peer address and the user agent.
pub fn client_info(parts: &Parts) -> ClientInfo {
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string());
    let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    ClientInfo::new(ip, user_agent)
}

/// `Set-Cookie` value for a browser session: HttpOnly, SameSite=Strict, whole site.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    )
}

pub fn cleared_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
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

    #[test]
    fn reads_bearer_then_cookie() {
        assert_eq!(
            access_token(&headers(&[("authorization", "Bearer abc")])),
            Some("abc")
        );
        assert_eq!(
            access_token(&headers(&[("cookie", "a=1; keywarden_session=xyz")])),
            Some("xyz")
        );
        assert_eq!(
            access_token(&headers(&[("authorization", "Basic abc")])),
            None
        );
        assert_eq!(
            access_token(&headers(&[("authorization", "Bearer ")])),
            None
        );
        assert_eq!(access_token(&headers(&[])), None);
    }
}
