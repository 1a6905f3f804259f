use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::errors::ExchangeError;
use super::signing::Signer;
use crate::model::Environment;

#[derive(Clone, Debug)]
pub struct ExchangeSettings {
    /// e.g. `https://api.binance.com`, without a trailing slash.
    pub mainnet_url: String,
    /// e.g. `https://testnet.binance.vision`, without a trailing slash.
    pub testnet_url: String,
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
    /// Calls in flight at once; more wait their turn.
    pub max_concurrent: usize,
}

impl ExchangeSettings {
    pub fn new(mainnet_url: impl Into<String>, testnet_url: impl Into<String>) -> Self {
        Self {
            mainnet_url: mainnet_url.into(),
            testnet_url: testnet_url.into(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
            recv_window_ms: 5_000,
            max_attempts: 3,
            max_backoff: Duration::from_secs(2),
            weight_limit: 6_000,
            max_concurrent: 32,
        }
    }
}

/// An API key and its signer, borrowed for the one call that needs them.
pub struct KeyPair<'a> {
    pub api_key: &'a str,
    pub signer: &'a Signer<'a>,
}

/// What Binance says about a key that works.
pub struct KeyCheck {
    pub account: Account,
    /// What the key may do; `None` on the testnet, which has no `apiRestrictions` endpoint
    /// (its account's `canTrade`/`canWithdraw` describe the account, not the key, and the
    /// testnet answers `canWithdraw: true` for every account though it has no withdrawals).
    pub restrictions: Option<ApiRestrictions>,
}

/// `GET /sapi/v1/account/apiRestrictions` (mainnet only), in Binance's terms.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiRestrictions {
    #[serde(default)]
    pub ip_restrict: bool,
    #[serde(default)]
    pub enable_reading: bool,
    #[serde(default)]
    pub enable_spot_and_margin_trading: bool,
    #[serde(default)]
    pub enable_withdrawals: bool,
    #[serde(default)]
    pub enable_futures: bool,
    #[serde(default)]
    pub enable_margin: bool,
    #[serde(default)]
    pub enable_internal_transfer: bool,
    #[serde(default)]
    pub permits_universal_transfer: bool,
    #[serde(default)]
    pub enable_vanilla_options: bool,
    /// Milliseconds since the epoch; absent or 0 when trading does not lapse.
    #[serde(default)]
    trading_authority_expiration_time: Option<i64>,
}

impl ApiRestrictions {
    /// When Binance takes spot trading away from the key (one without an IP restriction).
    pub fn trading_expires_at(&self) -> Option<DateTime<Utc>> {
        self.trading_authority_expiration_time
            .filter(|ms| *ms > 0)
            .and_then(DateTime::from_timestamp_millis)
    }
}

/// What `GET /api/v3/account` says of the account that matters here: its balances.
#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub balances: Vec<Balance>,
}

/// One asset of the account; amounts are decimal strings exactly as Binance sent them.
#[derive(Clone, Debug, Deserialize)]
pub struct Balance {
    pub asset: String,
    pub free: String,
    pub locked: String,
}

/// How one try ended, for `retrying`: for good, or worth another try after the given wait
/// (`None`: the usual backoff), its outcome standing if no try is left.
pub(super) enum Try<T> {
    Final(Result<T, ExchangeError>),
    Again(Result<T, ExchangeError>, Option<Duration>),
}

/// How one HTTP try ended, before the retry policy decides.
pub(super) enum Attempt {
    Final(ExchangeError),
    /// Worth another try after the given wait (`None`: the usual backoff).
    Retry(ExchangeError, Option<Duration>),
}

pub struct Exchange {
    pub(super) http: reqwest::Client,
    pub(super) settings: ExchangeSettings,
    mainnet: Venue,
    testnet: Venue,
    /// How calls ended (after retries), by outcome, for the metrics.
    outcomes: [AtomicU64; OUTCOMES.len()],
    /// One permit per HTTP request in flight to Binance (`ExchangeSettings::max_concurrent`).
    in_flight: tokio::sync::Semaphore,
}

/// The outcomes calls are counted by, in `outcomes` order.
pub(super) const OUTCOMES: [&str; 7] = [
    "ok",
    "rejected",
    "unavailable",
    "invalid_response",
    "timeout",
    "rate_limited",
    "banned",
];

pub(super) fn outcome_index<T>(result: &Result<T, ExchangeError>) -> usize {
    match result {
        Ok(_) => 0,
        Err(ExchangeError::Rejected { .. }) => 1,
        Err(ExchangeError::Unavailable(_)) => 2,
        Err(ExchangeError::InvalidResponse(_)) => 3,
        Err(ExchangeError::Timeout) => 4,
        Err(ExchangeError::RateLimited { .. }) => 5,
        Err(ExchangeError::Banned { .. }) => 6,
    }
}

