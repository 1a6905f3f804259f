//! The Binance spot REST client: signs requests and turns Binance's answers into typed results.
//! It knows nothing of users, storage or HTTP routes.

mod binance;
mod signing;

pub use binance::{Account, Exchange, ExchangeError, ExchangeSettings, KeyCheck, KeyPair};
pub use signing::{KeyFormatError, Signer, sign_hmac_sha256};
