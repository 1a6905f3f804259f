use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::model::AssetBalance;

#[derive(Clone, Debug)]
pub struct ExchangeSettings {
    /// e.g. `https://api.binance.com`, without a trailing slash.
    pub base_url: String,
    /// Total time allowed for one HTTP exchange with Binance.
    pub timeout: Duration,
    /// Time allowed to open the connection.
    pub connect_timeout: Duration,
    /// Binance's `recvWindow`, in milliseconds.
    pub recv_window_ms: u64,
    /// Tries per read, counting the first; reads are retried on 5xx, 429 and broken connections.
    pub max_attempts: u32,
    /// Longest wait between tries; a longer `Retry-After` ends the retries.
    pub max_backoff: Duration,
    /// Binance's request-weight limit per minute (`X-MBX-USED-WEIGHT-1M`); requests stop at 90%.
    pub weight_limit: u32,
}

impl ExchangeSettings {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            recv_window_ms: 5_000,
            max_attempts: 3,
            max_backoff: Duration::from_secs(2),
            weight_limit: 6_000,
        }
    }
}

/// An API key pair, borrowed for the one call that needs it.
pub struct KeyPair<'a> {
    pub api_key: &'a str,
    pub secret_key: &'a str,
}

/// What `GET /api/v3/account` says about an account.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(default)]
    pub can_trade: bool,
    #[serde(default)]
    pub can_withdraw: bool,
    pub balances: Vec<AssetBalance>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// Binance answered with one of its own error codes.
    #[error("Binance rejected the request ({code}): {message}")]
    Rejected { code: i64, message: String },
    /// Binance could not be reached, or kept failing on its side.
    #[error("Binance is unreachable: {0}")]
    Unavailable(String),
    /// Binance answered with something that is not its API.
    #[error("Binance answered unexpectedly: {0}")]
    InvalidResponse(String),
    #[error("Binance did not answer in time")]
    Timeout,
    /// Binance's rate limit is reached (429, or our own count of its request weight).
    #[error("Binance's rate limit is reached; retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// Binance banned this server's IP for a while (418).
    #[error("Binance has banned this server's IP for {retry_after:?}")]
    Banned { retry_after: Duration },
}

/// How one HTTP try ended, before the retry policy decides.
enum Attempt {
    Final(ExchangeError),
    /// Worth another try after the given wait (`None`: the usual backoff).
    Retry(ExchangeError, Option<Duration>),
}

pub struct Exchange {
    http: reqwest::Client,
    settings: ExchangeSettings,
    /// Binance's clock minus ours, in milliseconds, learned from `GET /api/v3/time`.
    time_offset_ms: AtomicI64,
    /// The last `X-MBX-USED-WEIGHT-1M` seen, and the minute (Unix minutes) it was seen in.
    used_weight: Mutex<(i64, u32)>,
}

#[derive(Deserialize)]
struct BinanceErrorBody {
    code: i64,
    msg: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerTime {
    server_time: i64,
}

const INVALID_TIMESTAMP: i64 = -1021;
const DEFAULT_BAN: Duration = Duration::from_secs(60);

impl Exchange {
    pub fn new(settings: ExchangeSettings) -> Result<Self, ExchangeError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("keywarden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ExchangeError::Unavailable(e.to_string()))?;
        Ok(Self {
            http,
            settings,
            time_offset_ms: AtomicI64::new(0),
            used_weight: Mutex::new((0, 0)),
        })
    }

    /// Signed `GET /api/v3/account`: proves the key pair works and reads the balances.
    /// A -1021 (clock skew) resynchronises with Binance's clock once and tries again.
    pub async fn account(
        &self,
        key: &KeyPair<'_>,
        now: DateTime<Utc>,
    ) -> Result<Account, ExchangeError> {
        match self.signed_get("/api/v3/account", key, now).await {
            Err(ExchangeError::Rejected {
                code: INVALID_TIMESTAMP,
                ..
            }) => {
                self.sync_time(now).await?;
                self.signed_get("/api/v3/account", key, now).await
            }
            other => other,
        }
    }

    /// Learns the offset between Binance's clock and `now`.
    pub async fn sync_time(&self, now: DateTime<Utc>) -> Result<(), ExchangeError> {
        let url = format!("{}/api/v3/time", self.settings.base_url);
        let time: ServerTime = self.get(&url, None, now).await?;
        let offset = time.server_time - now.timestamp_millis();
        self.time_offset_ms.store(offset, Ordering::Relaxed);
        tracing::info!(offset_ms = offset, "synchronised with Binance's clock");
        Ok(())
    }

    async fn signed_get<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &KeyPair<'_>,
        now: DateTime<Utc>,
    ) -> Result<T, ExchangeError> {
        let timestamp = now.timestamp_millis() + self.time_offset_ms.load(Ordering::Relaxed);
        let query = format!(
            "recvWindow={}&timestamp={timestamp}",
            self.settings.recv_window_ms
        );
        let signature = sign_hmac_sha256(key.secret_key, &query);
        let url = format!(
            "{}{path}?{query}&signature={signature}",
            self.settings.base_url
        );
        self.get(&url, Some(key.api_key), now).await
    }

