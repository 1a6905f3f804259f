//! The gateway's own errors, answered in Binance's error shape (`{"code", "msg"}`) with
//! Keywarden's codes (-7001 and down; Binance's spot API uses none of them), so a client
//! library raises them as the exchange's errors with our message.

use crate::exchange::ExchangeError;
use crate::service::ServiceError;
use crate::store::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    TokenMissing,
    TokenUnknown,
    TokenRevoked,
    TokenExpired,
    AddressNotAllowed,
    AccountInactive,
    KeyUnusable,
    BotDisabled,
    BotsPaused,
    EndpointNotAllowed,
    SymbolNotAllowed,
    OrderTypeNotAllowed,
    OrderTooLarge,
    OrderSizeUnknown,
    DuplicateParameter,
    OrderRateLimited,
    ExchangeBusy,
    ExchangeUnavailable,
    OutcomeUnknown,
    Internal,
    /// The account's share of this instance's Binance calls this minute is spent.
    BinanceQuota,
}

impl RefusalKind {
    /// Every kind, in code order (the README's table is checked against this list); a new kind
    /// goes at the end, so no code changes meaning.
    pub const ALL: [RefusalKind; 21] = [
        RefusalKind::TokenMissing,
        RefusalKind::TokenUnknown,
        RefusalKind::TokenRevoked,
        RefusalKind::TokenExpired,
        RefusalKind::AddressNotAllowed,
        RefusalKind::AccountInactive,
        RefusalKind::KeyUnusable,
        RefusalKind::BotDisabled,
        RefusalKind::BotsPaused,
        RefusalKind::EndpointNotAllowed,
        RefusalKind::SymbolNotAllowed,
        RefusalKind::OrderTypeNotAllowed,
        RefusalKind::OrderTooLarge,
        RefusalKind::OrderSizeUnknown,
        RefusalKind::OrderRateLimited,
        RefusalKind::ExchangeBusy,
        RefusalKind::ExchangeUnavailable,
        RefusalKind::OutcomeUnknown,
        RefusalKind::Internal,
        RefusalKind::DuplicateParameter,
        RefusalKind::BinanceQuota,
    ];

    /// The code in the answer's body.
    pub fn code(self) -> i64 {
        -7001
            - RefusalKind::ALL
                .iter()
                .position(|k| *k == self)
                .unwrap_or(0) as i64
    }

    /// 401 for a token that does not (or no longer) work, 403 for what the policy forbids,
    /// 429 for a rate, 5xx for Binance's faults and ours.
    pub fn status(self) -> u16 {
        use RefusalKind::*;
        match self {
            TokenMissing | TokenUnknown | TokenRevoked | TokenExpired | AddressNotAllowed
            | AccountInactive | KeyUnusable | BotDisabled | BotsPaused => 401,
            EndpointNotAllowed | SymbolNotAllowed | OrderTypeNotAllowed | OrderTooLarge
            | OrderSizeUnknown | DuplicateParameter => 403,
            OrderRateLimited | ExchangeBusy | BinanceQuota => 429,
            ExchangeUnavailable => 502,
            OutcomeUnknown => 504,
            Internal => 500,
        }
    }

    /// The snake_case name the audit trail records.
    pub fn name(self) -> &'static str {
        use RefusalKind::*;
        match self {
            TokenMissing => "token_missing",
            TokenUnknown => "token_unknown",
            TokenRevoked => "token_revoked",
            TokenExpired => "token_expired",
            AddressNotAllowed => "address_not_allowed",
            AccountInactive => "account_inactive",
            KeyUnusable => "key_unusable",
            BotDisabled => "bot_disabled",
            BotsPaused => "bots_paused",
            EndpointNotAllowed => "endpoint_not_allowed",
            SymbolNotAllowed => "symbol_not_allowed",
            OrderTypeNotAllowed => "order_type_not_allowed",
            OrderTooLarge => "order_too_large",
            OrderSizeUnknown => "order_size_unknown",
            DuplicateParameter => "duplicate_parameter",
            OrderRateLimited => "order_rate_limited",
            ExchangeBusy => "exchange_busy",
            ExchangeUnavailable => "exchange_unavailable",
            OutcomeUnknown => "outcome_unknown",
            Internal => "internal_error",
            BinanceQuota => "binance_quota_exceeded",
        }
    }
}

/// Why the gateway answered itself instead of passing Binance's answer on.
#[derive(Debug)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub msg: String,
    pub retry_after_secs: Option<u64>,
}

impl Refusal {
    pub fn new(kind: RefusalKind, msg: String) -> Self {
        Refusal {
            kind,
            msg,
            retry_after_secs: None,
        }
    }

    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// A fault of ours; its message is the service's, which names no secret.
    pub fn internal(err: ServiceError) -> Self {
        Refusal::new(RefusalKind::Internal, err.to_string())
    }

    /// A store fault, logged where the service logs them, answered as ours.
    pub fn from_store(err: StoreError) -> Self {
        Refusal::internal(ServiceError::from(err))
    }

    pub fn from_exchange(err: ExchangeError) -> Self {
        match err {
            ExchangeError::Timeout => Refusal::new(
                RefusalKind::OutcomeUnknown,
                "Binance did not answer in time".into(),
            ),
            ExchangeError::RateLimited { retry_after } | ExchangeError::Banned { retry_after } => {
                Refusal::new(
                    RefusalKind::ExchangeBusy,
                    "Binance's request budget for this server is spent; retry later".into(),
                )
                .retry_after(retry_after.as_secs().max(1))
            }
            ExchangeError::Unavailable(_)
            | ExchangeError::InvalidResponse(_)
            | ExchangeError::Rejected { .. } => {
                tracing::warn!("the gateway could not reach Binance: {err}");
                Refusal::new(
                    RefusalKind::ExchangeUnavailable,
                    "Binance could not be reached or answered unexpectedly".into(),
                )
            }
        }
    }

    /// The body Binance would send: `{"code": -7011, "msg": "..."}`.
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({"code": self.kind.code(), "msg": self.msg})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_keywardens_own_and_distinct() {
        let codes: Vec<i64> = RefusalKind::ALL.iter().map(|k| k.code()).collect();
        assert_eq!(codes.first(), Some(&-7001));
        assert_eq!(codes.last(), Some(&-7021));
        let mut unique = codes.clone();
        unique.dedup();
        assert_eq!(unique, codes);
        assert_eq!(RefusalKind::TokenRevoked.status(), 401);
        assert_eq!(RefusalKind::OrderTooLarge.status(), 403);
        assert_eq!(RefusalKind::OrderRateLimited.status(), 429);
    }
}
