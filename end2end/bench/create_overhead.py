"""Keywarden's own time in creating a key: the median of POST /api/v1/api-keys/ minus the
median of the two signed calls it makes to the exchange (account, then apiRestrictions), both
timed the same way from here, one request at a time on a kept-alive connection.

Usage: create_overhead.py <keywarden host:port> <exchange host:port> <access token> [rounds]
Prints one JSON line: create_p50_ms, create_p99_ms, exchange_p50_ms, overhead_p50_ms, rounds.
"""

import hashlib
import hmac
import http.client
import json
import statistics
import sys
import time

# Binance's documented example pair, which the fake exchange knows.
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET_KEY = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def timed(connection, method, path, body=None, headers=None):
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    payload = response.read()
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status >= 300:
        raise SystemExit(f"{method} {path}: {response.status} {payload[:200]!r}")
    return elapsed_ms


def signed_path(path):
    query = f"recvWindow=5000&timestamp={int(time.time() * 1000)}"
    signature = hmac.new(SECRET_KEY.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{path}?{query}&signature={signature}"


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main():
    keywarden, exchange, token = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    app = http.client.HTTPConnection(keywarden)
    auth = {"Authorization": f"Bearer {token}"}
    body = json.dumps({"api_key": API_KEY, "secret_key": SECRET_KEY})
    create_headers = {**auth, "Content-Type": "application/json"}

    creates = []
    for _ in range(rounds):
        creates.append(timed(app, "POST", "/api/v1/api-keys/", body, create_headers))
        timed(app, "DELETE", "/api/v1/api-keys/me", headers=auth)

    venue = http.client.HTTPConnection(exchange)
    key_header = {"X-MBX-APIKEY": API_KEY}
    calls = []
    for _ in range(rounds):
        calls.append(
            timed(venue, "GET", signed_path("/api/v3/account"), headers=key_header)
            + timed(venue, "GET", signed_path("/sapi/v1/account/apiRestrictions"), headers=key_header)
        )

    create_p50 = statistics.median(creates)
    exchange_p50 = statistics.median(calls)
    print(json.dumps({
        "create_p50_ms": round(create_p50, 3),
        "create_p99_ms": round(percentile(creates, 0.99), 3),
        "exchange_p50_ms": round(exchange_p50, 3),
        "overhead_p50_ms": round(create_p50 - exchange_p50, 3),
        "rounds": rounds,
    }))


if __name__ == "__main__":
    main()
