//! The Binance spot REST client: signs requests and turns Binance's answers into typed results
//! (`binance`), and the one place Binance's error codes are understood (`errors`). It knows
//! nothing of users, storage or HTTP routes.

mod binance;
mod errors;
mod forward;
mod signing;

pub use binance::{
    Account, ApiRestrictions, Balance, Exchange, ExchangeSettings, KeyCheck, KeyPair,
};
pub use errors::{ExchangeError, hint};
pub use forward::{Forward, Forwarded};
pub use signing::{KeyFormatError, Signer, sign_hmac_sha256};
