//! The signing gateway: a bot sends Binance-shaped requests with its token as the API key, and
//! Keywarden checks the token and the bot's policy, signs with the stored key, records every
//! order, and hands Binance's answer back. The secret never leaves; a refusal never reaches
//! Binance.

mod amount;
mod endpoints;
mod refusal;
mod refusal_alerts;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Duration as Span;
use reqwest::Method;

use super::audit::{Action, ClientInfo};
use super::keys::PAUSED_FOR_FUNDS;
use super::sessions::{random_token, token_hash};
use super::{Keywarden, ServiceError};
use crate::exchange::{ExchangeError, Forward, Forwarded};
use crate::model::{Environment, OrderType};
use crate::store::{BotTokenGrant, NewAuditEvent};
use amount::Amount;
use endpoints::Endpoint;
pub use refusal::{Refusal, RefusalKind};

/// A bot's request as the HTTP adapter received it.
pub struct GatewayRequest<'a> {
    /// `X-MBX-APIKEY`: the bot token.
    pub token: Option<&'a str>,
    pub method: &'a str,
    /// Binance's path, such as `/api/v3/order`.
    pub path: &'a str,
    pub query: &'a str,
    /// A form-encoded body, or empty.
    pub body: &'a str,
    pub client: &'a ClientInfo,
}

/// How long a price read for a MARKET order's size is reused. An order that finds it older,
/// but not twice as old, is sized at it while one request reads the next behind it: when each
/// order that found it old read it again, the reads piled up on each other every second (paced
/// real orders: 1 % of them over 5 ms, against 0.5 % with the price never read again).
const PRICE_FRESH_FOR: Duration = Duration::from_secs(1);
/// A token's last use is written at most this often.
const NOTE_USE_EVERY_SECS: i64 = 60;

