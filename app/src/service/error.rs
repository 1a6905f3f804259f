use crate::exchange::{self, ExchangeError};
use crate::model::{Environment, ErrorBody};
use crate::store::StoreError;

/// Every way an operation can fail, with the HTTP status and code each adapter answers with.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("incorrect email or password")]
    InvalidCredentials,
    #[error("{0}")]
    NotAuthenticated(&'static str),
    #[error("this account is inactive")]
    InactiveUser,
    #[error("no account has this email")]
    UserNotFound,
    #[error("too many attempts; try again in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("the current password is not correct")]
    WrongPassword,
    #[error("no such session")]
    SessionNotFound,
    /// A cookie-authenticated change sent from another site.
    #[error("cross-site request refused")]
    CrossSite,
    #[error("you already have an API key; delete it before adding another")]
    ApiKeyExists,
    #[error("you have no API key")]
    ApiKeyNotFound,
    #[error("add an API key before creating a bot configuration")]
    NoApiKey,
    #[error("bot configuration not found")]
    BotConfigNotFound,
    #[error("bot token not found")]
    BotTokenNotFound,
    #[error("webhook not found")]
    WebhookNotFound,
    /// The URL is well formed but aims where webhooks may not go.
    #[error("{0}")]
    WebhookUrlRefused(String),
    #[error("an account has at most {max} webhooks; delete one first")]
    WebhookLimit { max: u32 },
    #[error("an account has at most {max} bot configurations; delete one first")]
    BotConfigLimit { max: i64 },
    /// Binance refused the key; its own code and message are passed on untouched.
    #[error("{message}")]
    BinanceRejected { code: i64, message: String },
    /// The key may withdraw or transfer funds (`named`, as Binance's API management names
    /// the permissions).
    #[error(
        "this key can move funds out of the account ({named}); disable {named} for it in \
         Binance's API management, then try again"
    )]
    MovesFunds { named: String, withdrawals: bool },
    #[error(
        "this key belongs to Binance's {right}, not its {given}; add it with environment \"{right}\"",
        right = right.as_str(),
        given = given.as_str()
    )]
    WrongEnvironment {
        given: Environment,
        right: Environment,
    },
    #[error("Binance could not be reached or answered unexpectedly; try again later")]
    ExchangeUnavailable,
    #[error("Binance did not answer in time; try again later")]
    ExchangeTimeout,
    #[error("Binance's rate limit is reached; try again in {retry_after_secs} s")]
    ExchangeRateLimited { retry_after_secs: u64 },
    #[error(
        "your account has made as many Binance calls this minute as one account may; try again \
         in {retry_after_secs} s"
    )]
    BinanceQuota { retry_after_secs: u64 },
    #[error("Binance has temporarily banned this server's IP; try again in {retry_after_secs} s")]
    ExchangeBanned { retry_after_secs: u64 },
    /// The stored ciphertexts cannot be opened with the configured keys, or belong to another
    /// row. Logged loudly for the operator; the user learns no more.
    #[error("your stored key cannot be read by this server; the operator has been alerted")]
    StoredKeyUnreadable,
    #[error("the code is not correct, or was already used")]
    InvalidCode,
    #[error(
        "this change needs a fresh code from your authenticator app: confirm with one \
         (POST /api/v1/auth/step-up), then try again"
    )]
    StepUpRequired,
    #[error(
        "this server requires a second factor: set one up (POST /api/v1/auth/2fa/setup) before \
         anything else"
    )]
    TwoFactorSetupRequired,
    #[error("the second factor is already on; turn it off before setting up another")]
    TwoFactorOn,
    #[error("no second factor is waiting to be confirmed; start with setup")]
    TwoFactorNotSetUp,
    #[error("the second factor is off")]
    TwoFactorOff,
    /// The cause has been logged where it happened; the caller learns nothing more.
    #[error("internal error")]
    Internal,
}

