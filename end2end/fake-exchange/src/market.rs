//! The symbols the exchange lists, their trading rules (filters.md) and their market: a last
//! price the tests set, public trades, and the public market-data endpoints derived from them.
//!
//! The market has unlimited liquidity at its last price: incoming orders trade there, and the
//! book the endpoints show is a ladder one tick apart around it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde_json::{Value, json};

use crate::Inner;
use crate::decimal::Amount;
use crate::error::Rejection;
use crate::limits;
use crate::request::{ApiRequest, Params};

/// How much `MIN_NOTIONAL` / `NOTIONAL` ask of an order's `price * quantity`.
pub(crate) enum Notional {
    Min {
        min: Amount,
        apply_to_market: bool,
    },
    Range {
        min: Amount,
        max: Amount,
        apply_min_to_market: bool,
        apply_max_to_market: bool,
    },
}

/// A symbol and its filters (filters.md), modelled on Binance's listing of it.
pub(crate) struct SymbolRules {
    pub symbol: &'static str,
    pub base: &'static str,
    pub quote: &'static str,
    pub min_price: Amount,
    pub max_price: Amount,
    pub tick_size: Amount,
    pub min_qty: Amount,
    pub max_qty: Amount,
    pub step_size: Amount,
    pub market_min_qty: Amount,
    pub market_max_qty: Amount,
    pub market_step_size: Amount,
    pub notional: Notional,
    pub max_num_orders: usize,
    initial_price: Amount,
}

/// The order types the fake trades; Binance lists more (stop and take-profit orders).
pub(crate) const ORDER_TYPES: [&str; 3] = ["LIMIT", "LIMIT_MAKER", "MARKET"];

/// Binance's "average price" window for filters and `avgPrice`.
const AVG_PRICE_MINS: i64 = 5;

fn amount(text: &str) -> Amount {
    text.parse().expect("a valid amount")
}

fn listed_symbols() -> Vec<SymbolRules> {
    vec![
        SymbolRules {
            symbol: "BTCUSDT",
            base: "BTC",
            quote: "USDT",
            min_price: amount("0.01"),
            max_price: amount("1000000"),
            tick_size: amount("0.01"),
            min_qty: amount("0.00001"),
            max_qty: amount("9000"),
            step_size: amount("0.00001"),
            market_min_qty: amount("0"),
            market_max_qty: amount("120"),
            market_step_size: amount("0"),
            notional: Notional::Range {
                min: amount("5"),
                max: amount("9000000"),
                apply_min_to_market: true,
                apply_max_to_market: false,
            },
            max_num_orders: 200,
            initial_price: amount("65000.00"),
        },
        SymbolRules {
            symbol: "ETHUSDT",
            base: "ETH",
            quote: "USDT",
            min_price: amount("0.01"),
            max_price: amount("1000000"),
            tick_size: amount("0.01"),
            min_qty: amount("0.0001"),
            max_qty: amount("9000"),
            step_size: amount("0.0001"),
            market_min_qty: amount("0"),
            market_max_qty: amount("2500"),
            market_step_size: amount("0"),
            notional: Notional::Range {
                min: amount("5"),
                max: amount("9000000"),
                apply_min_to_market: true,
                apply_max_to_market: false,
            },
            max_num_orders: 200,
            initial_price: amount("3500.00"),
        },
        SymbolRules {
            symbol: "BNBBTC",
            base: "BNB",
            quote: "BTC",
            min_price: amount("0.000001"),
            max_price: amount("100000"),
            tick_size: amount("0.000001"),
            min_qty: amount("0.001"),
            max_qty: amount("100000"),
            step_size: amount("0.001"),
            market_min_qty: amount("0"),
            market_max_qty: amount("5000"),
            market_step_size: amount("0"),
            notional: Notional::Min {
                min: amount("0.0001"),
                apply_to_market: true,
            },
            max_num_orders: 200,
            initial_price: amount("0.009500"),
        },
    ]
}

impl SymbolRules {
    /// PRICE_FILTER for a limit price.
    pub fn check_price(&self, price: Amount) -> Result<(), Rejection> {
        let enabled_min = self.min_price.is_zero() || price >= self.min_price;
        let enabled_max = self.max_price.is_zero() || price <= self.max_price;
        if enabled_min && enabled_max && price.is_multiple_of(self.tick_size) {
            Ok(())
        } else {
            Err(Rejection::filter_failure("PRICE_FILTER"))
        }
    }

