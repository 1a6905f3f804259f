//! The types that cross the wire, shared by the browser, the server functions and the REST API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UserView {
    pub id: i64,
    pub email: String,
    pub is_active: bool,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
}

/// How a key signs: an HMAC secret, or an Ed25519 or RSA private key (PEM).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    #[default]
    Hmac,
    Ed25519,
    Rsa,
}

impl KeyType {
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyType::Hmac => "hmac",
            KeyType::Ed25519 => "ed25519",
            KeyType::Rsa => "rsa",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "hmac" => Some(KeyType::Hmac),
            "ed25519" => Some(KeyType::Ed25519),
            "rsa" => Some(KeyType::Rsa),
            _ => None,
        }
    }
}

/// Which Binance a key belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[default]
    Mainnet,
    Testnet,
}

impl Environment {
    pub const fn as_str(self) -> &'static str {
        match self {
            Environment::Mainnet => "mainnet",
            Environment::Testnet => "testnet",
        }
    }

    pub fn other(self) -> Self {
        match self {
            Environment::Mainnet => Environment::Testnet,
            Environment::Testnet => Environment::Mainnet,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "mainnet" => Some(Environment::Mainnet),
            "testnet" => Some(Environment::Testnet),
            _ => None,
        }
    }
}

/// What Binance lets the key do. `null` where Binance does not say: the spot testnet reports
/// nothing about a key's permissions, only that it works (`reading`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(default)]
pub struct Permissions {
    pub reading: Option<bool>,
    pub spot_trading: Option<bool>,
    pub withdrawals: Option<bool>,
    pub futures: Option<bool>,
    pub margin: Option<bool>,
    /// Whether the key only works from allow-listed IPs.
    pub ip_restricted: Option<bool>,
    /// Binance's internal transfer (to other Binance accounts) and universal transfer
    /// (between the account's wallets and sub-accounts): both move funds.
    pub internal_transfer: Option<bool>,
    pub universal_transfer: Option<bool>,
    pub vanilla_options: Option<bool>,
}

impl Permissions {
    /// The permissions Binance reports on that let the key move funds out of the account or
    /// between its wallets, as they are named in Binance's API management.
    pub fn moving_funds(&self) -> Vec<&'static str> {
        [
            (self.withdrawals, "withdrawals"),
            (self.internal_transfer, "internal transfer"),
            (self.universal_transfer, "universal transfer"),
        ]
        .into_iter()
        .filter_map(|(on, name)| (on == Some(true)).then_some(name))
        .collect()
    }
}

/// Something the user should know about an accepted key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Warning {
    pub code: String,
    pub detail: String,
}

/// A stored Binance key as users see it: masked, never with its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ApiKeyView {
    pub id: i64,
    pub label: Option<String>,
    /// First 4 characters, 8 asterisks, last 4.
    #[cfg_attr(feature = "ssr", schema(example = "vmPU********Eh8A"))]
    pub api_key_masked: String,
    /// Whether Binance accepted the key when it was last checked.
    pub is_valid: bool,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
    /// When Binance last checked the key.
    #[serde(serialize_with = "rfc3339::optional::serialize")]
    pub last_validated_at: Option<DateTime<Utc>>,
    pub key_type: KeyType,
    pub environment: Environment,
    pub permissions: Permissions,
    /// When Binance takes spot trading away from a key without an IP restriction.
    #[serde(serialize_with = "rfc3339::optional::serialize")]
    pub trading_expires_at: Option<DateTime<Utc>>,
    pub warnings: Vec<Warning>,
    /// How many bot configs use the key (and go with it on delete).
    pub bot_config_count: i64,
}

/// A new label for the stored key; empty or null removes it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeyLabel {
    pub label: Option<String>,
}

/// An order type, as Binance names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderType {
    Limit,
    LimitMaker,
    Market,
    StopLoss,
    StopLossLimit,
    TakeProfit,
    TakeProfitLimit,
}

