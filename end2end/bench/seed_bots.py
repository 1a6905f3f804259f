"""Creates `count` bots (BTCUSDT, at most 1,000 USDT an order) on the signed-in user's key, a
token for each, and prints the tokens one per line: the real-order rows spread their load over
them, as each bot may place 600 orders a minute (and an account may have 100 bots)."""

import json
import sys
import urllib.request

address, bearer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])


def post(path, body):
    request = urllib.request.Request(
        f"http://{address}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


for i in range(count):
    bot = post(
        "/api/v1/bot-configs",
        {"name": f"orders-{i}", "symbol": "BTCUSDT", "max_order_notional": "1000",
         "orders_per_minute": 600},
    )
    print(post(f"/api/v1/bot-configs/{bot['id']}/tokens", {})["token"])