    /// LOT_SIZE, and MARKET_LOT_SIZE too for a market order.
    pub fn check_quantity(&self, quantity: Amount, market: bool) -> Result<(), Rejection> {
        if !within_lot(quantity, self.min_qty, self.max_qty, self.step_size) {
            return Err(Rejection::filter_failure("LOT_SIZE"));
        }
        if market
            && !within_lot(
                quantity,
                self.market_min_qty,
                self.market_max_qty,
                self.market_step_size,
            )
        {
            return Err(Rejection::filter_failure("MARKET_LOT_SIZE"));
        }
        Ok(())
    }

    /// MIN_NOTIONAL or NOTIONAL for an order worth `notional` (for a market order, its
    /// quantity at the average price, which is the last price here).
    pub fn check_notional(&self, notional: Amount, market: bool) -> Result<(), Rejection> {
        match self.notional {
            Notional::Min {
                min,
                apply_to_market,
            } => {
                if (!market || apply_to_market) && notional < min {
                    return Err(Rejection::filter_failure("MIN_NOTIONAL"));
                }
            }
            Notional::Range {
                min,
                max,
                apply_min_to_market,
                apply_max_to_market,
            } => {
                let too_small = (!market || apply_min_to_market) && notional < min;
                let too_large = (!market || apply_max_to_market) && notional > max;
                if too_small || too_large {
                    return Err(Rejection::filter_failure("NOTIONAL"));
                }
            }
        }
        Ok(())
    }

    fn filters(&self) -> Value {
        let notional = match self.notional {
            Notional::Min {
                min,
                apply_to_market,
            } => json!({
                "filterType": "MIN_NOTIONAL",
                "minNotional": min,
                "applyToMarket": apply_to_market,
                "avgPriceMins": AVG_PRICE_MINS,
            }),
            Notional::Range {
                min,
                max,
                apply_min_to_market,
                apply_max_to_market,
            } => json!({
                "filterType": "NOTIONAL",
                "minNotional": min,
                "applyMinToMarket": apply_min_to_market,
                "maxNotional": max,
                "applyMaxToMarket": apply_max_to_market,
                "avgPriceMins": AVG_PRICE_MINS,
            }),
        };
        json!([
            {
                "filterType": "PRICE_FILTER",
                "minPrice": self.min_price,
                "maxPrice": self.max_price,
                "tickSize": self.tick_size,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": self.min_qty,
                "maxQty": self.max_qty,
                "stepSize": self.step_size,
            },
            notional,
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": self.market_min_qty,
                "maxQty": self.market_max_qty,
                "stepSize": self.market_step_size,
            },
            { "filterType": "MAX_NUM_ORDERS", "maxNumOrders": self.max_num_orders },
        ])
    }

    fn exchange_info(&self) -> Value {
        json!({
            "symbol": self.symbol,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ORDER_TYPES,
            "icebergAllowed": false,
            "ocoAllowed": false,
            "otoAllowed": false,
            "opoAllowed": false,
            "quoteOrderQtyMarketAllowed": true,
            "allowTrailingStop": false,
            "cancelReplaceAllowed": true,
            "amendAllowed": false,
            "pegInstructionsAllowed": false,
            "isSpotTradingAllowed": true,
            "isMarginTradingAllowed": false,
            "filters": self.filters(),
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "NONE",
            "allowedSelfTradePreventionModes": ["NONE"],
        })
    }

    /// The quantity shown at each level of the synthetic book and traded by `set_price`.
    fn level_quantity(&self) -> Amount {
        self.min_qty * 1000
    }
}

fn within_lot(quantity: Amount, min: Amount, max: Amount, step: Amount) -> bool {
    quantity >= min && (max.is_zero() || quantity <= max) && quantity.is_multiple_of(step)
}

/// A trade on the market, by anyone.
#[derive(Clone)]
struct PublicTrade {
    id: i64,
    price: Amount,
    qty: Amount,
    time: i64,
    is_buyer_maker: bool,
}

pub(crate) struct Market {
    symbols: Vec<SymbolRules>,
    prices: HashMap<&'static str, Amount>,
    trades: HashMap<&'static str, Vec<PublicTrade>>,
    next_trade_id: i64,
    /// Bumped whenever the book changes; depth's `lastUpdateId`.
    update_id: i64,
}

impl Market {
    pub fn new(now_ms: i64) -> Self {
        let mut market = Market {
            symbols: listed_symbols(),
            prices: HashMap::new(),
            trades: HashMap::new(),
            next_trade_id: 1,
            update_id: 1,
        };
        let initial: Vec<_> = market
            .symbols
            .iter()
            .map(|rules| (rules.symbol, rules.initial_price))
            .collect();
        for (symbol, price) in initial {
            market.move_price(symbol, price, now_ms);
        }
        market
    }

