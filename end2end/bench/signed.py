"""Prints `params` signed as a Binance client signs them (HMAC-SHA256 over the encoded payload),
valid for a minute: the direct client the gateway's benchmark rows are compared with."""

import hashlib
import hmac
import sys
import time

secret, params = sys.argv[1], sys.argv[2]
payload = f"{params}&recvWindow=60000&timestamp={int(time.time() * 1000)}"
signature = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
print(f"{payload}&signature={signature}")
