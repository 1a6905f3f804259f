"""python-binance, the other client the README names, trading through Keywarden's gateway with a
bot token, configured as the README shows.

Run by server/tests/gateway.rs with GATEWAY_URL, BOT_TOKEN, REVOKED_TOKEN and SYMBOL set; exits
non-zero with the reason on the first thing that does not behave as a Binance client expects.
"""

import os
import sys

import binance
from binance.client import Client
from binance.exceptions import BinanceAPIException


def client(token):
    # ping=False: the constructor would otherwise ping Binance itself before the URL is set.
    bot = Client(token, "not the secret: Keywarden signs", ping=False)
    bot.API_URL = os.environ["GATEWAY_URL"] + "/api"
    return bot


def refused(call, code, needle):
    try:
        call()
    except BinanceAPIException as error:
        if error.code != code or needle not in error.message:
            sys.exit(f"expected {code} mentioning {needle!r}, got {error.code}: {error.message}")
        return error.status_code, error.code
    sys.exit(f"expected a refusal mentioning {needle!r}")


def main():
    symbol = os.environ["SYMBOL"]
    bot = client(os.environ["BOT_TOKEN"])
    bot.ping()
    balances = {b["asset"]: b["free"] for b in bot.get_account()["balances"]}
    assert float(balances["USDT"]) > 0, balances

    limit = bot.order_limit_buy(symbol=symbol, quantity="0.001", price="60000")
    assert limit["status"] == "NEW", limit
    market = bot.order_market_buy(symbol=symbol, quantity="0.001")
    assert market["status"] == "FILLED", market
    open_orders = bot.get_open_orders(symbol=symbol)
    assert [o["orderId"] for o in open_orders] == [limit["orderId"]], open_orders
    fetched = bot.get_order(symbol=symbol, orderId=limit["orderId"])
    assert fetched["price"].startswith("60000"), fetched
    cancelled = bot.cancel_order(symbol=symbol, orderId=limit["orderId"])
    assert cancelled["status"] == "CANCELED", cancelled
    trades = bot.get_my_trades(symbol=symbol)
    assert [t["orderId"] for t in trades] == [market["orderId"]], trades

    errors = [
        refused(
            lambda: bot.order_market_buy(symbol="ETHUSDT", quantity="0.01"),
            -7011,
            "trades BTCUSDT only",
        ),
        refused(
            lambda: bot.order_limit_buy(symbol=symbol, quantity="1", price="60000"),
            -7013,
            "larger than this bot's limit",
        ),
        refused(lambda: client(os.environ["REVOKED_TOKEN"]).get_account(), -7003, "was revoked"),
    ]
    print("python-binance", binance.__version__, "ok; refusals raised as", errors)


main()