    pub fn rules(&self, symbol: &str) -> Option<&SymbolRules> {
        self.symbols.iter().find(|rules| rules.symbol == symbol)
    }

    pub fn rules_or_reject(&self, symbol: &str) -> Result<&SymbolRules, Rejection> {
        self.rules(symbol).ok_or_else(Rejection::invalid_symbol)
    }

    pub fn price(&self, symbol: &str) -> Amount {
        self.prices.get(symbol).copied().unwrap_or_default()
    }

    /// The market trades at `price`: a public trade there, and the new last price.
    pub fn move_price(&mut self, symbol: &str, price: Amount, now_ms: i64) {
        let Some(rules) = self.rules(symbol) else {
            return;
        };
        let (symbol, quantity) = (rules.symbol, rules.level_quantity());
        let is_buyer_maker = price < self.price(symbol);
        self.prices.insert(symbol, price);
        self.record_trade(symbol, price, quantity, is_buyer_maker, now_ms);
    }

    /// Records a public trade and returns its id.
    pub fn record_trade(
        &mut self,
        symbol: &str,
        price: Amount,
        qty: Amount,
        is_buyer_maker: bool,
        now_ms: i64,
    ) -> i64 {
        let Some(symbol) = self.rules(symbol).map(|rules| rules.symbol) else {
            return 0;
        };
        let id = self.next_trade_id;
        self.next_trade_id += 1;
        self.update_id += 1;
        self.trades.entry(symbol).or_default().push(PublicTrade {
            id,
            price,
            qty,
            time: now_ms,
            is_buyer_maker,
        });
        id
    }

    fn trades(&self, symbol: &str) -> &[PublicTrade] {
        self.trades.get(symbol).map_or(&[], Vec::as_slice)
    }

    /// Best bid and best ask of the synthetic book: a tick either side of the last price.
    fn best_bid_ask(&self, rules: &SymbolRules) -> (Amount, Amount) {
        let price = self.price(rules.symbol);
        (price - rules.tick_size, price + rules.tick_size)
    }

    /// `symbol`, `symbols` (a JSON array) or neither (every symbol), as the ticker endpoints
    /// and exchangeInfo take them. `Ok(None)` means every symbol.
    fn select(&self, params: &Params) -> Result<Selection<'_>, Rejection> {
        match (params.get("symbol"), params.get("symbols")) {
            (Some(_), Some(_)) => Err(Rejection::bad_request(
                -1128,
                "Combination of optional parameters invalid.",
            )),
            (Some(symbol), None) => Ok(Selection::One(self.rules_or_reject(symbol)?)),
            (None, Some(list)) => {
                let names: Vec<String> = serde_json::from_str(list).map_err(|_| {
                    Rejection::illegal_chars(
                        "symbols",
                        r#"^\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\]$"#,
                    )
                })?;
                let rules = names
                    .iter()
                    .map(|name| self.rules_or_reject(name))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Selection::Many(rules))
            }
            (None, None) => Ok(Selection::Many(self.symbols.iter().collect())),
        }
    }
}

enum Selection<'a> {
    One(&'a SymbolRules),
    Many(Vec<&'a SymbolRules>),
}

impl Selection<'_> {
    /// An object for one symbol, an array for several, as Binance answers.
    fn answer(&self, each: impl Fn(&SymbolRules) -> Value) -> Value {
        match self {
            Selection::One(rules) => each(rules),
            Selection::Many(all) => Value::Array(all.iter().map(|rules| each(rules)).collect()),
        }
    }
}

/// `GET /api/v3/ping`: an empty object.
pub(crate) async fn ping(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    inner
        .serve_public("/api/v3/ping", &request, &[], |_, _, _| Ok(json!({})))
        .await
}

pub(crate) async fn server_time(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    inner
        .serve_public("/api/v3/time", &request, &[], |_, _, now| {
            Ok(json!({ "serverTime": now }))
        })
        .await
}

pub(crate) async fn exchange_info(
    State(inner): State<Arc<Inner>>,
    request: ApiRequest,
) -> Response {
    let known = [
        "symbol",
        "symbols",
        "permissions",
        "showPermissionSets",
        "symbolStatus",
    ];
    inner
        .serve_public(
            "/api/v3/exchangeInfo",
            &request,
            &known,
            |params, market, now| {
                let symbols = match market.select(params)? {
                    Selection::One(rules) => vec![rules.exchange_info()],
                    Selection::Many(all) => all.iter().map(|rules| rules.exchange_info()).collect(),
                };
                Ok(json!({
                    "timezone": "UTC",
                    "serverTime": now,
                    "rateLimits": limits::rate_limits(),
                    "exchangeFilters": [],
                    "symbols": symbols,
                }))
            },
        )
        .await
}

