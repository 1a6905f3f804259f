//! Passing a bot's request on to Binance: re-encoded, signed with the stored key (for signed
//! endpoints), and Binance's answer handed back as it came.

use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};

use super::binance::{
    Attempt, Exchange, KeyPair, OUTCOMES, Try, Venue, outcome_index, record_weight, seconds,
    transport_error,
};
use super::errors::ExchangeError;
use crate::model::Environment;

/// A bot's request, as it is to reach Binance.
pub struct Forward<'a> {
    pub method: Method,
    /// Binance's own path, such as `/api/v3/order`.
    pub path: &'a str,
    /// The parameters in the order the bot sent them, without `timestamp`, `recvWindow` and
    /// `signature`.
    pub params: &'a [(String, String)],
    /// Signed with this key; `None` for a public endpoint.
    pub key: Option<&'a KeyPair<'a>>,
    /// Whether a fault may be met by sending it again: reads only, never an order or a cancel,
    /// which may have reached Binance before the fault.
    pub may_retry: bool,
}

/// Binance's answer: its status, its rate-limit headers and its body, untouched.
#[derive(Debug)]
pub struct Forwarded {
    pub status: u16,
    /// `X-MBX-USED-WEIGHT-*`, `X-MBX-ORDER-COUNT-*` and `Retry-After`.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
}

impl Forwarded {
    /// Binance's error code, when the answer is one of its errors.
    pub fn binance_code(&self) -> Option<i64> {
        if (200..300).contains(&self.status) {
            return None;
        }
        // Only the code: a body whose message is missing still names it.
        #[derive(serde::Deserialize)]
        struct Code {
            code: i64,
        }
        serde_json::from_slice::<Code>(&self.body)
            .ok()
            .map(|c| c.code)
    }

    fn retry_after(&self) -> Option<Duration> {
        self.headers
            .iter()
            .find(|(name, _)| *name == RETRY_AFTER)
            .and_then(|(_, value)| seconds(value))
    }
}

/// Binance reads parameters as a form-encoded string and checks the signature over exactly
/// the bytes sent (since 2026-01-15, over the encoded form): encode once, sign those bytes,
/// send those bytes.
fn encoded(params: &[(String, String)], signed: Option<(&KeyPair<'_>, u64, i64)>) -> String {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        form.append_pair(name, value);
    }
    let Some((key, recv_window_ms, timestamp)) = signed else {
        return form.finish();
    };
    form.append_pair("recvWindow", &recv_window_ms.to_string());
    form.append_pair("timestamp", &timestamp.to_string());
    let payload = form.finish();
    let signature = key.signer.sign(&payload);
    let mut form = form_urlencoded::Serializer::for_suffix(payload, 0);
    form.append_pair("signature", &signature);
    form.finish()
}

impl Exchange {
    /// Sends the request to `environment` and returns Binance's answer, whatever its status.
    /// Reads are retried as `get` retries them; a -1021 (clock skew) resynchronises and signs
    /// again once, since Binance placed nothing.
    pub async fn forward(
        &self,
        environment: Environment,
        request: &Forward<'_>,
        now: DateTime<Utc>,
    ) -> Result<Forwarded, ExchangeError> {
        let venue = self.venue(environment);
        self.check_weight_budget(venue, now)?;
        let mut answer = self.forward_with_retries(venue, request, now).await;
        if request.key.is_some()
            && let Ok(forwarded) = &answer
            && forwarded.binance_code() == Some(-1021)
        {
            self.sync_time(environment, now).await?;
            answer = self.forward_with_retries(venue, request, now).await;
        }
        let outcome = match &answer {
            Ok(forwarded) => match forwarded.status {
                ..400 => "ok",
                418 => "banned",
                429 => "rate_limited",
                500.. => "unavailable",
                _ => "rejected",
            },
            Err(_) => OUTCOMES[outcome_index(&answer)],
        };
        self.count(outcome);
        answer
    }

    async fn forward_with_retries(
        &self,
        venue: &Venue,
        request: &Forward<'_>,
        now: DateTime<Utc>,
    ) -> Result<Forwarded, ExchangeError> {
        self.retrying(
            async || match self.forward_once(venue, request, now).await {
                // A 429 goes back to the bot as it came: Binance bans an address that keeps
                // calling after one.
                Ok(answer) if request.may_retry && answer.status >= 500 => {
                    let wait = answer.retry_after();
                    Try::Again(Ok(answer), wait)
                }
                Ok(answer) => Try::Final(Ok(answer)),
                Err(Attempt::Retry(error, wait)) if request.may_retry => {
                    Try::Again(Err(error), wait)
                }
                Err(Attempt::Retry(error, _) | Attempt::Final(error)) => Try::Final(Err(error)),
            },
        )
        .await
    }

    async fn forward_once(
        &self,
        venue: &Venue,
        request: &Forward<'_>,
        now: DateTime<Utc>,
    ) -> Result<Forwarded, Attempt> {
        let signed = request.key.map(|key| {
            let offset = venue.time_offset_ms.load(Ordering::Relaxed);
            (
                key,
                self.settings.recv_window_ms,
                now.timestamp_millis() + offset,
            )
        });
        let payload = encoded(request.params, signed);
        let url = format!("{}{}", venue.base_url, request.path);
        let in_body = matches!(request.method, Method::POST | Method::PUT);
        let mut builder = if in_body {
            self.http
                .request(request.method.clone(), &url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(payload)
        } else if payload.is_empty() {
            self.http.request(request.method.clone(), &url)
        } else {
            self.http
                .request(request.method.clone(), format!("{url}?{payload}"))
        };
        if let Some(key) = request.key {
            builder = builder.header("X-MBX-APIKEY", key.api_key);
        }
        let response = builder.send().await.map_err(transport_error)?;
        record_weight(venue, response.headers(), now);
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                name.starts_with("x-mbx-used-weight")
                    || name.starts_with("x-mbx-order-count")
                    || name == "retry-after"
            })
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        let body = response.bytes().await.map_err(transport_error)?.to_vec();
        Ok(Forwarded {
            status,
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::Signer;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_signature_covers_the_encoded_payload_as_sent() {
        let signer = Signer::from_secret("secret").unwrap();
        let key = KeyPair {
            api_key: "key",
            signer: &signer,
        };
        let params = pairs(&[("symbol", "BTCUSDT"), ("newClientOrderId", "a b/c+d")]);
        let sent = encoded(&params, Some((&key, 5000, 1_700_000_000_000)));
        let (payload, signature) = sent.rsplit_once("&signature=").unwrap();
        assert_eq!(
            payload,
            "symbol=BTCUSDT&newClientOrderId=a+b%2Fc%2Bd&recvWindow=5000&timestamp=1700000000000"
        );
        assert_eq!(signature, signer.sign(payload));
        assert_eq!(encoded(&params[..1], None), "symbol=BTCUSDT");
    }
}
