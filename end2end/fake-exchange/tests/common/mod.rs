//! A minimal Binance client for the fake's own tests: form-encodes parameters the way
//! Binance's Python sample does (`urllib.parse.urlencode`), signs the encoded bytes, and sends
//! exactly those bytes.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use fake_exchange::FakeExchange;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use ring::signature::Ed25519KeyPair;
use serde_json::Value;
use sha2::Sha256;

pub enum Signer {
    Hmac(String),
    Ed25519(Ed25519KeyPair),
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub api_key: String,
    pub signer: Signer,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Binance's error code, if this is an error.
    pub fn code(&self) -> Option<i64> {
        self.body.get("code").and_then(Value::as_i64)
    }
}

impl Client {
    pub fn hmac(exchange: &FakeExchange, api_key: &str, secret: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: exchange.url(),
            api_key: api_key.into(),
            signer: Signer::Hmac(secret.into()),
        }
    }

    pub fn demo(exchange: &FakeExchange) -> Self {
        Self::hmac(
            exchange,
            fake_exchange::DEMO_API_KEY,
            fake_exchange::DEMO_SECRET_KEY,
        )
    }

    pub fn ed25519(exchange: &FakeExchange, api_key: &str, pem: &str) -> Self {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = BASE64.decode(body.trim()).unwrap();
        Self {
            http: reqwest::Client::new(),
            base: exchange.url(),
            api_key: api_key.into(),
            signer: Signer::Ed25519(Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).unwrap()),
        }
    }

    /// The signature of `payload`, ready to send (base64 percent-encoded).
    pub fn sign(&self, payload: &str) -> String {
        match &self.signer {
            Signer::Hmac(secret) => {
                let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(payload.as_bytes());
                hex::encode(mac.finalize().into_bytes())
            }
            Signer::Ed25519(key) => encode(&BASE64.encode(key.sign(payload.as_bytes()))),
        }
    }

    /// A SIGNED request: `query` in the query string, `body` in a form body; `timestamp` ends
    /// the query, the signature (over query then body) ends the body, or the query if no body.
    pub async fn signed(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: &[(&str, &str)],
    ) -> Answer {
        let mut query = form(query);
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("timestamp={}", now_ms()));
        let mut body = form(body);
        let signature = self.sign(&format!("{query}{body}"));
        if body.is_empty() {
            query.push_str(&format!("&signature={signature}"));
        } else {
            body.push_str(&format!("&signature={signature}"));
        }
        self.send_raw(method, path, &query, &body).await
    }

    /// Sends `query` and `body` exactly as given, with the API key.
    pub async fn send_raw(&self, method: Method, path: &str, query: &str, body: &str) -> Answer {
        let mut request = self
            .http
            .request(method, format!("{}{path}?{query}", self.base))
            .header("X-MBX-APIKEY", &self.api_key);
        if !body.is_empty() {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned());
        }
        answer(request.send().await.expect("the fake answers")).await
    }

    /// A public request with the parameters in the query string.
    pub async fn public(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        let url = format!("{}{path}?{}", self.base, form(query));
        answer(self.http.get(url).send().await.expect("the fake answers")).await
    }

    pub async fn new_order(&self, params: &[(&str, &str)]) -> Answer {
        self.signed(Method::POST, "/api/v3/order", &[], params)
            .await
    }
}

async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

/// `application/x-www-form-urlencoded`, as Python's `urlencode` writes it.
pub fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(name, value)| format!("{}={}", encode(name), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