pub(crate) async fn depth(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    inner
        .serve_public(
            "/api/v3/depth",
            &request,
            &["symbol", "limit", "symbolStatus"],
            |params, market, _| {
                let rules = market.rules_or_reject(params.require("symbol")?)?;
                let limit = params.integer("limit")?.unwrap_or(100).clamp(1, 5000);
                // A ladder deep enough for any test; Binance may also return fewer levels than asked.
                let levels = limit.min(100) as i128;
                let (bid, ask) = market.best_bid_ask(rules);
                let quantity = rules.level_quantity();
                let ladder = |best: Amount, step: i128| -> Vec<Value> {
                    (0..levels)
                        .map(|k| best + rules.tick_size * (k * step))
                        .filter(|price| *price > Amount::ZERO)
                        .map(|price| json!([price, quantity]))
                        .collect()
                };
                Ok(json!({
                    "lastUpdateId": market.update_id,
                    "bids": ladder(bid, -1),
                    "asks": ladder(ask, 1),
                }))
            },
        )
        .await
}

pub(crate) async fn recent_trades(
    State(inner): State<Arc<Inner>>,
    request: ApiRequest,
) -> Response {
    inner
        .serve_public(
            "/api/v3/trades",
            &request,
            &["symbol", "limit"],
            |params, market, _| {
                let rules = market.rules_or_reject(params.require("symbol")?)?;
                let limit = params.integer("limit")?.unwrap_or(500).clamp(1, 1000) as usize;
                let trades = market.trades(rules.symbol);
                let recent = &trades[trades.len().saturating_sub(limit)..];
                Ok(Value::Array(
                    recent
                        .iter()
                        .map(|t| {
                            json!({
                                "id": t.id,
                                "price": t.price,
                                "qty": t.qty,
                                "quoteQty": t.price.times(t.qty),
                                "time": t.time,
                                "isBuyerMaker": t.is_buyer_maker,
                                "isBestMatch": true,
                            })
                        })
                        .collect(),
                ))
            },
        )
        .await
}

fn interval_ms(interval: &str) -> Option<i64> {
    const MINUTE: i64 = 60_000;
    Some(match interval {
        "1s" => 1000,
        "1m" => MINUTE,
        "3m" => 3 * MINUTE,
        "5m" => 5 * MINUTE,
        "15m" => 15 * MINUTE,
        "30m" => 30 * MINUTE,
        "1h" => 60 * MINUTE,
        "2h" => 120 * MINUTE,
        "4h" => 240 * MINUTE,
        "6h" => 360 * MINUTE,
        "8h" => 480 * MINUTE,
        "12h" => 720 * MINUTE,
        "1d" => 1440 * MINUTE,
        "3d" => 3 * 1440 * MINUTE,
        "1w" => 7 * 1440 * MINUTE,
        // Calendar months on Binance; thirty days are close enough for a fake.
        "1M" => 30 * 1440 * MINUTE,
        _ => return None,
    })
}

pub(crate) async fn klines(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let known = [
        "symbol",
        "interval",
        "startTime",
        "endTime",
        "timeZone",
        "limit",
    ];
    inner
        .serve_public("/api/v3/klines", &request, &known, |params, market, now| {
            let rules = market.rules_or_reject(params.require("symbol")?)?;
            let interval = interval_ms(params.require("interval")?)
                .ok_or_else(|| Rejection::bad_request(-1120, "Invalid interval."))?;
            let limit = params.integer("limit")?.unwrap_or(500).clamp(1, 1000);
            let end = params.integer("endTime")?.unwrap_or(now).min(now);
            let last_open = end - end.rem_euclid(interval);
            let first_open = match params.integer("startTime")? {
                Some(start) => start + (interval - start.rem_euclid(interval)) % interval,
                None => last_open - (limit - 1) * interval,
            };
            // Flat candles at the last price: the fake keeps no price history.
            let price = market.price(rules.symbol);
            let candles = (0..limit)
                .map(|k| first_open + k * interval)
                .take_while(|open| *open <= last_open)
                .map(|open| {
                    json!([
                        open,
                        price,
                        price,
                        price,
                        price,
                        Amount::ZERO,
                        open + interval - 1,
                        Amount::ZERO,
                        0,
                        Amount::ZERO,
                        Amount::ZERO,
                        "0"
                    ])
                })
                .collect();
            Ok(Value::Array(candles))
        })
        .await
}