/// What we track of one Binance environment.
pub(super) struct Venue {
    pub(super) base_url: String,
    /// Binance's clock minus ours, in milliseconds, learned from `GET /api/v3/time`.
    pub(super) time_offset_ms: AtomicI64,
    /// The last `X-MBX-USED-WEIGHT-1M` seen, and the minute (Unix minutes) it was seen in.
    used_weight: Mutex<(i64, u32)>,
}

impl Venue {
    fn new(base_url: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            time_offset_ms: AtomicI64::new(0),
            used_weight: Mutex::new((0, 0)),
        }
    }
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

const DEFAULT_BAN: Duration = Duration::from_secs(60);

impl Exchange {
    pub fn new(settings: ExchangeSettings) -> Result<Self, ExchangeError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("keywarden/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry the API key and a signed request to wherever it points.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ExchangeError::Unavailable(e.to_string()))?;
        Ok(Self {
            http,
            mainnet: Venue::new(&settings.mainnet_url),
            testnet: Venue::new(&settings.testnet_url),
            in_flight: tokio::sync::Semaphore::new(settings.max_concurrent.max(1)),
            settings,
            outcomes: Default::default(),
        })
    }

    pub(super) fn venue(&self, environment: Environment) -> &Venue {
        match environment {
            Environment::Mainnet => &self.mainnet,
            Environment::Testnet => &self.testnet,
        }
    }

    /// Proves the key works and reads what it may do (on mainnet; see `KeyCheck`).
    pub async fn check_key(
        &self,
        environment: Environment,
        key: &KeyPair<'_>,
        now: DateTime<Utc>,
    ) -> Result<KeyCheck, ExchangeError> {
        let account = self.account(environment, key, now).await?;
        let restrictions = match environment {
            Environment::Testnet => None,
            Environment::Mainnet => Some(
                self.signed_get(environment, "/sapi/v1/account/apiRestrictions", key, now)
                    .await?,
            ),
        };
        Ok(KeyCheck {
            account,
            restrictions,
        })
    }

    /// Signed `GET /api/v3/account`: proves the key pair works and reads the balances.
    /// A -1021 (clock skew) resynchronises with Binance's clock once and tries again.
    pub async fn account(
        &self,
        environment: Environment,
        key: &KeyPair<'_>,
        now: DateTime<Utc>,
    ) -> Result<Account, ExchangeError> {
        match self
            .signed_get(environment, "/api/v3/account", key, now)
            .await
        {
            Err(err) if err.is_clock_skew() => {
                self.sync_time(environment, now).await?;
                self.signed_get(environment, "/api/v3/account", key, now)
                    .await
            }
            other => other,
        }
    }

    /// Learns the offset between Binance's clock and `now`.
    pub async fn sync_time(
        &self,
        environment: Environment,
        now: DateTime<Utc>,
    ) -> Result<(), ExchangeError> {
        let venue = self.venue(environment);
        let url = format!("{}/api/v3/time", venue.base_url);
        let time: ServerTime = self.get(venue, &url, None, now).await?;
        let offset = time.server_time - now.timestamp_millis();
        venue.time_offset_ms.store(offset, Ordering::Relaxed);
        tracing::info!(offset_ms = offset, "synchronised with Binance's clock");
        Ok(())
    }

    async fn signed_get<T: DeserializeOwned>(
        &self,
        environment: Environment,
        path: &str,
        key: &KeyPair<'_>,
        now: DateTime<Utc>,
    ) -> Result<T, ExchangeError> {
        let venue = self.venue(environment);
        let timestamp = now.timestamp_millis() + venue.time_offset_ms.load(Ordering::Relaxed);
        let query = format!(
            "recvWindow={}&timestamp={timestamp}",
            self.settings.recv_window_ms
        );
        let signature = key.signer.sign_for_query(&query);
        let url = format!("{}{path}?{query}&signature={signature}", venue.base_url);
        self.get(venue, &url, Some(key.api_key), now).await
    }

