"""ccxt, a client no one here wrote, trading through Keywarden's gateway with a bot token.

Run by server/tests/gateway.rs with GATEWAY_URL, BOT_TOKEN, REVOKED_TOKEN and SYMBOL set; exits
non-zero with the reason on the first thing that does not behave as a Binance client expects.
"""

import os
import sys

import ccxt


def exchange(token):
    gateway = os.environ["GATEWAY_URL"]
    client = ccxt.binance(
        {
            "apiKey": token,
            "secret": "not the secret: Keywarden signs",
            # ccxt sends no key on public calls; the gateway needs the token on every call.
            "headers": {"X-MBX-APIKEY": token},
            "options": {
                "fetchMarkets": ["spot"],
                "fetchCurrencies": False,
                "fetchMargins": False,
            },
        }
    )
    for name in client.urls["api"]:
        client.urls["api"][name] = gateway + "/api/v3"
    return client


def refused(call, needle):
    try:
        call()
    except ccxt.BaseError as error:
        if needle not in str(error):
            sys.exit(f"expected {needle!r} in the error, got: {error}")
        return type(error).__name__
    sys.exit(f"expected a refusal mentioning {needle!r}")


def main():
    symbol = os.environ["SYMBOL"]
    bot = exchange(os.environ["BOT_TOKEN"])
    markets = bot.load_markets()
    assert symbol in markets, f"{symbol} not in {list(markets)}"
    balance = bot.fetch_balance()
    assert balance["total"]["USDT"] > 0, balance["total"]

    limit = bot.create_order(symbol, "limit", "buy", 0.001, 60000)
    assert limit["status"] == "open", limit
    market = bot.create_order(symbol, "market", "buy", 0.001)
    assert market["status"] == "closed", market
    open_orders = bot.fetch_open_orders(symbol)
    assert [o["id"] for o in open_orders] == [limit["id"]], open_orders
    fetched = bot.fetch_order(limit["id"], symbol)
    assert fetched["price"] == 60000, fetched
    cancelled = bot.cancel_order(limit["id"], symbol)
    assert cancelled["status"] == "canceled", cancelled
    trades = bot.fetch_my_trades(symbol)
    assert len(trades) == 1 and trades[0]["order"] == market["id"], trades

    errors = [
        # ccxt knows only the bot's market (the gateway scopes exchangeInfo to it), so the
        # wrong symbol goes through its raw endpoint.
        refused(
            lambda: bot.private_post_order(
                {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}
            ),
            "trades BTCUSDT only",
        ),
        refused(lambda: bot.create_order(symbol, "limit", "buy", 1, 60000), "larger than this bot's limit"),
        refused(lambda: bot.sapi_get_capital_config_getall(), "not open to bots"),
        refused(lambda: exchange(os.environ["REVOKED_TOKEN"]).fetch_balance(), "was revoked"),
    ]
    print("ccxt", ccxt.__version__, "ok; refusals raised as", errors)


main()
