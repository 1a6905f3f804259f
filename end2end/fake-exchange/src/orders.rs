//! Orders and trades: placement with Binance's validation (parameters, then the symbol's
//! filters, then the matching engine's checks), the account's balances moving on fills, and
//! the order endpoints.
//!
//! Incoming orders trade at the last price with unlimited liquidity; a LIMIT order that does
//! not reach the last price rests, its funds locked, until `set_price` moves the market to
//! its price, and then fills at its price.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::account::AccountBook;
use crate::decimal::{Amount, AmountError};
use crate::error::Rejection;
use crate::market::Market;
use crate::request::{ApiRequest, Params};
use crate::{Inner, Security, SharedState};

/// Maker and taker commission: 10 basis points (0.1%), Binance's standard spot rate.
pub(crate) const COMMISSION_BASIS_POINTS: i128 = 10;

pub(crate) fn commission_rate() -> Amount {
    Amount::whole(1).basis_points(COMMISSION_BASIS_POINTS)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderType {
    Limit,
    LimitMaker,
    Market,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeInForce {
    Gtc,
    Ioc,
    Fok,
}

/// Fills are always whole here, so there is no PARTIALLY_FILLED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    New,
    Filled,
    Canceled,
    Expired,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

impl OrderType {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Limit => "LIMIT",
            OrderType::LimitMaker => "LIMIT_MAKER",
            OrderType::Market => "MARKET",
        }
    }
}

impl TimeInForce {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
        }
    }
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::New => "NEW",
            OrderStatus::Filled => "FILLED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::Expired => "EXPIRED",
        }
    }
}

/// An order as the exchange holds it.
#[derive(Clone, Debug)]
pub struct Order {
    pub symbol: String,
    pub order_id: i64,
    pub client_order_id: String,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    /// Zero for a MARKET order.
    pub price: Amount,
    pub orig_qty: Amount,
    pub orig_quote_order_qty: Amount,
    pub executed_qty: Amount,
    pub cummulative_quote_qty: Amount,
    pub status: OrderStatus,
    pub time: i64,
    pub update_time: i64,
    /// What the order holds in `locked` while open: quote asset for a buy, base for a sell.
    pub reserved: Amount,
    base_asset: &'static str,
    quote_asset: &'static str,
}

impl Order {
    pub fn is_open(&self) -> bool {
        self.status == OrderStatus::New
    }

    fn reserved_asset(&self) -> &'static str {
        match self.side {
            Side::Buy => self.quote_asset,
            Side::Sell => self.base_asset,
        }
    }

    /// Whether a resting order trades when the market's last price is `price`.
    fn reached_by(&self, price: Amount) -> bool {
        match self.side {
            Side::Buy => price <= self.price,
            Side::Sell => price >= self.price,
        }
    }
}

/// One of the account's trades (a fill of one of its orders).
#[derive(Clone, Debug)]
pub struct Trade {
    pub symbol: String,
    pub id: i64,
    pub order_id: i64,
    pub price: Amount,
    pub qty: Amount,
    pub quote_qty: Amount,
    pub commission: Amount,
    pub commission_asset: String,
    pub time: i64,
    pub is_buyer: bool,
    pub is_maker: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    Ack,
    Result,
    Full,
}

/// A new order that passed the API's checks, ready for the matching engine.
struct NewOrder {
    symbol: &'static str,
    base_asset: &'static str,
    quote_asset: &'static str,
    max_num_orders: usize,
    side: Side,
    order_type: OrderType,
    time_in_force: TimeInForce,
    price: Amount,
    /// For a MARKET order by `quoteOrderQty`, what that buys at the last price.
    quantity: Amount,
    quote_order_qty: Amount,
    client_order_id: Option<String>,
    response_type: ResponseType,
}

const NEW_ORDER_PARAMS: [&str; 18] = [
    "symbol",
    "side",
    "type",
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "newClientOrderId",
    "strategyId",
    "strategyType",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
    "newOrderRespType",
    "selfTradePreventionMode",
    "pegPriceType",
    "pegOffsetValue",
    "pegOffsetType",
];

const CLIENT_ORDER_ID_RANGE: &str = r"^[\.A-Z\:/a-z0-9_-]{1,36}$";