    /// Counts a call that ended in `outcome`, one of `OUTCOMES`.
    pub(super) fn count(&self, outcome: &str) {
        if let Some(index) = OUTCOMES.iter().position(|name| *name == outcome) {
            self.outcomes[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many calls ended in each outcome since the start.
    pub fn call_counts(&self) -> Vec<(&'static str, u64)> {
        OUTCOMES
            .iter()
            .zip(&self.outcomes)
            .map(|(name, count)| (*name, count.load(Ordering::Relaxed)))
            .collect()
    }

    async fn get<T: DeserializeOwned>(
        &self,
        venue: &Venue,
        url: &str,
        api_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<T, ExchangeError> {
        let result = self.get_with_retries(venue, url, api_key, now).await;
        self.outcomes[outcome_index(&result)].fetch_add(1, Ordering::Relaxed);
        result
    }

    /// A read, retried on 5xx, 429 and broken connections with capped exponential backoff
    /// that honours `Retry-After`; never retried on other 4xx, timeouts or garbage.
    async fn get_with_retries<T: DeserializeOwned>(
        &self,
        venue: &Venue,
        url: &str,
        api_key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<T, ExchangeError> {
        self.check_weight_budget(venue, now)?;
        self.retrying(
            async || match self.get_once(venue, url, api_key, now).await {
                Ok(value) => Try::Final(Ok(value)),
                Err(Attempt::Final(error)) => Try::Final(Err(error)),
                Err(Attempt::Retry(error, wait)) => Try::Again(Err(error), wait),
            },
        )
        .await
    }

    /// Runs `once` until it ends for good, waiting between tries (`Retry-After`, else capped
    /// exponential backoff); after the last try allowed, or before a wait longer than allowed,
    /// its last outcome stands.
    /// A turn among the calls in flight, waited for no longer than a call may take.
    async fn outgoing_turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ExchangeError> {
        match tokio::time::timeout(self.settings.timeout, self.in_flight.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ExchangeError::Unavailable(
                "too many Binance calls in flight on this server".into(),
            )),
        }
    }

    pub(super) async fn retrying<T, Once: Future<Output = Try<T>>>(
        &self,
        mut once: impl FnMut() -> Once,
    ) -> Result<T, ExchangeError> {
        let mut attempt = 1;
        loop {
            let permit = self.outgoing_turn().await?;
            let tried = once().await;
            drop(permit);
            let (last, retry_after) = match tried {
                Try::Final(outcome) => return outcome,
                Try::Again(outcome, retry_after) => (outcome, retry_after),
            };
            let wait = retry_after.unwrap_or_else(|| backoff(attempt));
            if attempt >= self.settings.max_attempts || wait > self.settings.max_backoff {
                return last;
            }
            match &last {
                Err(error) => tracing::debug!(attempt, ?wait, "retrying a Binance read: {error}"),
                Ok(_) => tracing::debug!(
                    attempt,
                    ?wait,
                    "retrying a Binance read that Binance answered with a fault"
                ),
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn get_once<T: DeserializeOwned>(
        &self,
        venue: &Venue,
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
        record_weight(venue, response.headers(), now);
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
            // Binance bans an address that keeps calling after a 429: never try again at once.
            StatusCode::TOO_MANY_REQUESTS => {
                return Err(Attempt::Final(ExchangeError::RateLimited {
                    retry_after: retry_after.unwrap_or(DEFAULT_BAN),
                }));
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

    /// Refuses locally, before Binance would, once 90% of this minute's weight is used.
    pub(super) fn check_weight_budget(
        &self,
        venue: &Venue,
        now: DateTime<Utc>,
    ) -> Result<(), ExchangeError> {
        let (minute, used) = *venue.used_weight.lock().unwrap_or_else(|e| e.into_inner());
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

pub(super) fn record_weight(venue: &Venue, headers: &HeaderMap, now: DateTime<Utc>) {
    let used = headers
        .get("x-mbx-used-weight-1m")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok());
    if let Some(used) = used {
        *venue.used_weight.lock().unwrap_or_else(|e| e.into_inner()) = (now.timestamp() / 60, used);
    }
}

pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(10)))
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers.get(RETRY_AFTER).and_then(seconds)
}

/// A `Retry-After` value in seconds.
pub(super) fn seconds(value: &HeaderValue) -> Option<Duration> {
    value
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// reqwest errors carry the URL; drop it so no signed query ever reaches a log.
pub(super) fn transport_error(err: reqwest::Error) -> Attempt {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles() {
        assert_eq!(backoff(1), Duration::from_millis(400));
        assert_eq!(backoff(2), Duration::from_millis(800));
    }

    #[test]
    fn weight_budget_stops_at_ninety_percent_until_the_minute_ends() {
        let exchange = Exchange::new(ExchangeSettings::new(
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
        ))
        .unwrap();
        let venue = &exchange.mainnet;
        let now = DateTime::from_timestamp(1_700_000_010, 0).unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-mbx-used-weight-1m", "5399".parse().unwrap());
        record_weight(venue, &headers, now);
        assert!(exchange.check_weight_budget(venue, now).is_ok());
        headers.insert("x-mbx-used-weight-1m", "5400".parse().unwrap());
        record_weight(venue, &headers, now);
        match exchange.check_weight_budget(venue, now) {
            Err(ExchangeError::RateLimited { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(60 - 1_700_000_010 % 60));
            }
            other => panic!("expected a local rate limit, got {other:?}"),
        }
        let next_minute = now + chrono::Duration::seconds(60);
        assert!(exchange.check_weight_budget(venue, next_minute).is_ok());
    }
}