impl OrderType {
    pub const ALL: [OrderType; 7] = [
        OrderType::Limit,
        OrderType::LimitMaker,
        OrderType::Market,
        OrderType::StopLoss,
        OrderType::StopLossLimit,
        OrderType::TakeProfit,
        OrderType::TakeProfitLimit,
    ];

    /// What a new bot may place unless its owner says otherwise.
    pub const DEFAULT: [OrderType; 3] =
        [OrderType::Limit, OrderType::LimitMaker, OrderType::Market];

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderType::Limit => "LIMIT",
            OrderType::LimitMaker => "LIMIT_MAKER",
            OrderType::Market => "MARKET",
            OrderType::StopLoss => "STOP_LOSS",
            OrderType::StopLossLimit => "STOP_LOSS_LIMIT",
            OrderType::TakeProfit => "TAKE_PROFIT",
            OrderType::TakeProfitLimit => "TAKE_PROFIT_LIMIT",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        OrderType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// A bot's identity and policy: what it may trade through the gateway.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BotConfigView {
    pub id: i64,
    pub api_key_id: i64,
    pub name: String,
    /// The one symbol the bot trades, such as `BTCUSDT`.
    pub symbol: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    /// A disabled bot's tokens are refused.
    pub enabled: bool,
    /// The largest order, in the symbol's quote asset, as a decimal string; null: no limit.
    #[cfg_attr(feature = "ssr", schema(example = "250.00"))]
    pub max_order_notional: Option<String>,
    /// The order types the bot may place.
    pub order_types: Vec<OrderType>,
    pub orders_per_minute: i64,
    /// Whether every bot of the account is paused (`pause-all`); a paused bot's tokens are
    /// refused until `resume-all`.
    pub paused: bool,
    /// Why Keywarden paused every bot: `key_moves_funds`; null when the owner did (or none is
    /// paused).
    pub paused_reason: Option<String>,
    /// What the owner should know: `no_notional_limit`.
    pub warnings: Vec<Warning>,
    /// When one of the bot's tokens was last used at the gateway (noted at most once a
    /// minute).
    #[serde(serialize_with = "rfc3339::optional::serialize")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// Orders the bot sent to Binance since midnight UTC.
    pub orders_today: i64,
    /// The bot's orders and cancels Keywarden refused since midnight UTC (its policy, its
    /// token, the account's limits); Binance's own rejections, and Binance out of reach, are
    /// not counted.
    pub refusals_today: i64,
}

/// Changes to a bot config's policy; fields left out stay as they are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BotConfigChange {
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// A decimal string; `null` removes the limit.
    #[serde(
        default,
        with = "present_or_null",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>))]
    pub max_order_notional: Option<Option<String>>,
    pub order_types: Option<Vec<OrderType>>,
    pub orders_per_minute: Option<i64>,
}

/// Whether every bot of the account is paused, and since when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BotsPauseView {
    pub paused: bool,
    #[serde(serialize_with = "rfc3339::optional::serialize")]
    pub paused_at: Option<DateTime<Utc>>,
    /// Why Keywarden paused them: `key_moves_funds` (the key gained a permission that moves
    /// funds); null when the user did, or when they run.
    pub reason: Option<String>,
}

/// A new gateway token for a bot.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewBotToken {
    pub name: Option<String>,
    /// 1 to 3650; left out: the token does not expire.
    pub expires_in_days: Option<i64>,
    /// Addresses (`203.0.113.7`) and networks (`203.0.113.0/24`) the token works from; left out:
    /// any.
    pub allowed_ips: Option<Vec<String>>,
}

/// A token just issued, as the page shows it: with the gateway's base URL for the snippets.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct IssuedBotToken {
    pub token: BotTokenCreated,
    /// `KEYWARDEN_PUBLIC_URL` + `/gateway/binance`.
    pub gateway_url: String,
}