fn client_order_id(params: &Params, name: &str) -> Result<Option<String>, Rejection> {
    let Some(id) = params.get(name) else {
        return Ok(None);
    };
    let legal = |c: char| c.is_ascii_alphanumeric() || ".:/_-".contains(c);
    if id.len() > 36 || !id.chars().all(legal) {
        return Err(Rejection::illegal_chars(name, CLIENT_ORDER_ID_RANGE));
    }
    Ok(Some(id.to_owned()))
}

fn decimal(params: &Params, name: &str) -> Result<Option<Amount>, Rejection> {
    params
        .get(name)
        .map(|text| {
            Amount::parse(text).map_err(|error| match error {
                AmountError::Malformed => {
                    Rejection::illegal_chars(name, r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
                }
                AmountError::TooPrecise => Rejection::bad_request(
                    -1111,
                    format!("Parameter '{name}' has too much precision."),
                ),
            })
        })
        .transpose()
}

/// The API's checks of a new order, in Binance's order: mandatory parameters and their
/// values, parameters the type does not take, then the symbol's filters.
fn validate(params: &Params, market: &Market) -> Result<NewOrder, Rejection> {
    let rules = market.rules_or_reject(params.require("symbol")?)?;
    let side = match params.require("side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        _ => return Err(Rejection::bad_request(-1117, "Invalid side.")),
    };
    let order_type = match params.require("type")? {
        "LIMIT" => OrderType::Limit,
        "LIMIT_MAKER" => OrderType::LimitMaker,
        "MARKET" => OrderType::Market,
        "STOP_LOSS" => {
            return Err(Rejection::order_rejected(
                "Stop loss orders are not supported for this symbol.",
            ));
        }
        "STOP_LOSS_LIMIT" => {
            return Err(Rejection::order_rejected(
                "Stop loss limit orders are not supported for this symbol.",
            ));
        }
        "TAKE_PROFIT" => {
            return Err(Rejection::order_rejected(
                "Take profit orders are not supported for this symbol.",
            ));
        }
        "TAKE_PROFIT_LIMIT" => {
            return Err(Rejection::order_rejected(
                "Take profit limit orders are not supported for this symbol.",
            ));
        }
        _ => return Err(Rejection::bad_request(-1116, "Invalid orderType.")),
    };
    let price = decimal(params, "price")?;
    let quantity = decimal(params, "quantity")?;
    let quote_order_qty = decimal(params, "quoteOrderQty")?;
    for name in ["stopPrice", "trailingDelta"] {
        if params.get(name).is_some() {
            return Err(Rejection::not_required(name));
        }
    }
    if params.get("icebergQty").is_some() {
        return Err(Rejection::order_rejected(
            "Iceberg orders are not supported for this symbol.",
        ));
    }
    if params.get("pegPriceType").is_some() {
        return Err(Rejection::order_rejected(
            "Pegged orders are not supported for this symbol.",
        ));
    }
    let time_in_force = match (order_type, params.get("timeInForce")) {
        (OrderType::Limit, None) => return Err(Rejection::mandatory("timeInForce")),
        (OrderType::Limit, Some(text)) => match text {
            "GTC" => TimeInForce::Gtc,
            "IOC" => TimeInForce::Ioc,
            "FOK" => TimeInForce::Fok,
            _ => return Err(Rejection::bad_request(-1115, "Invalid timeInForce.")),
        },
        (_, Some(_)) => return Err(Rejection::not_required("timeInForce")),
        (_, None) => TimeInForce::Gtc,
    };
    let client_order_id = client_order_id(params, "newClientOrderId")?;
    let response_type = match params.get("newOrderRespType") {
        None if order_type == OrderType::LimitMaker => ResponseType::Ack,
        None | Some("FULL") => ResponseType::Full,
        Some("RESULT") => ResponseType::Result,
        Some("ACK") => ResponseType::Ack,
        Some(_) => return Err(Rejection::mandatory("newOrderRespType")),
    };
    let last_price = market.price(rules.symbol);
    let (price, quantity) = match order_type {
        OrderType::Limit | OrderType::LimitMaker => {
            if quote_order_qty.is_some() {
                return Err(Rejection::not_required("quoteOrderQty"));
            }
            let quantity = quantity.ok_or_else(|| Rejection::mandatory("quantity"))?;
            let price = price.ok_or_else(|| Rejection::mandatory("price"))?;
            rules.check_price(price)?;
            rules.check_quantity(quantity, false)?;
            rules.check_notional(price.times(quantity), false)?;
            (price, quantity)
        }
        OrderType::Market => {
            if price.is_some() {
                return Err(Rejection::not_required("price"));
            }
            let quantity = match (quantity, quote_order_qty) {
                (None, None) => return Err(Rejection::one_of("quantity", "quoteOrderQty")),
                (Some(_), Some(_)) => return Err(Rejection::not_required("quoteOrderQty")),
                (Some(quantity), None) => {
                    rules.check_quantity(quantity, true)?;
                    rules.check_notional(last_price.times(quantity), true)?;
                    quantity
                }
                (None, Some(quote)) => {
                    rules.check_notional(quote, true)?;
                    // As much as the quote amount buys (or as little as fetches it) without
                    // breaking the lot sizes (rest-api.md, New order).
                    let quantity = quote
                        .divided_by(last_price)
                        .floor_to(rules.step_size)
                        .floor_to(rules.market_step_size);
                    rules.check_quantity(quantity, true)?;
                    quantity
                }
            };
            (Amount::ZERO, quantity)
        }
    };
    Ok(NewOrder {
        symbol: rules.symbol,
        base_asset: rules.base,
        quote_asset: rules.quote,
        max_num_orders: rules.max_num_orders,
        side,
        order_type,
        time_in_force,
        price,
        quantity,
        quote_order_qty: quote_order_qty.unwrap_or_default(),
        client_order_id,
        response_type,
    })
}

/// A client order id in Binance's style for orders and cancels sent without one.
fn generated_client_id(prefix: &str, id: i64) -> String {
    format!("{prefix}{id:0>width$}", width = 22 - prefix.len())
}

/// The matching engine: MAX_NUM_ORDERS, duplicate id, LIMIT_MAKER, funds; then the order
/// trades, rests or expires. Returns the order's index in the account's book.
fn place(
    state: &mut SharedState,
    api_key: &str,
    new: &NewOrder,
    now: i64,
) -> Result<usize, Rejection> {
    let last_price = state.market.price(new.symbol);
    let book = state
        .accounts
        .get_mut(api_key)
        .expect("authenticated account");
    let first_open = book.first_open();
    let open_orders = || book.orders[first_open..].iter().filter(|o| o.is_open());
    let open_on_symbol = open_orders().filter(|o| o.symbol == new.symbol).count();
    if open_on_symbol >= new.max_num_orders {
        return Err(Rejection::filter_failure("MAX_NUM_ORDERS"));
    }
    if let Some(id) = &new.client_order_id
        && open_orders().any(|o| o.client_order_id == *id)
    {
        return Err(Rejection::order_rejected("Duplicate order sent."));
    }
    let marketable = match (new.order_type, new.side) {
        (OrderType::Market, _) => true,
        (_, Side::Buy) => new.price >= last_price,
        (_, Side::Sell) => new.price <= last_price,
    };
    if new.order_type == OrderType::LimitMaker && marketable {
        return Err(Rejection::order_rejected(
            "Order would immediately match and take.",
        ));
    }
    let (funding_asset, needed) = match new.side {
        Side::Buy if new.order_type == OrderType::Market => {
            (new.quote_asset, new.quantity.times(last_price))
        }
        Side::Buy => (new.quote_asset, new.quantity.times(new.price)),
        Side::Sell => (new.base_asset, new.quantity),
    };
    if book.account.free(funding_asset) < needed {
        return Err(Rejection::order_rejected(
            "Account has insufficient balance for requested action.",
        ));
    }
    let order_id = state.next_order_id;
    state.next_order_id += 1;
    let mut order = Order {
        symbol: new.symbol.into(),
        order_id,
        client_order_id: new
            .client_order_id
            .clone()
            .unwrap_or_else(|| generated_client_id("fakeorder", order_id)),
        side: new.side,
        order_type: new.order_type,
        time_in_force: new.time_in_force,
        price: new.price,
        orig_qty: new.quantity,
        orig_quote_order_qty: new.quote_order_qty,
        executed_qty: Amount::ZERO,
        cummulative_quote_qty: Amount::ZERO,
        status: OrderStatus::New,
        time: now,
        update_time: now,
        reserved: Amount::ZERO,
        base_asset: new.base_asset,
        quote_asset: new.quote_asset,
    };
    if !marketable && order.time_in_force != TimeInForce::Gtc {
        order.status = OrderStatus::Expired;
    } else if !marketable {
        let balance = book.account.balance_mut(funding_asset);
        balance.free -= needed;
        balance.locked += needed;
        order.reserved = needed;
    }
    book.orders.push(order);
    let index = book.orders.len() - 1;
    if marketable {
        let trade_id = state.market.record_trade(
            new.symbol,
            last_price,
            new.quantity,
            new.side == Side::Sell,
            now,
        );
        let book = state
            .accounts
            .get_mut(api_key)
            .expect("authenticated account");
        fill(book, index, last_price, false, trade_id, now);
    }
    Ok(index)
}

/// Fills what is left of an order at `price`: releases its reservation, moves the balances
/// (commission taken from what the account receives) and records the trade.
fn fill(
    book: &mut AccountBook,
    index: usize,
    price: Amount,
    is_maker: bool,
    trade_id: i64,
    now: i64,
) {
    let order = &book.orders[index];
    let qty = order.orig_qty - order.executed_qty;
    let quote_qty = qty.times(price);
    let (side, base, quote, reserved) = (
        order.side,
        order.base_asset,
        order.quote_asset,
        order.reserved,
    );
    let reserved_asset = order.reserved_asset();
    let account = &mut book.account;
    let reservation = account.balance_mut(reserved_asset);
    reservation.locked -= reserved;
    reservation.free += reserved;
    let (commission, commission_asset) = match side {
        Side::Buy => {
            let commission = qty.basis_points(COMMISSION_BASIS_POINTS);
            account.balance_mut(quote).free -= quote_qty;
            account.balance_mut(base).free += qty - commission;
            (commission, base)
        }
        Side::Sell => {
            let commission = quote_qty.basis_points(COMMISSION_BASIS_POINTS);
            account.balance_mut(base).free -= qty;
            account.balance_mut(quote).free += quote_qty - commission;
            (commission, quote)
        }
    };
    let order = &mut book.orders[index];
    order.reserved = Amount::ZERO;
    order.executed_qty += qty;
    order.cummulative_quote_qty += quote_qty;
    order.status = OrderStatus::Filled;
    order.update_time = now;
    book.trades.push(Trade {
        symbol: order.symbol.clone(),
        id: trade_id,
        order_id: order.order_id,
        price,
        qty,
        quote_qty,
        commission,
        commission_asset: commission_asset.into(),
        time: now,
        is_buyer: side == Side::Buy,
        is_maker,
    });
}

/// The market moved to `price`: resting orders it reaches fill, at their own price.
pub(crate) fn fill_reached_orders(state: &mut SharedState, symbol: &str, price: Amount, now: i64) {
    for book in state.accounts.values_mut() {
        for index in book.first_open()..book.orders.len() {
            let order = &book.orders[index];
            if order.is_open() && order.symbol == symbol && order.reached_by(price) {
                let (limit, qty, buyer_maker) =
                    (order.price, order.orig_qty, order.side == Side::Buy);
                let trade_id = state
                    .market
                    .record_trade(symbol, limit, qty, buyer_maker, now);
                fill(book, index, limit, true, trade_id, now);
            }
        }
    }
}

fn cancel(book: &mut AccountBook, index: usize, now: i64) {
    let order = &book.orders[index];
    let (asset, reserved) = (order.reserved_asset(), order.reserved);
    let balance = book.account.balance_mut(asset);
    balance.locked -= reserved;
    balance.free += reserved;
    let order = &mut book.orders[index];
    order.reserved = Amount::ZERO;
    order.status = OrderStatus::Canceled;
    order.update_time = now;
}

/// The fields every order answer shares.
fn order_fields(order: &Order) -> Map<String, Value> {
    let fields = json!({
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "price": order.price,
        "origQty": order.orig_qty,
        "executedQty": order.executed_qty,
        "origQuoteOrderQty": order.orig_quote_order_qty,
        "cummulativeQuoteQty": order.cummulative_quote_qty,
        "status": order.status.as_str(),
        "timeInForce": order.time_in_force.as_str(),
        "type": order.order_type.as_str(),
        "side": order.side.as_str(),
        "selfTradePreventionMode": "NONE",
    });
    match fields {
        Value::Object(map) => map,
        _ => unreachable!("a JSON object"),
    }
}

fn with_fields(mut map: Map<String, Value>, extra: Value) -> Value {
    if let Value::Object(extra) = extra {
        map.extend(extra);
    }
    Value::Object(map)
}

/// An order as the query endpoints show it.
fn order_details(order: &Order) -> Value {
    with_fields(
        order_fields(order),
        json!({
            "stopPrice": Amount::ZERO,
            "icebergQty": Amount::ZERO,
            "time": order.time,
            "updateTime": order.update_time,
            "isWorking": true,
            "workingTime": order.time,
        }),
    )
}

/// The answer to a new order, shaped by `newOrderRespType`.
fn placement_answer(book: &AccountBook, index: usize, response_type: ResponseType) -> Value {
    let order = &book.orders[index];
    let ack = json!({
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": order.time,
    });
    if response_type == ResponseType::Ack {
        return ack;
    }
    let mut answer = with_fields(order_fields(order), ack);
    answer["workingTime"] = json!(order.time);
    if response_type == ResponseType::Full {
        // The order was just placed: its fills, if any, are the account's latest trades (a
        // scan of every trade would slow a long-lived account down order by order).
        let first_fill = (book.trades.iter())
            .rposition(|t| t.order_id != order.order_id || t.symbol != order.symbol)
            .map_or(0, |i| i + 1);
        let fills: Vec<Value> = book.trades[first_fill..]
            .iter()
            .map(|t| {
                json!({
                    "price": t.price,
                    "qty": t.qty,
                    "commission": t.commission,
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.id,
                })
            })
            .collect();
        answer["fills"] = json!(fills);
    }
    answer
}

/// The answer to a cancel: the order, under the cancel's own client id.
fn cancel_answer(order: &Order, cancel_client_id: &str, now: i64) -> Value {
    let mut answer = order_fields(order);
    answer.insert("origClientOrderId".into(), json!(order.client_order_id));
    answer.insert("clientOrderId".into(), json!(cancel_client_id));
    answer.insert("transactTime".into(), json!(now));
    Value::Object(answer)
}

/// Finds an order by id, or by client id (the latest with it); with both, they must agree.
fn find_order(
    book: &AccountBook,
    symbol: &str,
    order_id: Option<i64>,
    client_id: Option<&str>,
) -> Option<usize> {
    let on_symbol = |o: &Order| o.symbol == symbol;
    match (order_id, client_id) {
        (Some(id), client_id) => book
            .orders
            .iter()
            .position(|o| on_symbol(o) && o.order_id == id)
            .filter(|&index| client_id.is_none_or(|c| book.orders[index].client_order_id == c)),
        (None, Some(client_id)) => book
            .orders
            .iter()
            .rposition(|o| on_symbol(o) && o.client_order_id == client_id),
        (None, None) => None,
    }
}

/// Cancels one open order as `DELETE /api/v3/order` does, reading the order's ids under
/// `names` (cancelReplace names them `cancelOrderId` …). Returns the cancel's answer.
fn cancel_one(
    book: &mut AccountBook,
    symbol: &str,
    params: &Params,
    names: CancelParams,
    next_cancel_id: i64,
    now: i64,
) -> Result<Value, Rejection> {
    let order_id = params.integer(names.order_id)?;
    let client_id = params.get(names.orig_client_order_id);
    if order_id.is_none() && client_id.is_none() {
        return Err(Rejection::one_of(
            names.orig_client_order_id,
            names.order_id,
        ));
    }
    let cancel_client_id = client_order_id(params, names.new_client_order_id)?
        .unwrap_or_else(|| generated_client_id("fakecancel", next_cancel_id));
    // Orders here are never partially filled: ONLY_NEW always holds for an open order,
    // ONLY_PARTIALLY_FILLED never.
    let only_partially_filled = match params.get("cancelRestrictions") {
        None | Some("ONLY_NEW") => false,
        Some("ONLY_PARTIALLY_FILLED") => true,
        Some(_) => return Err(Rejection::bad_request(-1145, "Invalid cancelRestrictions")),
    };
    let index = find_order(book, symbol, order_id, client_id)
        .filter(|&index| book.orders[index].is_open())
        .ok_or_else(Rejection::unknown_order_cancel)?;
    if only_partially_filled {
        return Err(Rejection::bad_request(
            -2011,
            "Order was not canceled due to cancel restrictions.",
        ));
    }
    cancel(book, index, now);
    Ok(cancel_answer(&book.orders[index], &cancel_client_id, now))
}

#[derive(Clone, Copy)]
struct CancelParams {
    order_id: &'static str,
    orig_client_order_id: &'static str,
    new_client_order_id: &'static str,
}

const CANCEL_PARAMS: CancelParams = CancelParams {
    order_id: "orderId",
    orig_client_order_id: "origClientOrderId",
    new_client_order_id: "newClientOrderId",
};

const CANCEL_REPLACE_PARAMS: CancelParams = CancelParams {
    order_id: "cancelOrderId",
    orig_client_order_id: "cancelOrigClientOrderId",
    new_client_order_id: "cancelNewClientOrderId",
};

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

pub(crate) async fn new_order(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    inner
        .serve_signed(
            "POST",
            "/api/v3/order",
            &request,
            Security::Trade,
            &NEW_ORDER_PARAMS,
            |state, api_key, params, now| {
                let outcome = validate(params, &state.market).and_then(|new| {
                    let book = state
                        .accounts
                        .get_mut(api_key)
                        .expect("authenticated account");
                    book.order_count.count_new_order(now)?;
                    let index = place(state, api_key, &new, now)?;
                    let book = &state.accounts[api_key];
                    Ok(placement_answer(book, index, new.response_type))
                });
                let mut response = match outcome {
                    Ok(answer) => json_response(StatusCode::OK, answer),
                    Err(rejection) => rejection.into_response(),
                };
                let book = state
                    .accounts
                    .get_mut(api_key)
                    .expect("authenticated account");
                book.order_count.add_headers(&mut response, now);
                Ok(response)
            },
        )
        .await
}

pub(crate) async fn test_order(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let mut known = NEW_ORDER_PARAMS.to_vec();
    known.push("computeCommissionRates");
    inner
        .serve_signed("POST", "/api/v3/order/test", &request, Security::Trade, &known, |state, _, params, _| {
            validate(params, &state.market)?;
            let answer = if params.get("computeCommissionRates") == Some("true") {
                let rate = commission_rate();
                json!({
                    "standardCommissionForOrder": { "maker": rate, "taker": rate },
                    "specialCommissionForOrder": { "maker": Amount::ZERO, "taker": Amount::ZERO },
                    "taxCommissionForOrder": { "maker": Amount::ZERO, "taker": Amount::ZERO },
                    "discount": {
                        "enabledForAccount": false,
                        "enabledForSymbol": false,
                        "discountAsset": "BNB",
                        "discount": Amount::ZERO,
                    },
                })
            } else {
                json!({})
            };
            Ok(json_response(StatusCode::OK, answer))
        })
        .await
}

pub(crate) async fn query_order(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let known = ["symbol", "orderId", "origClientOrderId"];
    inner
        .serve_signed(
            "GET",
            "/api/v3/order",
            &request,
            Security::UserData,
            &known,
            |state, api_key, params, _| {
                let symbol = state
                    .market
                    .rules_or_reject(params.require("symbol")?)?
                    .symbol;
                let order_id = params.integer("orderId")?;
                let client_id = params.get("origClientOrderId");
                if order_id.is_none() && client_id.is_none() {
                    return Err(Rejection::one_of("origClientOrderId", "orderId"));
                }
                let book = &state.accounts[api_key];
                let index = find_order(book, symbol, order_id, client_id)
                    .ok_or_else(Rejection::no_such_order)?;
                Ok(json_response(
                    StatusCode::OK,
                    order_details(&book.orders[index]),
                ))
            },
        )
        .await
}

pub(crate) async fn cancel_order(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let known = [
        "symbol",
        "orderId",
        "origClientOrderId",
        "newClientOrderId",
        "cancelRestrictions",
    ];
    inner
        .serve_signed(
            "DELETE",
            "/api/v3/order",
            &request,
            Security::Trade,
            &known,
            |state, api_key, params, now| {
                let symbol = state
                    .market
                    .rules_or_reject(params.require("symbol")?)?
                    .symbol;
                let cancel_id = state.next_cancel_id();
                let book = state
                    .accounts
                    .get_mut(api_key)
                    .expect("authenticated account");
                let answer = cancel_one(book, symbol, params, CANCEL_PARAMS, cancel_id, now)?;
                Ok(json_response(StatusCode::OK, answer))
            },
        )
        .await
}

pub(crate) async fn cancel_replace(
    State(inner): State<Arc<Inner>>,
    request: ApiRequest,
) -> Response {
    let mut known = NEW_ORDER_PARAMS.to_vec();
    known.extend([
        "cancelReplaceMode",
        "cancelNewClientOrderId",
        "cancelOrigClientOrderId",
        "cancelOrderId",
        "cancelRestrictions",
        "orderRateLimitExceededMode",
    ]);
    inner
        .serve_signed("POST", "/api/v3/order/cancelReplace", &request, Security::Trade, &known, |state, api_key, params, now| {
            let stop_on_failure = match params.require("cancelReplaceMode")? {
                "STOP_ON_FAILURE" => true,
                "ALLOW_FAILURE" => false,
                _ => return Err(Rejection::mandatory("cancelReplaceMode")),
            };
            // Filters and the order count come before the cancel (rest-api.md).
            let new = validate(params, &state.market)?;
            let cancel_id = state.next_cancel_id();
            let book = state.accounts.get_mut(api_key).expect("authenticated account");
            book.order_count.count_new_order(now)?;
            let cancelled = cancel_one(book, new.symbol, params, CANCEL_REPLACE_PARAMS, cancel_id, now);
            let (cancel_result, cancel_response) = match &cancelled {
                Ok(answer) => ("SUCCESS", answer.clone()),
                Err(rejection) => ("FAILURE", rejection.body()),
            };
            let (status, body) = if cancelled.is_err() && stop_on_failure {
                (
                    StatusCode::BAD_REQUEST,
                    json!({
                        "code": -2022,
                        "msg": "Order cancel-replace failed.",
                        "data": {
                            "cancelResult": cancel_result,
                            "newOrderResult": "NOT_ATTEMPTED",
                            "cancelResponse": cancel_response,
                            "newOrderResponse": null,
                        },
                    }),
                )
            } else {
                let placed = place(state, api_key, &new, now)
                    .map(|index| placement_answer(&state.accounts[api_key], index, new.response_type));
                let (new_result, new_response) = match &placed {
                    Ok(answer) => ("SUCCESS", answer.clone()),
                    Err(rejection) => ("FAILURE", rejection.body()),
                };
                let data = json!({
                    "cancelResult": cancel_result,
                    "newOrderResult": new_result,
                    "cancelResponse": cancel_response,
                    "newOrderResponse": new_response,
                });
                match (cancelled.is_ok(), placed.is_ok()) {
                    (true, true) => (StatusCode::OK, data),
                    (false, false) => (
                        StatusCode::BAD_REQUEST,
                        json!({ "code": -2022, "msg": "Order cancel-replace failed.", "data": data }),
                    ),
                    _ => (
                        StatusCode::CONFLICT,
                        json!({ "code": -2021, "msg": "Order cancel-replace partially failed.", "data": data }),
                    ),
                }
            };
            let mut response = json_response(status, body);
            let book = state.accounts.get_mut(api_key).expect("authenticated account");
            book.order_count.add_headers(&mut response, now);
            Ok(response)
        })
        .await
}

pub(crate) async fn open_orders(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    inner
        .serve_signed(
            "GET",
            "/api/v3/openOrders",
            &request,
            Security::UserData,
            &["symbol"],
            |state, api_key, params, _| {
                let symbol = match params.get("symbol") {
                    Some(symbol) => Some(state.market.rules_or_reject(symbol)?.symbol),
                    None => None,
                };
                let orders: Vec<Value> = state.accounts[api_key]
                    .orders
                    .iter()
                    .filter(|o| o.is_open() && symbol.is_none_or(|s| o.symbol == s))
                    .map(order_details)
                    .collect();
                Ok(json_response(StatusCode::OK, Value::Array(orders)))
            },
        )
        .await
}

pub(crate) async fn cancel_open_orders(
    State(inner): State<Arc<Inner>>,
    request: ApiRequest,
) -> Response {
    inner
        .serve_signed(
            "DELETE",
            "/api/v3/openOrders",
            &request,
            Security::Trade,
            &["symbol"],
            |state, api_key, params, now| {
                let symbol = state
                    .market
                    .rules_or_reject(params.require("symbol")?)?
                    .symbol;
                let first_cancel_id = state.next_cancel_id();
                let book = state
                    .accounts
                    .get_mut(api_key)
                    .expect("authenticated account");
                let open: Vec<usize> = (0..book.orders.len())
                    .filter(|&i| book.orders[i].is_open() && book.orders[i].symbol == symbol)
                    .collect();
                if open.is_empty() {
                    return Err(Rejection::unknown_order_cancel());
                }
                // One cancel id for the whole request, as Binance's example shows.
                let cancel_client_id = generated_client_id("fakecancel", first_cancel_id);
                let answers: Vec<Value> = open
                    .into_iter()
                    .map(|index| {
                        cancel(book, index, now);
                        cancel_answer(&book.orders[index], &cancel_client_id, now)
                    })
                    .collect();
                Ok(json_response(StatusCode::OK, Value::Array(answers)))
            },
        )
        .await
}

/// `startTime`/`endTime` at most 24 hours apart (-1127), as allOrders and myTrades require.
fn time_range(params: &Params) -> Result<(i64, i64), Rejection> {
    let start = params.integer("startTime")?;
    let end = params.integer("endTime")?;
    if let (Some(start), Some(end)) = (start, end)
        && end - start > 24 * 3600 * 1000
    {
        return Err(Rejection::bad_request(
            -1127,
            "More than 24 hours between startTime and endTime.",
        ));
    }
    Ok((start.unwrap_or(i64::MIN), end.unwrap_or(i64::MAX)))
}

/// The first `limit` from a starting id, or else the latest `limit`, in chronological order.
fn page<T>(items: Vec<T>, from_start: bool, limit: usize) -> Vec<T> {
    if from_start {
        items.into_iter().take(limit).collect()
    } else {
        let skip = items.len().saturating_sub(limit);
        items.into_iter().skip(skip).collect()
    }
}

fn limit(params: &Params) -> Result<usize, Rejection> {
    Ok(params.integer("limit")?.unwrap_or(500).clamp(1, 1000) as usize)
}

pub(crate) async fn all_orders(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let known = ["symbol", "orderId", "startTime", "endTime", "limit"];
    inner
        .serve_signed(
            "GET",
            "/api/v3/allOrders",
            &request,
            Security::UserData,
            &known,
            |state, api_key, params, _| {
                let symbol = state
                    .market
                    .rules_or_reject(params.require("symbol")?)?
                    .symbol;
                let from_id = params.integer("orderId")?;
                let (start, end) = time_range(params)?;
                let orders: Vec<&Order> = state.accounts[api_key]
                    .orders
                    .iter()
                    .filter(|o| o.symbol == symbol && o.order_id >= from_id.unwrap_or(i64::MIN))
                    .filter(|o| (start..=end).contains(&o.time))
                    .collect();
                let orders = page(
                    orders,
                    from_id.is_some() || start != i64::MIN,
                    limit(params)?,
                );
                Ok(json_response(
                    StatusCode::OK,
                    orders.into_iter().map(order_details).collect(),
                ))
            },
        )
        .await
}

pub(crate) async fn my_trades(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let known = [
        "symbol",
        "orderId",
        "startTime",
        "endTime",
        "fromId",
        "limit",
    ];
    inner
        .serve_signed(
            "GET",
            "/api/v3/myTrades",
            &request,
            Security::UserData,
            &known,
            |state, api_key, params, _| {
                let symbol = state
                    .market
                    .rules_or_reject(params.require("symbol")?)?
                    .symbol;
                let order_id = params.integer("orderId")?;
                let from_id = params.integer("fromId")?;
                let (start, end) = time_range(params)?;
                let trades: Vec<&Trade> = state.accounts[api_key]
                    .trades
                    .iter()
                    .filter(|t| t.symbol == symbol && order_id.is_none_or(|id| t.order_id == id))
                    .filter(|t| {
                        t.id >= from_id.unwrap_or(i64::MIN) && (start..=end).contains(&t.time)
                    })
                    .collect();
                let trades = page(
                    trades,
                    from_id.is_some() || start != i64::MIN,
                    limit(params)?,
                );
                let answer: Vec<Value> = trades
                    .into_iter()
                    .map(|t| {
                        json!({
                            "symbol": t.symbol,
                            "id": t.id,
                            "orderId": t.order_id,
                            "orderListId": -1,
                            "price": t.price,
                            "qty": t.qty,
                            "quoteQty": t.quote_qty,
                            "commission": t.commission,
                            "commissionAsset": t.commission_asset,
                            "time": t.time,
                            "isBuyer": t.is_buyer,
                            "isMaker": t.is_maker,
                            "isBestMatch": true,
                        })
                    })
                    .collect();
                Ok(json_response(StatusCode::OK, Value::Array(answer)))
            },
        )
        .await
}

pub(crate) async fn order_rate_limit(
    State(inner): State<Arc<Inner>>,
    request: ApiRequest,
) -> Response {
    inner
        .serve_signed(
            "GET",
            "/api/v3/rateLimit/order",
            &request,
            Security::UserData,
            &[],
            |state, api_key, _, now| {
                let book = state
                    .accounts
                    .get_mut(api_key)
                    .expect("authenticated account");
                Ok(json_response(StatusCode::OK, book.order_count.usage(now)))
            },
        )
        .await
}
