//! Binance's error codes and what each means for a stored key: the one place where a -2015
//! (or any other code) is understood. Codes as in Binance's spot API documents (errors.md).

use std::time::Duration;

/// How a call to Binance failed.
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

/// -1021 INVALID_TIMESTAMP: our clock and Binance's disagree by more than `recvWindow`.
const INVALID_TIMESTAMP: i64 = -1021;
/// -1022 INVALID_SIGNATURE: the secret does not belong to the API key.
const INVALID_SIGNATURE: i64 = -1022;
/// -2014 BAD_API_KEY_FMT: the API key is malformed.
const BAD_API_KEY_FORMAT: i64 = -2014;
/// -2015 REJECTED_MBX_KEY: unknown or disabled key, a key without the permission, or a call
/// from an address the key's IP list does not hold.
const REJECTED_KEY: i64 = -2015;

impl ExchangeError {
    /// Binance's code, when Binance refused the request itself.
    pub fn binance_code(&self) -> Option<i64> {
        match self {
            ExchangeError::Rejected { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether Binance says the key pair itself does not work (deleted, disabled, malformed,
    /// or its secret no longer matches), as opposed to a fault worth trying again.
    pub fn refuses_key(&self) -> bool {
        matches!(
            self.binance_code(),
            Some(REJECTED_KEY | BAD_API_KEY_FORMAT | INVALID_SIGNATURE)
        )
    }

    /// Whether the key may simply belong to the other environment: Binance answers an unknown
    /// key with -2015, and a testnet key is unknown to mainnet (and the reverse).
    pub fn may_be_other_environment(&self) -> bool {
        self.binance_code() == Some(REJECTED_KEY)
    }

    pub(super) fn is_clock_skew(&self) -> bool {
        self.binance_code() == Some(INVALID_TIMESTAMP)
    }
}

/// What a person should check when Binance refuses a key with `code`: Binance's own messages
/// are terse and cover several causes.
pub fn hint(code: i64) -> Option<&'static str> {
    match code {
        REJECTED_KEY => Some(
            "Check that the API key is copied whole and still enabled, that it allows reading, \
             and, if it is restricted to IP addresses, that this server's address is on its list.",
        ),
        BAD_API_KEY_FORMAT => {
            Some("The API key is malformed: copy it again from Binance's API management.")
        }
        INVALID_SIGNATURE => Some(
            "The secret key does not belong to this API key: copy both again, or for Ed25519 and \
             RSA keys paste the private key that matches the public key you registered.",
        ),
        INVALID_TIMESTAMP => {
            Some("This server's clock disagrees with Binance's; try again in a minute.")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(code: i64) -> ExchangeError {
        ExchangeError::Rejected {
            code,
            message: String::new(),
        }
    }

    #[test]
    fn codes_that_mean_the_key_no_longer_works() {
        for code in [-2015, -2014, -1022] {
            assert!(rejected(code).refuses_key(), "{code}");
            assert!(hint(code).is_some(), "{code}");
        }
        for code in [-1021, -1003, -1100] {
            assert!(!rejected(code).refuses_key(), "{code}");
        }
        assert!(!ExchangeError::Timeout.refuses_key());
    }

    #[test]
    fn only_an_unknown_key_may_belong_to_the_other_environment() {
        assert!(rejected(-2015).may_be_other_environment());
        assert!(!rejected(-1022).may_be_other_environment());
        assert!(!ExchangeError::Unavailable("down".into()).may_be_other_environment());
    }

    #[test]
    fn clock_skew_is_recognised() {
        assert!(rejected(-1021).is_clock_skew());
        assert!(hint(-1021).unwrap().contains("clock"));
        assert!(!rejected(-2015).is_clock_skew());
    }
}