/// A token just issued: the only time its secret is shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BotTokenCreated {
    pub id: i64,
    /// The bot's API key for the gateway (`X-MBX-APIKEY`); shown this once.
    pub token: String,
    /// What identifies the token from now on.
    #[cfg_attr(feature = "ssr", schema(example = "kwb_Xq3vT9aL"))]
    pub prefix: String,
    pub name: Option<String>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::optional::serialize")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for BotTokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotTokenCreated")
            .field("id", &self.id)
            .field("token", &"[redacted]")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A bot's token as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BotTokenView {
    pub id: i64,
    pub prefix: String,
    pub name: Option<String>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::optional::serialize")]
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::optional::serialize")]
    pub last_used_at: Option<DateTime<Utc>>,
    /// The address the token was last used from.
    pub last_ip: Option<String>,
    /// Empty: any address.
    pub allowed_ips: Vec<String>,
}

/// One entry of the audit trail.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditEventView {
    pub id: i64,
    /// What happened: `user.register`, `user.login`, `key.create`, `key.validate`, `key.use`
    /// (a balance read), `key.replace`, `key.rename`, `key.delete`, `key.rotate` (re-encrypted
    /// by the operator), `bot_config.create`, `bot_config.update`, `bot_config.delete`,
    /// `bot_token.create`, `bot_token.revoke`, `bots.pause`, `bots.resume`, `order.place` and
    /// `order.cancel` (through the gateway: `attempt` before it leaves, then its outcome).
    #[cfg_attr(feature = "ssr", schema(example = "key.create"))]
    pub action: String,
    /// The key the event concerns, if any.
    pub api_key_id: Option<i64>,
    /// The bot the event concerns, if any.
    pub bot_config_id: Option<i64>,
    /// For an order event: `{bot, symbol, side, type, quantity, price, quote_order_qty,
    /// client_order_id, order_id, binance_code}`, each present when known.
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub detail: Option<serde_json::Value>,
    /// `success` or `failure`; for orders also `attempt` (recorded before the order leaves)
    /// and `unknown` (Binance did not answer in time).
    pub outcome: String,
    /// For failures, the error code the request was answered with.
    pub error_code: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The browser and system in words, such as `Chrome 156 on Linux`, when the user agent is
    /// one a parser recognises.
    pub client: Option<String>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
}

/// What a signed-in user's clients need to know of this Keywarden.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ServiceMeta {
    /// The addresses Binance sees Keywarden's calls come from: restrict the key to exactly
    /// these. Empty when the operator has not said.
    pub egress_ips: Vec<String>,
    /// The base URL bots point their Binance client at, with a bot token as the API key.
    pub gateway_url: String,
}

/// A page of the caller's audit trail, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    pub next_before: Option<i64>,
}

/// Which page of the audit trail to read.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::IntoParams), into_params(parameter_in = Query))]
pub struct AuditQuery {
    /// Events per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// Only events older than this event id (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Only this bot config's events.
    pub bot: Option<i64>,
}

/// One asset of the account; amounts are decimal strings exactly as Binance sent them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct AssetBalance {
    pub asset: String,
    pub free: String,
    pub locked: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct BalanceView {
    pub balances: Vec<AssetBalance>,
    /// The Binance environment of the key.
    pub environment: Environment,
    /// When Binance reported these balances.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TokenView {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single use: `POST /api/v1/auth/refresh` trades it for a new access token and a new
    /// refresh token. Presenting a used one again revokes the session.
    pub refresh_token: String,
}

/// A refresh token to trade for new tokens.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// How a session signed in: a browser (the session cookie) or an API client (access and
/// refresh tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SessionKind {
    Browser,
    Api,
}

impl SessionKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            SessionKind::Browser => "browser",
            SessionKind::Api => "api",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "browser" => Some(SessionKind::Browser),
            "api" => Some(SessionKind::Api),
            _ => None,
        }
    }
}

/// A signed-in session of the account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SessionView {
    pub id: String,
    pub kind: SessionKind,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub last_seen_at: DateTime<Utc>,
    /// When the session ends at the latest.
    #[serde(serialize_with = "rfc3339::serialize")]
    pub expires_at: DateTime<Utc>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The browser and system in words, such as `Chrome 156 on Linux`, when the user agent is
    /// one a parser recognises.
    pub client: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// The current password and the new one (8 to 128 characters).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// What the first step of a sign-in answers when the account has a second factor: no tokens