/// What the gateway keeps in memory: symbols' last prices (per environment, read at most once
/// a second) and each bot's requests by kind, for the metrics.
#[derive(Default)]
pub struct GatewayState {
    prices: Mutex<HashMap<(Environment, String), PriceSlot>>,
    requests: Mutex<BTreeMap<(i64, &'static str), u64>>,
    /// Per stored key (a Binance account): the 10-second window of its last order answer and
    /// the order count Binance reported for it (`X-MBX-ORDER-COUNT-10S`).
    order_counts: Mutex<HashMap<i64, (i64, u64)>>,
    refusal_alerts: refusal_alerts::RefusalAlerts,
}

/// A symbol's last price, and the turn to read the next: one read at a time.
#[derive(Default)]
struct PriceSlot {
    last: Option<(Instant, Amount)>,
    reading: Arc<tokio::sync::Mutex<()>>,
}

/// Binance's spot limit on orders per account per 10 seconds (`ORDERS`, `SECOND`, 10; the
/// fake exchange's too); the gateway holds an account's orders from 90 % of it until the
/// window ends, so no bot of it is refused by Binance or risks a ban.
const ORDERS_PER_10_SECONDS: u64 = 50;

/// The parameters of a request, query first, in order, without the client's own signing. A
/// parameter given twice is refused: the policy must judge the value Binance acts on, and the
/// two could tell different stories (a small quantity for the check, a large one for Binance).
fn params(query: &str, body: &str) -> Result<Vec<(String, String)>, Refusal> {
    let ours = |name: &str| matches!(name, "timestamp" | "recvWindow" | "signature");
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .chain(form_urlencoded::parse(body.as_bytes()))
        .filter(|(name, _)| !ours(name))
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    for (i, (name, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(Refusal::new(
                RefusalKind::DuplicateParameter,
                format!("the parameter {name} is given more than once"),
            ));
        }
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Keeps the request to the bot's symbol: a `symbol` must be it, a `symbols` list may hold
/// only it, and a request naming neither is given it.
fn scope_to_symbol(params: &mut Vec<(String, String)>, symbol: &str) -> Result<(), Refusal> {
    let elsewhere = |named: &str| {
        Refusal::new(
            RefusalKind::SymbolNotAllowed,
            format!("this bot trades {symbol} only, not {named}"),
        )
    };
    let mut named = false;
    for (name, value) in params.iter() {
        match name.as_str() {
            "symbol" => {
                if value != symbol {
                    return Err(elsewhere(value));
                }
                named = true;
            }
            "symbols" => {
                let list: Vec<String> =
                    serde_json::from_str(value).map_err(|_| elsewhere(value))?;
                if list.iter().any(|s| s != symbol) {
                    return Err(elsewhere(value));
                }
                named = true;
            }
            _ => {}
        }
    }
    if !named {
        params.push(("symbol".into(), symbol.into()));
    }
    Ok(())
}

/// What an order event records of the request (and, once known, of Binance's answer).
fn order_detail(
    bot: &str,
    params: &[(String, String)],
    forwarded: Option<&Forwarded>,
) -> serde_json::Value {
    let mut detail = serde_json::Map::new();
    detail.insert("bot".into(), bot.into());
    for (name, key) in [
        ("symbol", "symbol"),
        ("side", "side"),
        ("type", "type"),
        ("quantity", "quantity"),
        ("price", "price"),
        ("quoteOrderQty", "quote_order_qty"),
        ("newClientOrderId", "client_order_id"),
        ("origClientOrderId", "client_order_id"),
        ("orderId", "order_id"),
    ] {
        if let Some(value) = param(params, name) {
            detail.insert(key.into(), value.into());
        }
    }
    if let Some(forwarded) = forwarded {
        if let Some(code) = forwarded.binance_code() {
            detail.insert("binance_code".into(), code.into());
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Placed {
            order_id: Option<i64>,
        }
        if let Ok(Placed { order_id: Some(id) }) = serde_json::from_slice(&forwarded.body) {
            detail.insert("order_id".into(), id.into());
        }
    }
    serde_json::Value::Object(detail)
}

impl Keywarden {
    /// Answers a bot's request: Binance's own answer, or a refusal in Binance's error shape.
    /// Requests of a known bot are counted by kind: `read`, `order` (orders and cancels) or
    /// `refused`.
    pub async fn gateway(&self, request: GatewayRequest<'_>) -> Result<Forwarded, Refusal> {
        let grant = self.grant(request.token, request.client).await?;
        let endpoint = endpoints::allowed(request.method, request.path);
        let changes_orders = endpoint.is_some_and(Endpoint::changes_orders);
        let answer = self.answer(&grant, endpoint, request).await;
        let kind = match &answer {
            Err(_) => "refused",
            Ok(_) if changes_orders => "order",
            Ok(_) => "read",
        };
        let mut requests = (self.inner.gateway.requests.lock()).unwrap_or_else(|e| e.into_inner());
        *requests.entry((grant.bot_config_id, kind)).or_default() += 1;
        drop(requests);
        answer
    }

    /// How many requests each bot made through the gateway, by kind, since the start.
    pub fn gateway_requests(&self) -> Vec<((i64, &'static str), u64)> {
        let requests = self.inner.gateway.requests.lock();
        let requests = requests.unwrap_or_else(|e| e.into_inner());
        requests.iter().map(|(key, count)| (*key, *count)).collect()
    }

    async fn answer(
        &self,
        grant: &BotTokenGrant,
        endpoint: Option<Endpoint>,
        request: GatewayRequest<'_>,
    ) -> Result<Forwarded, Refusal> {
        let endpoint = endpoint.ok_or_else(|| {
            Refusal::new(
                RefusalKind::EndpointNotAllowed,
                format!(
                    "{} {} is not open to bots: Keywarden forwards spot trading and market \
                     data only",
                    request.method, request.path
                ),
            )
        })?;
        // A cancel is never held back, by this quota either.
        if (!endpoint.changes_orders() || endpoint.places_an_order())
            && let Err(ServiceError::BinanceQuota { retry_after_secs }) =
                self.within_binance_quota(grant.key.user_id)
        {
            let why = "this account has made as many Binance calls this minute as one account may \
                       on this server; retry next minute";
            return Err(
                Refusal::new(RefusalKind::BinanceQuota, why.into()).retry_after(retry_after_secs)
            );
        }
        let params = params(request.query, request.body).and_then(|mut params| {
            if endpoint.is_about_a_symbol() {
                scope_to_symbol(&mut params, &grant.symbol)?;
            }
            Ok(params)
        });
        let method = match request.method {
            "POST" => Method::POST,
            "DELETE" => Method::DELETE,
            _ => Method::GET,
        };
        if endpoint.changes_orders() {
            return self
                .forward_order(grant, endpoint, method, request, params)
                .await;
        }
        let params = params?;
        if endpoint.places_an_order() {
            self.check_order(grant, &params).await?;
        }
        self.forward(grant, endpoint, method, request.path, &params)
            .await
    }

    /// The token's grant, if the token works now.
    async fn grant(
        &self,
        token: Option<&str>,
        client: &ClientInfo,
    ) -> Result<BotTokenGrant, Refusal> {
        let token = token.filter(|t| !t.is_empty()).ok_or_else(|| {
            Refusal::new(
                RefusalKind::TokenMissing,
                "send the bot token as the API key (X-MBX-APIKEY)".into(),
            )
        })?;
        let grant = self
            .inner
            .store
            .find_bot_token_grant(&token_hash(token))
            .await
            .map_err(Refusal::from_store)?
            .ok_or_else(|| {
                Refusal::new(
                    RefusalKind::TokenUnknown,
                    "this bot token is not recognised".into(),
                )
            })?;
        let now = self.now();
        let refusal = |kind: RefusalKind, msg: &str| Err(Refusal::new(kind, msg.to_owned()));
        if grant.revoked_at.is_some() {
            return refusal(RefusalKind::TokenRevoked, "this bot token was revoked");
        }
        if grant.expires_at.is_some_and(|at| at <= now) {
            return refusal(RefusalKind::TokenExpired, "this bot token has expired");
        }
        if let Some(allowed) = &grant.allowed_ips
            && !client
                .ip
                .as_deref()
                .and_then(|ip| ip.parse().ok())
                .is_some_and(|ip| crate::network::listed(allowed, ip))
        {
            return refusal(
                RefusalKind::AddressNotAllowed,
                "this bot token does not work from this address",
            );
        }
        if !grant.user_is_active {
            return refusal(
                RefusalKind::AccountInactive,
                "the bot's account is inactive",
            );
        }
        if !grant.key_is_valid {
            return refusal(
                RefusalKind::KeyUnusable,
                "Binance refused the account's key at its last check; its owner must replace it",
            );
        }
        if grant.key_environment != grant.token_environment {
            return refusal(
                RefusalKind::KeyUnusable,
                "the account's key was replaced by one of the other Binance environment; \
                 issue a new token",
            );
        }
        if !grant.policy.enabled {
            return refusal(
                RefusalKind::BotDisabled,
                "this bot is disabled by its owner",
            );
        }
        if grant.bots_paused_at.is_some() {
            let why = match grant.bots_paused_reason.as_deref() {
                Some(PAUSED_FOR_FUNDS) => {
                    "every bot of this account is paused: its Binance key gained a permission \
                     that moves funds; its owner must switch it off and check the key again"
                }
                _ => "every bot of this account is paused by its owner",
            };
            return refusal(RefusalKind::BotsPaused, why);
        }
        if grant
            .last_used_at
            .is_none_or(|at| (now - at).num_seconds() >= NOTE_USE_EVERY_SECS)
        {
            (self.inner.store).note_bot_token_use(grant.token_id, now, client.ip.as_deref());
        }
        Ok(grant)
    }

    /// The bot's policy for an order: its type, and its size in the quote asset.
    async fn check_order(
        &self,
        grant: &BotTokenGrant,
        params: &[(String, String)],
    ) -> Result<(), Refusal> {
        let order_type = param(params, "type").unwrap_or_default();
        let allowed =
            OrderType::parse(order_type).is_some_and(|t| grant.policy.order_types.contains(&t));
        if !allowed {
            let names: Vec<&str> = grant
                .policy
                .order_types
                .iter()
                .map(|t| t.as_str())
                .collect();
            return Err(Refusal::new(
                RefusalKind::OrderTypeNotAllowed,
                format!(
                    "order type {order_type:?} is not allowed for this bot (allowed: {})",
                    names.join(", ")
                ),
            ));
        }
        let Some(limit) = grant.policy.max_order_notional.as_deref() else {
            return Ok(());
        };
        let limit = Amount::parse(limit)
            .ok_or_else(|| Refusal::internal(ServiceError::internal("a stored notional", limit)))?;
        let amount = |name: &str| param(params, name).and_then(Amount::parse);
        let size_unknown = || {
            Refusal::new(
                RefusalKind::OrderSizeUnknown,
                "the order's size cannot be told from its quantity, price or quoteOrderQty".into(),
            )
        };
        let is_market = matches!(order_type, "MARKET" | "STOP_LOSS" | "TAKE_PROFIT");
        let within = match (is_market, amount("quoteOrderQty")) {
            (true, Some(quote)) => quote <= limit,
            (true, None) => {
                let quantity = amount("quantity").ok_or_else(size_unknown)?;
                let price = self
                    .current_price(grant.key_environment, &grant.symbol)
                    .await?;
                quantity.product_cmp(price, limit).is_le()
            }
            (false, _) => {
                let quantity = amount("quantity").ok_or_else(size_unknown)?;
                let price = amount("price").ok_or_else(size_unknown)?;
                quantity.product_cmp(price, limit).is_le()
            }
        };
        if !within {
            return Err(Refusal::new(
                RefusalKind::OrderTooLarge,
                format!(
                    "the order is larger than this bot's limit of {} {} in the quote asset",
                    grant
                        .policy
                        .max_order_notional
                        .as_deref()
                        .unwrap_or_default(),
                    grant.symbol
                ),
            ));
        }
        Ok(())
    }

    /// Refuses an order while its account has used 90 % of Binance's orders for this 10-second
    /// window, as Binance last reported; every bot of the account shares the count.
    fn within_order_count(&self, grant: &BotTokenGrant, endpoint: Endpoint) -> Result<(), Refusal> {
        if !endpoint.places_an_order() {
            // A cancel is never held back: it is what a bot needs most when things go wrong.
            return Ok(());
        }
        let now = self.now().timestamp();
        let counts = self.inner.gateway.order_counts.lock();
        let counts = counts.unwrap_or_else(|e| e.into_inner());
        match counts.get(&grant.key.id) {
            Some((window, count))
                if *window == now / 10 && *count >= ORDERS_PER_10_SECONDS * 9 / 10 =>
            {
                Err(Refusal::new(
                    RefusalKind::ExchangeBusy,
                    "this Binance account has placed nearly as many orders as Binance allows \
                     in 10 seconds; retry when the window ends"
                        .into(),
                )
                .retry_after((10 - now.rem_euclid(10)).max(1) as u64))
            }
            _ => Ok(()),
        }
    }

    fn note_order_count(&self, grant: &BotTokenGrant, forwarded: &Forwarded) {
        let reported = forwarded
            .headers
            .iter()
            .find(|(name, _)| name.as_str() == "x-mbx-order-count-10s")
            .and_then(|(_, value)| value.to_str().ok()?.parse::<u64>().ok());
        if let Some(count) = reported {
            let window = self.now().timestamp() / 10;
            let counts = self.inner.gateway.order_counts.lock();
            let mut counts = counts.unwrap_or_else(|e| e.into_inner());
            counts.insert(grant.key.id, (window, count));
        }
    }

    /// The symbol's last price, from the exchange at most once a second, one read at a time.
    async fn current_price(
        &self,
        environment: Environment,
        symbol: &str,
    ) -> Result<Amount, Refusal> {
        let cache_key = (environment, symbol.to_owned());
        let (last, reading) = self.price_slot(&cache_key);
        match last {
            Some((read_at, price)) if read_at.elapsed() < PRICE_FRESH_FOR => return Ok(price),
            Some((read_at, price)) if read_at.elapsed() < 2 * PRICE_FRESH_FOR => {
                if let Ok(turn) = reading.try_lock_owned() {
                    let gateway = self.clone();
                    tokio::spawn(async move {
                        if let Err(refusal) = gateway.read_price(&cache_key).await {
                            tracing::warn!(symbol = %cache_key.1, "no price read: {}", refusal.msg);
                        }
                        drop(turn);
                    });
                }
                return Ok(price);
            }
            _ => {}
        }
        let _turn = reading.lock().await;
        // Read by the request that had the turn before.
        if let (Some((read_at, price)), _) = self.price_slot(&cache_key)
            && read_at.elapsed() < PRICE_FRESH_FOR
        {
            return Ok(price);
        }
        self.read_price(&cache_key).await
    }

    fn price_slot(
        &self,
        cache_key: &(Environment, String),
    ) -> (Option<(Instant, Amount)>, Arc<tokio::sync::Mutex<()>>) {
        let mut prices = (self.inner.gateway.prices.lock()).unwrap_or_else(|e| e.into_inner());
        let slot = prices.entry(cache_key.clone()).or_default();
        (slot.last, Arc::clone(&slot.reading))
    }

    async fn read_price(&self, cache_key: &(Environment, String)) -> Result<Amount, Refusal> {
        let (environment, symbol) = cache_key;
        let params = [("symbol".to_owned(), symbol.clone())];
        let request = Forward {
            method: Method::GET,
            path: "/api/v3/ticker/price",
            params: &params,
            key: None,
            may_retry: true,
        };
        let answer = self
            .inner
            .exchange
            .forward(*environment, &request, self.now())
            .await
            .map_err(Refusal::from_exchange)?;
        #[derive(serde::Deserialize)]
        struct Ticker {
            price: String,
        }
        let price = serde_json::from_slice::<Ticker>(&answer.body)
            .ok()
            .and_then(|t| Amount::parse(&t.price))
            .ok_or_else(|| {
                Refusal::from_exchange(ExchangeError::InvalidResponse(
                    "no price for the symbol".into(),
                ))
            })?;
        let mut prices = (self.inner.gateway.prices.lock()).unwrap_or_else(|e| e.into_inner());
        prices.entry(cache_key.clone()).or_default().last = Some((Instant::now(), price));
        Ok(price)
    }

    /// Signs (for a signed endpoint) with the stored key and sends the request.
    async fn forward(
        &self,
        grant: &BotTokenGrant,
        endpoint: Endpoint,
        method: Method,
        path: &str,
        params: &[(String, String)],
    ) -> Result<Forwarded, Refusal> {
        let now = self.now();
        let exchange = &self.inner.exchange;
        let may_retry = !endpoint.changes_orders();
        let answer = if endpoint.is_signed() {
            self.with_stored_pair(&grant.key, async |pair| {
                let request = Forward {
                    method,
                    path,
                    params,
                    key: Some(&pair),
                    may_retry,
                };
                exchange.forward(grant.key_environment, &request, now).await
            })
            .await
            .map_err(Refusal::internal)?
        } else {
            let request = Forward {
                method,
                path,
                params,
                key: None,
                may_retry,
            };
            exchange.forward(grant.key_environment, &request, now).await
        };
        answer.map_err(Refusal::from_exchange)
    }

    /// An order, a cancel or a cancel-replace: checked, recorded before it leaves (so none
    /// reaches Binance unrecorded), sent once, and its outcome recorded behind the answer.
    async fn forward_order(
        &self,
        grant: &BotTokenGrant,
        endpoint: Endpoint,
        method: Method,
        request: GatewayRequest<'_>,
        params: Result<Vec<(String, String)>, Refusal>,
    ) -> Result<Forwarded, Refusal> {
        let action = if endpoint.places_an_order() {
            Action::OrderPlace
        } else {
            Action::OrderCancel
        };
        // A request refused for its parameters is recorded too, with what can be told of it.
        let (mut params, refused) = match params {
            Ok(params) => (params, None),
            Err(refusal) => (Vec::new(), Some(refusal)),
        };
        if refused.is_none()
            && endpoint.places_an_order()
            && param(&params, "newClientOrderId").is_none()
        {
            // Without one, an order whose answer was lost could not be looked up.
            params.push((
                "newClientOrderId".into(),
                format!("kw-{}", random_token(16)),
            ));
        }
        let store = &self.inner.store;
        let (user_id, key_id) = (grant.key.user_id, grant.key.id);
        // Everything but the attempt is committed behind the answer (the store's order journal).
        let record_behind = |outcome: &'static str,
                             error_code: Option<&'static str>,
                             forwarded: Option<&Forwarded>| {
            let detail = order_detail(&grant.bot_name, &params, forwarded).to_string();
            let event = NewAuditEvent {
                outcome,
                error_code,
                bot_config_id: Some(grant.bot_config_id),
                detail: Some(&detail),
                ..self.event(request.client, action)
            };
            store.append_order_event_behind(user_id, key_id, &event);
        };
        let refused = match refused {
            Some(refusal) => Some(refusal),
            None if endpoint.places_an_order() => self.check_order(grant, &params).await.err(),
            None => None,
        };
        if let Some(refusal) = refused {
            record_behind("failure", Some(refusal.kind.name()), None);
            self.watch_refusals(grant);
            return Err(refusal);
        }
        let detail = order_detail(&grant.bot_name, &params, None).to_string();
        let attempt = NewAuditEvent {
            outcome: "attempt",
            bot_config_id: Some(grant.bot_config_id),
            detail: Some(&detail),
            ..self.event(request.client, action)
        };
        // Only orders placed count against the bot's rate.
        let window_start = endpoint
            .places_an_order()
            .then(|| self.now() - Span::minutes(1));
        let recent = store
            .append_order_attempt(user_id, key_id, &attempt, window_start)
            .await
            .map_err(Refusal::from_store)?;
        if recent.is_some_and(|recent| recent > grant.policy.orders_per_minute) {
            let refusal = Refusal::new(
                RefusalKind::OrderRateLimited,
                format!(
                    "this bot may place {} orders a minute",
                    grant.policy.orders_per_minute
                ),
            )
            .retry_after(60);
            record_behind("failure", Some(refusal.kind.name()), None);
            self.watch_refusals(grant);
            return Err(refusal);
        }
        if let Err(refusal) = self.within_order_count(grant, endpoint) {
            record_behind("failure", Some(refusal.kind.name()), None);
            self.watch_refusals(grant);
            return Err(refusal);
        }
        match self
            .forward(grant, endpoint, method, request.path, &params)
            .await
        {
            Ok(forwarded) => {
                self.note_order_count(grant, &forwarded);
                let outcome = if forwarded.status < 300 {
                    "success"
                } else {
                    "failure"
                };
                let code = (forwarded.status >= 300).then_some("binance_rejected");
                record_behind(outcome, code, Some(&forwarded));
                Ok(forwarded)
            }
            Err(refusal) if refusal.kind == RefusalKind::OutcomeUnknown => {
                record_behind("unknown", Some(refusal.kind.name()), None);
                let client_order_id = param(&params, "newClientOrderId")
                    .or(param(&params, "origClientOrderId"))
                    .unwrap_or("(none)");
                Err(Refusal::new(
                    RefusalKind::OutcomeUnknown,
                    format!(
                        "Binance did not answer in time, so the request may have been carried \
                         out: look the order up by its client order id {client_order_id} \
                         before sending it again"
                    ),
                ))
            }
            Err(refusal) => {
                record_behind("failure", Some(refusal.kind.name()), None);
                Err(refusal)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_own_signing_is_dropped_and_the_rest_kept_in_order() {
        let found = params(
            "symbol=BTCUSDT&timestamp=1&signature=abc",
            "side=BUY&recvWindow=5000&quantity=0.1",
        )
        .unwrap();
        let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["symbol", "side", "quantity"]);
        let twice = params("quantity=0.001", "quantity=100").unwrap_err();
        assert_eq!(twice.kind, RefusalKind::DuplicateParameter);
    }

    #[test]
    fn requests_are_kept_to_the_bots_symbol() {
        let mut none = vec![];
        scope_to_symbol(&mut none, "BTCUSDT").unwrap();
        assert_eq!(none, [("symbol".to_owned(), "BTCUSDT".to_owned())]);
        let mut other = vec![("symbol".to_owned(), "ETHUSDT".to_owned())];
        let refused = scope_to_symbol(&mut other, "BTCUSDT").unwrap_err();
        assert_eq!(refused.kind, RefusalKind::SymbolNotAllowed);
        let mut listed = vec![("symbols".to_owned(), r#"["BTCUSDT"]"#.to_owned())];
        scope_to_symbol(&mut listed, "BTCUSDT").unwrap();
        assert_eq!(listed.len(), 1);
        let mut two = vec![("symbols".to_owned(), r#"["BTCUSDT","ETHUSDT"]"#.to_owned())];
        assert!(scope_to_symbol(&mut two, "BTCUSDT").is_err());
    }
}
