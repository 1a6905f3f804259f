//! What every request passes through before the routes: the client's address (behind trusted
//! proxies), the cross-site request check for cookie sessions, and the security headers.

use std::net::{IpAddr, SocketAddr};

use app::http::{ClientAddr, CspNonce};
use app::service::ServiceError;
use axum::extract::{ConnectInfo, Request};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, ORIGIN, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::Response;

use crate::config::Config;

pub struct Guard {
    /// `scheme://host[:port]` of `KEYWARDEN_PUBLIC_URL`.
    public_origin: String,
    cors_origins: Vec<String>,
    trusted_proxies: Vec<IpAddr>,
    https: bool,
}

impl Guard {
    pub fn new(config: &Config) -> Self {
        Self {
            public_origin: origin_of(&config.public_url),
            cors_origins: config.cors_origins.clone(),
            trusted_proxies: config.trusted_proxies.clone(),
            https: config.public_url.starts_with("https://"),
        }
    }

    /// The client: the socket's peer, unless that is a trusted proxy, in which case the
    /// nearest address in `X-Forwarded-For` that is not one.
    fn client_addr(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = peer?;
        if !self.trusted_proxies.contains(&client) {
            return Some(client);
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in forwarded.into_iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip;
            if !self.trusted_proxies.contains(&ip) {
                break;
            }
        }
        Some(client)
    }

