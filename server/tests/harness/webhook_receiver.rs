//! A webhook receiver: a real HTTP server on loopback that records every delivery and answers
//! with the status a test sets (or redirects where it says).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One delivery as it arrived.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub signature: String,
    pub body: String,
    pub json: Value,
}

impl Delivery {
    pub fn id(&self) -> &str {
        self.json["id"].as_str().unwrap()
    }

    pub fn kind(&self) -> &str {
        self.json["type"].as_str().unwrap()
    }

    /// Checks `Keywarden-Signature` as the README tells receivers to: `t=<unix>,v1=<hex
    /// HMAC-SHA256 of "<t>.<body>">`, with a timestamp within five minutes.
    pub fn signed_with(&self, secret: &str) -> bool {
        let mut timestamp = None;
        let mut v1 = None;
        for part in self.signature.split(',') {
            match part.split_once('=') {
                Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                Some(("v1", hex)) => v1 = Some(hex.to_owned()),
                _ => {}
            }
        }
        let (Some(timestamp), Some(v1)) = (timestamp, v1) else {
            return false;
        };
        if (chrono::Utc::now().timestamp() - timestamp).abs() > 300 {
            return false;
        }
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.{}", self.body).as_bytes());
        hex_decode(&v1).is_some_and(|tag| mac.verify_slice(&tag).is_ok())
    }
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[derive(Default)]
struct Inner {
    deliveries: Vec<Delivery>,
    /// Statuses for the next requests, in order; then `status`.
    next: VecDeque<u16>,
    status: u16,
    /// Answer every request with a 307 to here instead.
    redirect_to: Option<String>,
    /// Requests seen, delivered or not.
    requests: usize,
    /// Answer nothing for this long first.
    stall: Option<Duration>,
}

#[derive(Clone)]
pub struct WebhookReceiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl WebhookReceiver {
    pub async fn start() -> Self {
        Self::start_on("127.0.0.1").await
    }

    /// On another loopback address (`127.0.0.2`), for the rules that open one network.
    pub async fn start_on(ip: &str) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            status: 200,
            ..Inner::default()
        }));
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(Arc::clone(&inner));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        WebhookReceiver { url, inner }
    }

    /// Every request from now on is answered with `status`.
    pub fn answer(&self, status: u16) {
        let mut inner = self.inner.lock().unwrap();
        inner.next.clear();
        inner.status = status;
    }

    /// The next requests are answered with these statuses, then with the usual one.
    pub fn answer_next(&self, statuses: impl IntoIterator<Item = u16>) {
        self.inner.lock().unwrap().next.extend(statuses);
    }

    /// Every request from now on waits `stall` before it is answered.
    pub fn stall(&self, stall: Duration) {
        self.inner.lock().unwrap().stall = Some(stall);
    }

    pub fn redirect_to(&self, location: &str) {
        self.inner.lock().unwrap().redirect_to = Some(location.to_owned());
    }

    /// The deliveries answered 2xx, in the order they arrived.
    pub fn delivered(&self) -> Vec<Delivery> {
        self.inner.lock().unwrap().deliveries.clone()
    }

    pub fn requests(&self) -> usize {
        self.inner.lock().unwrap().requests
    }

    /// Waits until `count` deliveries arrived (fails after 15 s), then a moment more for any
    /// that should not come, and answers them all.
    pub async fn wait_for(&self, count: usize) -> Vec<Delivery> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while self.delivered().len() < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "expected {count} deliveries, got {:?}",
                self.delivered()
                    .iter()
                    .map(|d| d.kind().to_owned())
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.delivered()
    }
}

async fn receive(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let stall = inner.lock().unwrap().stall;
    if let Some(stall) = stall {
        tokio::time::sleep(stall).await;
    }
    let mut inner = inner.lock().unwrap();
    inner.requests += 1;
    if let Some(location) = &inner.redirect_to {
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location.clone())],
        )
            .into_response();
    }
    let status = inner.next.pop_front().unwrap_or(inner.status);
    if (200..300).contains(&status) {
        let signature = headers
            .get("Keywarden-Signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        inner.deliveries.push(Delivery {
            signature,
            body,
            json,
        });
    }
    StatusCode::from_u16(status).unwrap().into_response()
}