/// yet, a challenge to answer with a code at `POST /api/v1/auth/login/2fa`, valid 5 minutes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecondFactorChallenge {
    /// Always `true`.
    pub two_factor_required: bool,
    pub challenge: String,
}

/// How far the browser's sign-in went: signed in, or a code is awaited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignInStep {
    pub two_factor_required: bool,
}

/// A sign-in's second step: the challenge and a code (six digits from the authenticator app,
/// or one of the recovery codes).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SecondFactorAnswer {
    pub challenge: String,
    pub code: String,
}

/// A code from the authenticator app (or a recovery code, where one is accepted).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TwoFactorCode {
    pub code: String,
}

/// A new TOTP secret to put in an authenticator app; it takes effect once a first code confirms
/// it (`POST /api/v1/auth/2fa/enable`).
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TwoFactorSetup {
    /// Base32, for typing into the app by hand.
    pub secret: String,
    /// `otpauth://totp/...`, what the QR code holds.
    pub otpauth_uri: String,
    /// The QR code as an SVG image.
    pub qr_svg: String,
}

/// Ten one-time recovery codes, shown once: each signs in (or steps up) in place of a code
/// from the app.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// The account's second factor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct TwoFactorStatus {
    pub enabled: bool,
    pub enabled_at: Option<DateTime<Utc>>,
    pub recovery_codes_left: i64,
    /// The operator requires a second factor on every account.
    pub required: bool,
    /// This session proved a code recently enough for changes that need one.
    pub stepped_up: bool,
}

/// A Binance key pair as a user submits it.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewApiKey {
    pub api_key: String,
    /// The HMAC secret, or the Ed25519 or RSA private key as PEM.
    pub secret_key: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub environment: Environment,
}

/// The submitted secret is wiped from memory once the request is done with it.
#[cfg(feature = "ssr")]
impl Drop for NewApiKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_key);
    }
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("api_key", &"[redacted]")
            .field("secret_key", &"[redacted]")
            .field("label", &self.label)
            .field("environment", &self.environment)
            .finish()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewBotConfig {
    pub name: String,
    pub symbol: String,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// A decimal string in the symbol's quote asset; left out or null: no limit.
    #[serde(default)]
    pub max_order_notional: Option<String>,
    /// Default `LIMIT`, `LIMIT_MAKER`, `MARKET`.
    #[serde(default)]
    pub order_types: Option<Vec<OrderType>>,
    /// Default 60.
    #[serde(default)]
    pub orders_per_minute: Option<i64>,
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[error("{detail}")]
pub struct ErrorBody {
    /// A message for a person. For errors from Binance, Binance's own message.
    pub detail: String,
    /// A stable snake_case code for programs.
    pub code: String,
    /// Binance's error code, when the error came from Binance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binance_code: Option<i64>,
    /// What the person can do about it, where we know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            detail: detail.into(),
            code: code.into(),
            binance_code: None,
            hint: None,
        }
    }
}

impl leptos::server_fn::error::FromServerFnError for ErrorBody {
    type Encoder = leptos::server_fn::codec::JsonEncoding;

    fn from_server_fn_error(value: leptos::server_fn::error::ServerFnErrorErr) -> Self {
        use leptos::server_fn::error::ServerFnErrorErr as E;
        match value {
            E::Args(msg) | E::Deserialization(msg) => ErrorBody::new("invalid_request", msg),
            E::Request(msg) => ErrorBody::new("network_error", msg),
            other => ErrorBody::new("request_failed", other.to_string()),
        }
    }
}