    /// Whether a state-changing request may proceed: one from another site must not ride on
    /// the browser's session cookie (CSRF). Bearer-token clients send no cookie.
    fn same_site_or_not_a_browser(&self, headers: &HeaderMap) -> bool {
        // Either name: a cookie the server would ignore still marks a browser.
        let with_cookie = [true, false]
            .into_iter()
            .any(|secure| app::http::session_cookies(headers, secure).next().is_some())
            && !headers.contains_key(axum::http::header::AUTHORIZATION);
        // `null` is an origin withheld (a page's referrer policy, a sandbox, a data: URL):
        // it says nothing, so the fetch metadata decides, as when there is no Origin.
        let origin = headers.get(ORIGIN).and_then(|v| v.to_str().ok());
        if let Some(origin) = origin.filter(|origin| *origin != "null") {
            let origin = origin.trim_end_matches('/');
            return origin == self.public_origin
                || (!with_cookie && self.cors_origins.iter().any(|o| o == origin));
        }
        match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
            Some(site) => site == "same-origin" || site == "none",
            None => !with_cookie,
        }
    }

    /// The page policy lets in Leptos's hydration scripts by a nonce made for this response.
    /// JSON is never run by a browser: API and gateway answers get the strictest policy, and
    /// no nonce.
    fn content_security_policy(&self, path: &str) -> (HeaderValue, Option<String>) {
        if path.starts_with("/api/docs") {
            // Swagger UI styles itself inline.
            let policy = "default-src 'self'; img-src 'self' data:; style-src 'self' \
                          'unsafe-inline'; object-src 'none'; base-uri 'none'; \
                          frame-ancestors 'none'";
            return (HeaderValue::from_static(policy), None);
        }
        if path.starts_with("/api/") || path.starts_with("/gateway/") {
            let policy = "default-src 'none'; frame-ancestors 'none'";
            return (HeaderValue::from_static(policy), None);
        }
        let nonce = nonce();
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        );
        let policy = HeaderValue::try_from(policy).expect("ASCII and base64 make a valid header");
        (policy, Some(nonce))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> String {
    let url = url.trim_end_matches('/');
    match url.find("://") {
        Some(scheme_end) => match url[scheme_end + 3..].find('/') {
            Some(path) => url[..scheme_end + 3 + path].to_owned(),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

fn nonce() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    getrandom::getrandom(&mut bytes).expect("the OS random source works");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

impl Guard {
    /// Checks a request on its way in: records the client's address, refuses a cross-site
    /// state change riding on a session cookie, and gives a page its CSP nonce. Hands back
    /// the policy for `secure` to set on the answer.
    pub fn admit(&self, req: &mut Request) -> Result<HeaderValue, ServiceError> {
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip());
        if let Some(ip) = self.client_addr(peer, req.headers()) {
            req.extensions_mut().insert(ClientAddr(ip));
        }
        let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe && !self.same_site_or_not_a_browser(req.headers()) {
            return Err(ServiceError::CrossSite);
        }
        let (policy, nonce) = self.content_security_policy(req.uri().path());
        if let Some(nonce) = nonce {
            req.extensions_mut().insert(CspNonce(nonce));
        }
        Ok(policy)
    }

    /// The security headers every answer carries; `policy` is what `admit` chose.
    pub fn secure(&self, is_api: bool, policy: HeaderValue, response: &mut Response) {
        let headers = response.headers_mut();
        headers.insert(CONTENT_SECURITY_POLICY, policy);
        headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        // Nothing to other sites; a same-origin request keeps its Origin (with `no-referrer`, a
        // form posted before the WebAssembly loads would say `Origin: null`).
        headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            "cross-origin-opener-policy",
            HeaderValue::from_static("same-origin"),
        );
        if self.https {
            headers.insert(
                STRICT_TRANSPORT_SECURITY,
                HeaderValue::from_static("max-age=31536000; includeSubDomains"),
            );
        }
        if is_api && !headers.contains_key(CACHE_CONTROL) {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(proxies: &[&str], cors: &[&str]) -> Guard {
        Guard {
            public_origin: origin_of("https://keys.example.com/"),
            cors_origins: cors.iter().map(|o| o.to_string()).collect(),
            trusted_proxies: proxies.iter().map(|p| p.parse().unwrap()).collect(),
            https: true,
        }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn origins_are_scheme_host_and_port() {
        assert_eq!(origin_of("http://127.0.0.1:3000"), "http://127.0.0.1:3000");
        assert_eq!(origin_of("https://x.io/app/"), "https://x.io");
    }

    #[test]
    fn forwarded_addresses_count_only_behind_trusted_proxies() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let forwarded = headers(&[("x-forwarded-for", "6.6.6.6, 1.2.3.4, 10.0.0.1")]);
        let untrusting = guard(&[], &[]);
        assert_eq!(untrusting.client_addr(Some(peer), &forwarded), Some(peer));
        let trusting = guard(&["10.0.0.2", "10.0.0.1"], &[]);
        assert_eq!(
            trusting.client_addr(Some(peer), &forwarded),
            Some("1.2.3.4".parse().unwrap()),
            "the first address a trusted proxy did not add; 6.6.6.6 is the client's claim"
        );
    }

    #[test]
    fn cookie_requests_from_other_sites_are_refused() {
        let g = guard(&[], &["https://bots.example.com"]);
        let cookie = ("cookie", "keywarden_session=abc.def");
        assert!(g.same_site_or_not_a_browser(&headers(&[
            cookie,
            ("origin", "https://keys.example.com")
        ])));
        assert!(
            !g.same_site_or_not_a_browser(&headers(&[cookie, ("origin", "https://evil.example")]))
        );
        assert!(!g.same_site_or_not_a_browser(&headers(&[
            cookie,
            ("origin", "https://bots.example.com")
        ])));
        assert!(g.same_site_or_not_a_browser(&headers(&[("origin", "https://bots.example.com")])));
        assert!(!g.same_site_or_not_a_browser(&headers(&[("origin", "https://evil.example")])));
        assert!(
            g.same_site_or_not_a_browser(&headers(&[cookie, ("sec-fetch-site", "same-origin")]))
        );
        assert!(
            !g.same_site_or_not_a_browser(&headers(&[cookie, ("sec-fetch-site", "cross-site")]))
        );
        assert!(!g.same_site_or_not_a_browser(&headers(&[cookie])));
        let withheld = ("origin", "null");
        assert!(g.same_site_or_not_a_browser(&headers(&[
            cookie,
            withheld,
            ("sec-fetch-site", "same-origin")
        ])));
        assert!(!g.same_site_or_not_a_browser(&headers(&[
            cookie,
            withheld,
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!g.same_site_or_not_a_browser(&headers(&[cookie, withheld])));
        assert!(g.same_site_or_not_a_browser(&headers(&[])));
        assert!(g.same_site_or_not_a_browser(&headers(&[cookie, ("authorization", "Bearer t")])));
    }
}
