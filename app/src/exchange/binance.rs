use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::model::AssetBalance;

#[derive(Clone, Debug)]
pub struct ExchangeSettings {
    /// e.g. `https://api.binance.com`, without a trailing slash.
    pub base_url: String,
    /// Total time allowed for one call to Binance.
    pub timeout: Duration,
    /// Binance's `recvWindow`, in milliseconds.
    pub recv_window_ms: u64,
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
    /// Binance could not be reached, or failed on its side.
    #[error("Binance is unreachable: {0}")]
    Unavailable(String),
    /// Binance answered with something that is not its API.
    #[error("Binance answered unexpectedly: {0}")]
    InvalidResponse(String),
    #[error("Binance did not answer in time")]
    Timeout,
}

#[derive(Clone)]
pub struct Exchange {
    http: reqwest::Client,
    settings: ExchangeSettings,
}

#[derive(Deserialize)]
struct BinanceErrorBody {
    code: i64,
    msg: String,
}

impl Exchange {
    pub fn new(settings: ExchangeSettings) -> Result<Self, ExchangeError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(3)))
            .user_agent(concat!("keywarden/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ExchangeError::Unavailable(e.to_string()))?;
        Ok(Self { http, settings })
    }

    /// Signed `GET /api/v3/account`: proves the key pair works and reads the balances.
    pub async fn account(
        &self,
        key: &KeyPair<'_>,
        now: DateTime<Utc>,
    ) -> Result<Account, ExchangeError> {
        let query = format!(
            "recvWindow={}&timestamp={}",
            self.settings.recv_window_ms,
            now.timestamp_millis()
        );
        let signature = sign_hmac_sha256(key.secret_key, &query);
        let url = format!(
            "{}/api/v3/account?{query}&signature={signature}",
            self.settings.base_url
        );
        let response = self
            .http
            .get(url)
            .header("X-MBX-APIKEY", key.api_key)
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_error)?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| ExchangeError::InvalidResponse(e.to_string()));
        }
        if status.is_client_error()
            && let Ok(err) = serde_json::from_slice::<BinanceErrorBody>(&body)
        {
            return Err(ExchangeError::Rejected {
                code: err.code,
                message: err.msg,
            });
        }
        if status.is_server_error() {
            return Err(ExchangeError::Unavailable(format!("HTTP {status}")));
        }
        Err(ExchangeError::InvalidResponse(format!("HTTP {status}")))
    }
}

/// reqwest errors carry the URL; drop it so no signed query ever reaches a log.
fn transport_error(err: reqwest::Error) -> ExchangeError {
    if err.is_timeout() {
        return ExchangeError::Timeout;
    }
    let err = err.without_url();
    if err.is_decode() || err.is_body() {
        return ExchangeError::InvalidResponse(err.to_string());
    }
    ExchangeError::Unavailable(err.to_string())
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
}