impl ServiceError {
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Invalid(_) => "validation_error",
            ServiceError::EmailTaken => "email_taken",
            ServiceError::InvalidCredentials => "invalid_credentials",
            ServiceError::NotAuthenticated(_) => "not_authenticated",
            ServiceError::InactiveUser => "inactive_user",
            ServiceError::UserNotFound => "user_not_found",
            ServiceError::TooManyAttempts { .. } => "too_many_attempts",
            ServiceError::WrongPassword => "wrong_password",
            ServiceError::SessionNotFound => "session_not_found",
            ServiceError::CrossSite => "cross_site_request",
            ServiceError::ApiKeyExists => "api_key_exists",
            ServiceError::ApiKeyNotFound => "api_key_not_found",
            ServiceError::NoApiKey => "no_api_key",
            ServiceError::BotConfigNotFound => "bot_config_not_found",
            ServiceError::BotTokenNotFound => "bot_token_not_found",
            ServiceError::WebhookNotFound => "webhook_not_found",
            ServiceError::WebhookUrlRefused(_) => "webhook_url_refused",
            ServiceError::WebhookLimit { .. } => "webhook_limit",
            ServiceError::BotConfigLimit { .. } => "bot_config_limit",
            ServiceError::BinanceRejected { .. } => "binance_rejected",
            ServiceError::MovesFunds {
                withdrawals: true, ..
            } => "withdrawals_enabled",
            ServiceError::MovesFunds { .. } => "transfers_enabled",
            ServiceError::WrongEnvironment { .. } => "wrong_environment",
            ServiceError::ExchangeUnavailable => "exchange_unavailable",
            ServiceError::ExchangeTimeout => "exchange_timeout",
            ServiceError::ExchangeRateLimited { .. } => "exchange_rate_limited",
            ServiceError::ExchangeBanned { .. } => "exchange_ip_banned",
            ServiceError::BinanceQuota { .. } => "binance_quota_exceeded",
            ServiceError::StoredKeyUnreadable => "stored_key_unreadable",
            ServiceError::InvalidCode => "invalid_code",
            ServiceError::StepUpRequired => "step_up_required",
            ServiceError::TwoFactorSetupRequired => "two_factor_setup_required",
            ServiceError::TwoFactorOn => "two_factor_enabled",
            ServiceError::TwoFactorNotSetUp => "two_factor_not_set_up",
            ServiceError::TwoFactorOff => "two_factor_disabled",
            ServiceError::Internal => "internal_error",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ServiceError::Invalid(_) | ServiceError::WebhookUrlRefused(_) => 422,
            ServiceError::EmailTaken
            | ServiceError::WebhookLimit { .. }
            | ServiceError::BotConfigLimit { .. } => 409,
            ServiceError::InvalidCredentials | ServiceError::NotAuthenticated(_) => 401,
            ServiceError::InactiveUser
            | ServiceError::CrossSite
            | ServiceError::StepUpRequired
            | ServiceError::TwoFactorSetupRequired => 403,
            ServiceError::InvalidCode => 400,
            ServiceError::TwoFactorOn
            | ServiceError::TwoFactorNotSetUp
            | ServiceError::TwoFactorOff => 409,
            ServiceError::TooManyAttempts { .. } | ServiceError::BinanceQuota { .. } => 429,
            ServiceError::WrongPassword => 400,
            ServiceError::SessionNotFound => 404,
            ServiceError::ApiKeyExists
            | ServiceError::NoApiKey
            | ServiceError::BinanceRejected { .. }
            | ServiceError::MovesFunds { .. }
            | ServiceError::WrongEnvironment { .. } => 400,
            ServiceError::ApiKeyNotFound
            | ServiceError::BotConfigNotFound
            | ServiceError::BotTokenNotFound
            | ServiceError::WebhookNotFound
            | ServiceError::UserNotFound => 404,
            ServiceError::ExchangeUnavailable => 502,
            ServiceError::ExchangeTimeout => 504,
            ServiceError::ExchangeRateLimited { .. } | ServiceError::ExchangeBanned { .. } => 503,
            ServiceError::StoredKeyUnreadable | ServiceError::Internal => 500,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            detail: self.to_string(),
            code: self.code().to_owned(),
            binance_code: match self {
                ServiceError::BinanceRejected { code, .. } => Some(*code),
                _ => None,
            },
            hint: match self {
                ServiceError::BinanceRejected { code, .. } => exchange::hint(*code).map(Into::into),
                _ => None,
            },
        }
    }

    /// Seconds a client should wait before trying again (`Retry-After`), where that is known.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ServiceError::ExchangeRateLimited { retry_after_secs }
            | ServiceError::ExchangeBanned { retry_after_secs }
            | ServiceError::TooManyAttempts { retry_after_secs }
            | ServiceError::BinanceQuota { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// Logs an unexpected failure and hides it from the caller.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!("{context}: {err}");
        ServiceError::Internal
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        ServiceError::internal("database", err)
    }
}

impl From<ExchangeError> for ServiceError {
    fn from(err: ExchangeError) -> Self {
        match err {
            ExchangeError::Rejected { code, message } => {
                ServiceError::BinanceRejected { code, message }
            }
            ExchangeError::Timeout => {
                tracing::warn!("Binance timed out");
                ServiceError::ExchangeTimeout
            }
            ExchangeError::RateLimited { retry_after } => {
                tracing::warn!("{err}");
                ServiceError::ExchangeRateLimited {
                    retry_after_secs: retry_after.as_secs().max(1),
                }
            }
            ExchangeError::Banned { retry_after } => {
                tracing::warn!("{err}");
                ServiceError::ExchangeBanned {
                    retry_after_secs: retry_after.as_secs().max(1),
                }
            }
            ExchangeError::Unavailable(_) | ExchangeError::InvalidResponse(_) => {
                tracing::warn!("{err}");
                ServiceError::ExchangeUnavailable
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_errors_keep_their_code_and_message() {
        let err = ServiceError::from(ExchangeError::Rejected {
            code: -2015,
            message: "Invalid API-key, IP, or permissions for action.".into(),
        });
        assert_eq!(err.status(), 400);
        let body = err.body();
        assert_eq!(body.code, "binance_rejected");
        assert_eq!(body.binance_code, Some(-2015));
        assert_eq!(
            body.detail,
            "Invalid API-key, IP, or permissions for action."
        );
        assert!(body.hint.unwrap().contains("IP addresses"));
    }

    #[test]
    fn upstream_faults_map_to_gateway_statuses() {
        assert_eq!(ServiceError::from(ExchangeError::Timeout).status(), 504);
        let garbage = ExchangeError::InvalidResponse("not json".into());
        assert_eq!(ServiceError::from(garbage).status(), 502);
        assert_eq!(ServiceError::Internal.body().binance_code, None);
        let banned = ServiceError::from(ExchangeError::Banned {
            retry_after: std::time::Duration::from_secs(120),
        });
        assert_eq!(
            (banned.status(), banned.retry_after_secs()),
            (503, Some(120))
        );
    }
}
