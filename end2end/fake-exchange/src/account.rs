//! Accounts: the key that signs for them, their balances and key permissions, and the
//! endpoints that read them (`GET /api/v3/account`, `GET /sapi/v1/account/apiRestrictions`).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::signature::{Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::json;

use crate::auth::Credential;
use crate::decimal::Amount;
use crate::limits::OrderCount;
use crate::orders::{Order, Trade};
use crate::request::ApiRequest;
use crate::{Inner, Security, now_ms};

/// What `GET /sapi/v1/account/apiRestrictions` reports.
#[derive(Clone, Debug)]
pub struct Restrictions {
    pub ip_restrict: bool,
    pub enable_reading: bool,
    /// Also what lets the key place and cancel orders.
    pub enable_spot_and_margin_trading: bool,
    pub enable_withdrawals: bool,
    pub enable_futures: bool,
    pub enable_margin: bool,
    pub enable_internal_transfer: bool,
    pub permits_universal_transfer: bool,
    pub enable_vanilla_options: bool,
}

impl Default for Restrictions {
    fn default() -> Self {
        Self {
            ip_restrict: false,
            enable_reading: true,
            enable_spot_and_margin_trading: true,
            enable_withdrawals: false,
            enable_futures: false,
            enable_margin: false,
            enable_internal_transfer: false,
            permits_universal_transfer: false,
            enable_vanilla_options: false,
        }
    }
}

/// One asset of an account: `free` to use, `locked` reserved (by open orders, among others).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Balance {
    pub asset: String,
    pub free: Amount,
    pub locked: Amount,
}

#[derive(Clone)]
pub struct Account {
    pub credential: Credential,
    /// In the order the account endpoint lists them.
    pub balances: Vec<Balance>,
    pub restrictions: Restrictions,
    /// When the key was created (ms); Binance's 30-day trading expiry counts from it.
    pub created_ms: i64,
}

impl Account {
    pub fn hmac(secret_key: &str) -> Self {
        Self::with(Credential::Hmac(secret_key.into()))
    }

    /// An Ed25519 or RSA account whose public key is taken from the PKCS#8 private key PEM.
    pub fn from_private_key_pem(pem: &str) -> Self {
        let der = pem_body(pem);
        let credential = match Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
            Ok(key) => Credential::Ed25519(key.public_key().as_ref().to_vec()),
            Err(_) => {
                let key = RsaKeyPair::from_pkcs8(&der).expect("an Ed25519 or RSA PKCS#8 key");
                Credential::Rsa(key.public_key().as_ref().to_vec())
            }
        };
        Self::with(credential)
    }

    fn with(credential: Credential) -> Self {
        let balance = |asset: &str, free: &str, locked: &str| Balance {
            asset: asset.into(),
            free: free.parse().expect("a valid amount"),
            locked: locked.parse().expect("a valid amount"),
        };
        Self {
            credential,
            // 0.1 BTC is locked outside the fake's order book (as by an order placed elsewhere).
            balances: vec![
                balance("BTC", "0.50000000", "0.10000000"),
                balance("ETH", "0.00000000", "0.00000000"),
                balance("USDT", "1000.00000000", "0.00000000"),
            ],
            restrictions: Restrictions::default(),
            created_ms: now_ms(),
        }
    }

    pub fn with_restrictions(mut self, restrictions: Restrictions) -> Self {
        self.restrictions = restrictions;
        self
    }

    /// Replaces the balances with these free amounts (nothing locked), e.g.
    /// `with_balances([("BTC", "1"), ("USDT", "100000")])`. Panics on an invalid amount.
    pub fn with_balances<'a>(mut self, free: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        self.balances = free
            .into_iter()
            .map(|(asset, amount)| Balance {
                asset: asset.into(),
                free: amount
                    .parse()
                    .unwrap_or_else(|_| panic!("invalid amount {amount:?} for {asset}")),
                locked: Amount::ZERO,
            })
            .collect();
        self
    }

    /// The balance of `asset`, added at zero if the account has none.
    pub(crate) fn balance_mut(&mut self, asset: &str) -> &mut Balance {
        let index = match self.balances.iter().position(|b| b.asset == asset) {
            Some(index) => index,
            None => {
                self.balances.push(Balance {
                    asset: asset.into(),
                    free: Amount::ZERO,
                    locked: Amount::ZERO,
                });
                self.balances.len() - 1
            }
        };
        &mut self.balances[index]
    }

    pub(crate) fn free(&self, asset: &str) -> Amount {
        self.balances
            .iter()
            .find(|b| b.asset == asset)
            .map_or(Amount::ZERO, |b| b.free)
    }
}

