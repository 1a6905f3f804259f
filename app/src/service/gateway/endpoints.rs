//! The gateway's allowlist: which of Binance's spot endpoints a bot may reach, and what each
//! one is. Anything not listed (every `/sapi` wallet, withdrawal and transfer path, margin,
//! futures, sub-accounts, user data streams) is refused and never forwarded.

/// What an allowed endpoint does, which decides how it is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Public market data: no key, no signature.
    MarketData,
    /// Public and about no symbol (`time`, `ping`).
    ServerInfo,
    /// A signed read of the bot's symbol (orders, trades).
    SymbolRead,
    /// A signed read of the whole account (`account`, `rateLimit/order`).
    AccountRead,
    /// Places an order (or only validates one, for `order/test`).
    Place { test: bool },
    /// Cancels one order, or every open order of the symbol.
    Cancel,
    /// Cancels an order and places another in one request.
    CancelReplace,
}

impl Endpoint {
    /// Whether the request carries the key's signature.
    pub fn is_signed(self) -> bool {
        !matches!(self, Endpoint::MarketData | Endpoint::ServerInfo)
    }

    /// Whether the request concerns one symbol, which must then be the bot's.
    pub fn is_about_a_symbol(self) -> bool {
        !matches!(self, Endpoint::ServerInfo | Endpoint::AccountRead)
    }

    /// Whether Binance may act on the request: it is recorded before it leaves and never sent
    /// twice.
    pub fn changes_orders(self) -> bool {
        matches!(
            self,
            Endpoint::Place { test: false } | Endpoint::Cancel | Endpoint::CancelReplace
        )
    }

    /// Whether the request places an order, whose size and type the policy limits.
    pub fn places_an_order(self) -> bool {
        matches!(self, Endpoint::Place { .. } | Endpoint::CancelReplace)
    }
}

/// The endpoint `method` and Binance's `path` name, if bots may use it.
pub fn allowed(method: &str, path: &str) -> Option<Endpoint> {
    use Endpoint::*;
    Some(match (method, path) {
        ("GET", "/api/v3/ping" | "/api/v3/time") => ServerInfo,
        (
            "GET",
            "/api/v3/exchangeInfo"
            | "/api/v3/depth"
            | "/api/v3/trades"
            | "/api/v3/klines"
            | "/api/v3/uiKlines"
            | "/api/v3/avgPrice"
            | "/api/v3/ticker/24hr"
            | "/api/v3/ticker/price"
            | "/api/v3/ticker/bookTicker"
            | "/api/v3/ticker/tradingDay"
            | "/api/v3/ticker",
        ) => MarketData,
        ("GET", "/api/v3/account" | "/api/v3/rateLimit/order") => AccountRead,
        (
            "GET",
            "/api/v3/order" | "/api/v3/openOrders" | "/api/v3/allOrders" | "/api/v3/myTrades",
        ) => SymbolRead,
        ("POST", "/api/v3/order") => Place { test: false },
        ("POST", "/api/v3/order/test") => Place { test: true },
        ("POST", "/api/v3/order/cancelReplace") => CancelReplace,
        ("DELETE", "/api/v3/order" | "/api/v3/openOrders") => Cancel,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trading_and_market_data_are_allowed_and_nothing_else() {
        assert_eq!(
            allowed("POST", "/api/v3/order"),
            Some(Endpoint::Place { test: false })
        );
        assert_eq!(
            allowed("GET", "/api/v3/exchangeInfo"),
            Some(Endpoint::MarketData)
        );
        assert_eq!(
            allowed("DELETE", "/api/v3/openOrders"),
            Some(Endpoint::Cancel)
        );
        for (method, path) in [
            ("POST", "/sapi/v1/capital/withdraw/apply"),
            ("POST", "/sapi/v1/asset/transfer"),
            ("POST", "/sapi/v1/margin/order"),
            ("POST", "/api/v3/userDataStream"),
            ("GET", "/sapi/v1/account/apiRestrictions"),
            ("PUT", "/api/v3/order"),
            ("GET", "/api/v3/order/../../sapi/v1/capital/config/getall"),
            ("POST", "/api/v3/sor/order"),
            ("GET", "/fapi/v1/order"),
        ] {
            assert_eq!(allowed(method, path), None, "{method} {path}");
        }
        assert!(Endpoint::Cancel.changes_orders());
        assert!(!Endpoint::Place { test: true }.changes_orders());
        assert!(Endpoint::Place { test: true }.places_an_order());
        assert!(!Endpoint::AccountRead.is_about_a_symbol());
    }
}
