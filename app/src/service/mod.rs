//! The domain core: every operation a user can perform, called by both the REST routes and the
//! server functions. It knows nothing of HTTP.

mod alerts;
mod audit;
mod auth;
mod binance_quota;
mod bot_configs;
mod bot_tokens;
mod error;
mod gateway;
mod keys;
mod password_hashing;
mod sessions;
mod tokens;
mod two_factor;
mod user_agent;

use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use alerts::{AlertKind, AlertSettings};
pub use audit::ClientInfo;
pub use auth::{Limits, validate_email};
pub use binance_quota::BinanceQuota;
pub use bot_tokens::BOT_TOKEN_PREFIX;
pub use error::ServiceError;
pub use gateway::{GatewayRequest, GatewayState, Refusal, RefusalKind};
pub use keys::{RotatedBatch, mask_api_key};
pub use password_hashing::{PasswordHasherPool, password_hasher};
pub use sessions::{Access, Credential, SessionSettings, SignIn};
pub use tokens::Tokens;
pub use two_factor::TwoFactorSettings;

use crate::exchange::Exchange;
use crate::store::{ApiKeyRow, Store};
use crate::vault::Vault;

/// Where the service reads the time, so tests can set it.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The service: one instance per process, shared by every request.
#[derive(Clone)]
pub struct Keywarden {
    inner: Arc<Parts>,
}

pub struct Parts {
    pub store: Store,
    pub vault: Vault,
    pub exchange: Exchange,
    pub tokens: Tokens,
    pub passwords: PasswordHasherPool,
    /// The gateway's prices and per-bot counts.
    pub gateway: GatewayState,
    pub sessions: SessionSettings,
    pub limits: Limits,
    /// Each account's calls to Binance a minute, on this instance.
    pub binance_quota: BinanceQuota,
    pub two_factor: TwoFactorSettings,
    pub clock: Arc<dyn Clock>,
    /// Webhook deliveries: how they are sent and retried.
    pub alerts: AlertSettings,
    /// Mark session cookies `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Accept keys that can withdraw or transfer funds (refused by default).
    pub allow_withdrawal_keys: bool,
    /// The addresses Binance sees this service's calls come from (`KEYWARDEN_EGRESS_IPS`).
    pub egress_ips: Vec<std::net::IpAddr>,
    /// Where users and bots reach this service (`KEYWARDEN_PUBLIC_URL`), without a trailing
    /// slash.
    pub public_url: String,
}

impl Keywarden {
    pub fn new(parts: Parts) -> Self {
        Self {
            inner: Arc::new(parts),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn exchange(&self) -> &Exchange {
        &self.inner.exchange
    }

    pub fn secure_cookies(&self) -> bool {
        self.inner.secure_cookies
    }

    /// The gateway's base URL, as a bot's client is configured with it.
    pub fn gateway_url(&self) -> String {
        format!("{}/gateway/binance", self.inner.public_url)
    }

    /// For a signed-in caller only, as every endpoint is.
    pub fn meta(&self, _caller: &Caller) -> crate::model::ServiceMeta {
        crate::model::ServiceMeta {
            egress_ips: self
                .inner
                .egress_ips
                .iter()
                .map(ToString::to_string)
                .collect(),
            gateway_url: self.gateway_url(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// Takes one of the account's Binance calls this minute (`BinanceQuota`): 429 past it.
    fn within_binance_quota(&self, user_id: i64) -> Result<(), ServiceError> {
        self.inner
            .binance_quota
            .take(user_id, self.now())
            .map_err(|retry_after_secs| ServiceError::BinanceQuota { retry_after_secs })
    }
}

/// The authenticated caller of an operation.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: i64,
    pub session_id: String,
    pub client: ClientInfo,
    /// The caller's stored key as it was when the request was authenticated: read with the
    /// session, in the same statement.
    pub key: Option<ApiKeyRow>,
    /// The account has a second factor on.
    pub two_factor_on: bool,
    /// When this session last proved a second-factor code.
    pub stepped_up_at: Option<DateTime<Utc>>,
}