    /// A read, retried on 5xx, 429 and broken connections with capped exponential backoff
    /// that honours `Retry-After`; never retried on other 4xx, timeouts or garbage.
    async fn get<T: DeserializeOwned>(
        &self,
        url: &str,
        api_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<T, ExchangeError> {
        self.check_weight_budget(now)?;
        let mut attempt = 1;
        loop {
            let (error, retry_after) = match self.get_once(url, api_key, now).await {
                Ok(value) => return Ok(value),
                Err(Attempt::Final(error)) => return Err(error),
                Err(Attempt::Retry(error, retry_after)) => (error, retry_after),
            };
            let wait = retry_after.unwrap_or_else(|| backoff(attempt));
            if attempt >= self.settings.max_attempts || wait > self.settings.max_backoff {
                return Err(error);
            }
            tracing::debug!(attempt, ?wait, "retrying a Binance read: {error}");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn get_once<T: DeserializeOwned>(
        &self,
        url: &str,
        api_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<T, Attempt> {
        let mut request = self.http.get(url);
        if let Some(api_key) = api_key {
            request = request.header("X-MBX-APIKEY", api_key);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        self.record_weight(response.headers(), now);
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.map_err(transport_error)?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| Attempt::Final(ExchangeError::InvalidResponse(e.to_string())));
        }
        match status {
            StatusCode::IM_A_TEAPOT => {
                return Err(Attempt::Final(ExchangeError::Banned {
                    retry_after: retry_after.unwrap_or(DEFAULT_BAN),
                }));
            }
            StatusCode::TOO_MANY_REQUESTS => {
                let error = ExchangeError::RateLimited {
                    retry_after: retry_after.unwrap_or(DEFAULT_BAN),
                };
                return Err(Attempt::Retry(error, retry_after));
            }
            _ => {}
        }
        if status.is_server_error() {
            let error = ExchangeError::Unavailable(format!("HTTP {status}"));
            return Err(Attempt::Retry(error, retry_after));
        }
        match serde_json::from_slice::<BinanceErrorBody>(&body) {
            Ok(err) if status.is_client_error() => Err(Attempt::Final(ExchangeError::Rejected {
                code: err.code,
                message: err.msg,
            })),
            _ => Err(Attempt::Final(ExchangeError::InvalidResponse(format!(
                "HTTP {status}"
            )))),
        }
    }

    fn record_weight(&self, headers: &HeaderMap, now: DateTime<Utc>) {
        let used = headers
            .get("x-mbx-used-weight-1m")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u32>().ok());
        if let Some(used) = used {
            *self.used_weight.lock().unwrap_or_else(|e| e.into_inner()) =
                (now.timestamp() / 60, used);
        }
    }

    /// Refuses locally, before Binance would, once 90% of this minute's weight is used.
    fn check_weight_budget(&self, now: DateTime<Utc>) -> Result<(), ExchangeError> {
        let (minute, used) = *self.used_weight.lock().unwrap_or_else(|e| e.into_inner());
        let threshold = u64::from(self.settings.weight_limit) * 9 / 10;
        if minute == now.timestamp() / 60 && u64::from(used) >= threshold {
            let seconds_left = 60 - now.timestamp().rem_euclid(60);
            return Err(ExchangeError::RateLimited {
                retry_after: Duration::from_secs(seconds_left.unsigned_abs()),
            });
        }
        Ok(())
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(10)))
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// reqwest errors carry the URL; drop it so no signed query ever reaches a log.
fn transport_error(err: reqwest::Error) -> Attempt {
    if err.is_timeout() {
        return Attempt::Final(ExchangeError::Timeout);
    }
    let err = err.without_url();
    if err.is_decode() {
        return Attempt::Final(ExchangeError::InvalidResponse(err.to_string()));
    }
    // Refused or reset connections and bodies cut short: worth another try.
    Attempt::Retry(ExchangeError::Unavailable(err.to_string()), None)
}

/// Binance's HMAC-SHA256 signature: lowercase hex of HMAC(secret, payload).
pub fn sign_hmac_sha256(secret: &str, payload: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts any key length");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_signature_matches_binance_official_example() {
        // ../shared/reference/binance-signature-vectors.json, vector `hmac-rest-ascii`
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let payload = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            sign_hmac_sha256(secret, payload),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
    }

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(1), Duration::from_millis(400));
        assert_eq!(backoff(2), Duration::from_millis(800));
    }

    #[test]
    fn weight_budget_stops_at_ninety_percent_until_the_minute_ends() {
        let exchange = Exchange::new(ExchangeSettings::new("http://127.0.0.1:9")).unwrap();
        let now = DateTime::from_timestamp(1_700_000_010, 0).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-mbx-used-weight-1m", "5399".parse().unwrap());
        exchange.record_weight(&headers, now);
        assert!(exchange.check_weight_budget(now).is_ok());
        headers.insert("x-mbx-used-weight-1m", "5400".parse().unwrap());
        exchange.record_weight(&headers, now);
        match exchange.check_weight_budget(now) {
            Err(ExchangeError::RateLimited { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(60 - 1_700_000_010 % 60));
            }
            other => panic!("expected a local rate limit, got {other:?}"),
        }
        let next_minute = now + chrono::Duration::seconds(60);
        assert!(exchange.check_weight_budget(next_minute).is_ok());
    }
}