fn pem_body(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|line| !line.starts_with("-----"))
        .collect::<Vec<_>>()
        .join("");
    BASE64.decode(body.trim()).expect("PEM body is base64")
}

/// An account as the exchange holds it: its settings, its orders and trades.
pub(crate) struct AccountBook {
    pub account: Account,
    /// Every order, open or done, in the order placed.
    pub orders: Vec<Order>,
    pub trades: Vec<Trade>,
    pub order_count: OrderCount,
    /// Binance's `uid`.
    pub uid: i64,
    /// Every order before this index is closed (orders never reopen): scans of the open
    /// orders start here, so a long-lived account's closed history costs nothing.
    first_open: usize,
}

impl AccountBook {
    pub fn new(account: Account, uid: i64) -> Self {
        Self {
            account,
            orders: Vec::new(),
            trades: Vec::new(),
            order_count: OrderCount::default(),
            uid,
            first_open: 0,
        }
    }

    /// Where the open orders start (see `first_open`).
    pub fn first_open(&mut self) -> usize {
        while self
            .orders
            .get(self.first_open)
            .is_some_and(|order| !order.is_open())
        {
            self.first_open += 1;
        }
        self.first_open
    }
}

pub(crate) async fn account(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    inner.account_calls.fetch_add(1, Ordering::SeqCst);
    inner
        .serve_signed(
            "GET",
            "/api/v3/account",
            &request,
            Security::UserData,
            &["omitZeroBalances"],
            |state, api_key, params, now| {
                let book = &state.accounts[api_key];
                let account = &book.account;
                let omit_zero = params.get("omitZeroBalances") == Some("true");
                let balances: Vec<_> = account
                    .balances
                    .iter()
                    .filter(|b| !(omit_zero && b.free.is_zero() && b.locked.is_zero()))
                    .map(|b| json!({ "asset": b.asset, "free": b.free, "locked": b.locked }))
                    .collect();
                let rate = crate::orders::commission_rate();
                Ok(axum::Json(json!({
                    "makerCommission": crate::orders::COMMISSION_BASIS_POINTS,
                    "takerCommission": crate::orders::COMMISSION_BASIS_POINTS,
                    "buyerCommission": 0,
                    "sellerCommission": 0,
                    "commissionRates": {
                        "maker": rate,
                        "taker": rate,
                        "buyer": Amount::ZERO,
                        "seller": Amount::ZERO,
                    },
                    "canTrade": account.restrictions.enable_spot_and_margin_trading,
                    "canWithdraw": state.testnet || account.restrictions.enable_withdrawals,
                    "canDeposit": true,
                    "brokered": false,
                    "requireSelfTradePrevention": false,
                    "preventSor": false,
                    "accountType": "SPOT",
                    "updateTime": now,
                    "balances": balances,
                    "permissions": ["SPOT"],
                    "uid": book.uid,
                }))
                .into_response())
            },
        )
        .await
}

pub(crate) async fn api_restrictions(
    State(inner): State<Arc<Inner>>,
    request: ApiRequest,
) -> Response {
    inner
        .serve_signed(
            "GET",
            "/sapi/v1/account/apiRestrictions",
            &request,
            Security::UserData,
            &[],
            |state, api_key, _, _| {
                let account = &state.accounts[api_key].account;
                let r = &account.restrictions;
                let mut body = json!({
                    "ipRestrict": r.ip_restrict,
                    "createTime": account.created_ms,
                    "enableReading": r.enable_reading,
                    "enableSpotAndMarginTrading": r.enable_spot_and_margin_trading,
                    "enableWithdrawals": r.enable_withdrawals,
                    "enableInternalTransfer": r.enable_internal_transfer,
                    "enableMargin": r.enable_margin,
                    "enableFutures": r.enable_futures,
                    "permitsUniversalTransfer": r.permits_universal_transfer,
                    "enableVanillaOptions": r.enable_vanilla_options,
                    "enableFixApiTrade": false,
                    "enableFixReadOnly": false,
                    "enablePortfolioMarginTrading": false,
                });
                // Binance takes trading away from unrestricted keys 30 days after creation.
                if !r.ip_restrict && r.enable_spot_and_margin_trading {
                    body["tradingAuthorityExpirationTime"] =
                        json!(account.created_ms + 30 * 24 * 3600 * 1000);
                }
                Ok(axum::Json(body).into_response())
            },
        )
        .await
}