pub(crate) async fn avg_price(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    inner
        .serve_public(
            "/api/v3/avgPrice",
            &request,
            &["symbol"],
            |params, market, now| {
                let rules = market.rules_or_reject(params.require("symbol")?)?;
                let last_trade = market.trades(rules.symbol).last().map_or(now, |t| t.time);
                Ok(json!({
                    "mins": AVG_PRICE_MINS,
                    "price": market.price(rules.symbol),
                    "closeTime": last_trade,
                }))
            },
        )
        .await
}

pub(crate) async fn ticker_price(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let known = ["symbol", "symbols", "symbolStatus"];
    inner
        .serve_public(
            "/api/v3/ticker/price",
            &request,
            &known,
            |params, market, _| {
                Ok(market.select(params)?.answer(
                    |rules| json!({ "symbol": rules.symbol, "price": market.price(rules.symbol) }),
                ))
            },
        )
        .await
}

pub(crate) async fn book_ticker(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let known = ["symbol", "symbols", "symbolStatus"];
    inner
        .serve_public(
            "/api/v3/ticker/bookTicker",
            &request,
            &known,
            |params, market, _| {
                Ok(market.select(params)?.answer(|rules| {
                    let (bid, ask) = market.best_bid_ask(rules);
                    let quantity = rules.level_quantity();
                    json!({
                        "symbol": rules.symbol,
                        "bidPrice": bid,
                        "bidQty": quantity,
                        "askPrice": ask,
                        "askQty": quantity,
                    })
                }))
            },
        )
        .await
}

pub(crate) async fn ticker_24hr(State(inner): State<Arc<Inner>>, request: ApiRequest) -> Response {
    let known = ["symbol", "symbols", "type", "symbolStatus"];
    inner
        .serve_public(
            "/api/v3/ticker/24hr",
            &request,
            &known,
            |params, market, now| {
                let full = match params.get("type").unwrap_or("FULL") {
                    "FULL" => true,
                    "MINI" => false,
                    _ => return Err(Rejection::bad_request(-1139, "Invalid ticker type.")),
                };
                Ok(market
                    .select(params)?
                    .answer(|rules| day_statistics(market, rules, now, full)))
            },
        )
        .await
}

/// 24-hour statistics from the public trades of the last day.
fn day_statistics(market: &Market, rules: &SymbolRules, now: i64, full: bool) -> Value {
    let open_time = now - 24 * 3600 * 1000;
    let trades: Vec<&PublicTrade> = market
        .trades(rules.symbol)
        .iter()
        .filter(|t| t.time >= open_time)
        .collect();
    let last = market.price(rules.symbol);
    let open = trades.first().map_or(last, |t| t.price);
    let high = trades.iter().map(|t| t.price).max().unwrap_or(last);
    let low = trades.iter().map(|t| t.price).min().unwrap_or(last);
    let volume = trades.iter().fold(Amount::ZERO, |sum, t| sum + t.qty);
    let quote_volume = trades
        .iter()
        .fold(Amount::ZERO, |sum, t| sum + t.price.times(t.qty));
    let (first_id, last_id) = match (trades.first(), trades.last()) {
        (Some(first), Some(last)) => (first.id, last.id),
        _ => (-1, -1),
    };
    let mut statistics = json!({
        "symbol": rules.symbol,
        "openPrice": open,
        "highPrice": high,
        "lowPrice": low,
        "lastPrice": last,
        "volume": volume,
        "quoteVolume": quote_volume,
        "openTime": open_time,
        "closeTime": now,
        "firstId": first_id,
        "lastId": last_id,
        "count": trades.len(),
    });
    if full {
        let change = last - open;
        let percent = (change * 100).divided_by(open).to_string();
        let (bid, ask) = market.best_bid_ask(rules);
        let extra = json!({
            "priceChange": change,
            // Binance prints the percentage with three decimals.
            "priceChangePercent": &percent[..percent.len() - 5],
            "weightedAvgPrice": if volume.is_zero() { last } else { quote_volume.divided_by(volume) },
            "prevClosePrice": open,
            "lastQty": trades.last().map_or(Amount::ZERO, |t| t.qty),
            "bidPrice": bid,
            "bidQty": rules.level_quantity(),
            "askPrice": ask,
            "askQty": rules.level_quantity(),
        });
        if let (Value::Object(target), Value::Object(extra)) = (&mut statistics, extra) {
            target.extend(extra);
        }
    }
    statistics
}