/// A field that may be left out (outer `None`) or sent as `null` (inner `None`).
mod present_or_null {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        from: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(from).map(Some)
    }

    pub fn serialize<S: Serializer, T: Serialize>(
        value: &Option<Option<T>>,
        to: S,
    ) -> Result<S::Ok, S::Error> {
        value.as_ref().and_then(Option::as_ref).serialize(to)
    }
}

/// Timestamps serialize as chrono's own `Serialize` writes them (RFC 3339, `Z` for UTC, as
/// many fractional digits as needed), formatted into one string first: chrono's impl feeds
/// serde_json's string escaper a few characters at a time (callgrind: 2,800 instructions per
/// timestamp, four of them in every GET /api/v1/api-keys/me).
mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, to: S) -> Result<S::Ok, S::Error> {
        to.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub mod optional {
        use super::*;

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            to: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => super::serialize(at, to),
                None => to.serialize_none(),
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use chrono::{TimeZone, Utc};

        #[derive(serde::Serialize)]
        struct Ours {
            #[serde(serialize_with = "super::serialize")]
            at: chrono::DateTime<Utc>,
            #[serde(serialize_with = "super::optional::serialize")]
            maybe: Option<chrono::DateTime<Utc>>,
        }

        #[derive(serde::Serialize)]
        struct Chronos {
            at: chrono::DateTime<Utc>,
            maybe: Option<chrono::DateTime<Utc>>,
        }

        #[test]
        fn timestamps_read_exactly_as_chrono_writes_them() {
            let whole = Utc.with_ymd_and_hms(2026, 12, 1, 18, 55, 50).unwrap();
            let instants = [
                whole,
                whole + chrono::Duration::milliseconds(48),
                whole + chrono::Duration::microseconds(280_444),
                whole + chrono::Duration::nanoseconds(280_444_556),
                Utc.with_ymd_and_hms(1999, 1, 2, 3, 4, 5).unwrap(),
            ];
            for at in instants {
                for maybe in [None, Some(at)] {
                    let ours = serde_json::to_string(&Ours { at, maybe }).unwrap();
                    let chronos = serde_json::to_string(&Chronos { at, maybe }).unwrap();
                    assert_eq!(ours, chronos);
                }
            }
        }
    }
}

/// Every alert a webhook can listen for.
pub const ALERT_TYPES: [&str; 9] = [
    "key.invalid",
    "key.trading_expiring",
    "key.funds_permission",
    "bot.refusals",
    "bots.paused",
    "login.new_address",
    "login.blocked",
    "password.changed",
    "webhook.test",
];

/// A webhook to add: where alerts are POSTed, and which.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewWebhook {
    /// An http or https URL on the public internet.
    #[cfg_attr(
        feature = "ssr",
        schema(example = "https://alerts.example.com/keywarden")
    )]
    pub url: String,
    /// The alert types to send; omitted: every type.
    pub events: Option<Vec<String>>,
}

/// A webhook as listed: never its secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
}

/// A webhook just added: the only time its signing secret is shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookCreated {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    /// Verifies `Keywarden-Signature` (the HMAC key is this text as it is); shown this once.
    pub secret: String,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for WebhookCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookCreated")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// Whether the account's alerts also go by email.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EmailAlerts {
    /// Whether this server sends email at all (its operator configured SMTP).
    pub available: bool,
    /// Whether the account wants them (on by default).
    pub enabled: bool,
    /// Where they go: the account's email.
    pub address: String,
}

/// A change of the account's email alerts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct EmailAlertsChange {
    pub enabled: bool,
}

/// A test alert queued for one webhook.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookTestQueued {
    /// The alert's id, as the receiver will see it.
    pub event_id: String,
}

/// One try to deliver an alert to a webhook, newest first in the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WebhookDeliveryView {
    /// The alert's id, as the receiver saw it (`evt_...`).
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `delivered`, `retrying` (this try failed; another follows) or `failed` (given up).
    pub status: String,
    /// The receiver's HTTP status; null when none came.
    pub response_code: Option<u16>,
    /// Why the try failed, in words.
    pub error: Option<String>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub attempted_at: DateTime<Utc>,
}
