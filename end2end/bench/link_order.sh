#!/usr/bin/env bash
# `make link-order`: writes server/link-order.txt, the functions the release build runs, hottest
# first, for the linker to lay out together (see server/build.rs). It serves the benchmarks'
# requests on SQLite and on PostgreSQL under callgrind, which names every function that ran,
# however briefly. Run it again when the dependencies or the toolchain change: a stale file
# only costs memory.
set -euo pipefail
cd "$(dirname "$0")/../.."
export BENCH_DIR="$PWD/end2end/bench"
OUT="$PWD/target/link-order"
BIN="$PWD/target/release"
source "$BENCH_DIR/common.sh"
command -v valgrind >/dev/null || { echo "link-order: valgrind is missing (.ci/setup bench)" >&2; exit 1; }
cargo build --release -p fake-exchange --bin fake-exchange
rm -rf "$OUT" && mkdir -p "$OUT"
"$BIN/fake-exchange" "$EXCHANGE" --unmetered >"$OUT/fake-exchange.log" 2>&1 &
exchange=$!
trap 'kill $exchange 2>/dev/null || true' EXIT
wait_for "http://$EXCHANGE/api/v3/time"

for backend in sqlite postgres; do
  database_url=$(database_url "$backend" keywarden_link_order)
  start_keywarden "$database_url" "$OUT/keywarden-$backend.log" \
    valgrind --tool=callgrind --demangle=no --callgrind-out-file="$OUT/callgrind-$backend"
  server=$!
  wait_for "http://$KEYWARDEN/readyz" 3000
  token=$(sign_up 0)
  auth=(-H "authorization: Bearer $token")
  store_demo_key "$token"
  wrk -t2 -c16 -d3s "${auth[@]}" "http://$KEYWARDEN/api/v1/api-keys/me" >/dev/null
  wrk -t1 -c4 -d2s "${auth[@]}" "http://$KEYWARDEN/api/v1/api-keys/balance" >/dev/null
  curl -fs -X DELETE "${auth[@]}" "http://$KEYWARDEN/api/v1/api-keys/me"
  store_demo_key "$token"
  wrk -t1 -c4 -d4s -s "$BENCH_DIR/login.lua" "http://$KEYWARDEN/api/v1/auth/login" >/dev/null
  BENCH_API_KEY=$(python3 "$BENCH_DIR/seed_bots.py" "$KEYWARDEN" "$token" 1)
  export BENCH_API_KEY
  gateway=http://$KEYWARDEN/gateway/binance/api/v3
  BENCH_METHOD=GET wrk -t1 -c8 -d3s -s "$BENCH_DIR/gateway.lua" "$gateway/account" >/dev/null
  BENCH_METHOD=POST BENCH_BODY="symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000" \
    wrk -t1 -c8 -d3s -s "$BENCH_DIR/gateway.lua" "$gateway/order/test" >/dev/null
  BENCH_METHOD=POST BENCH_BODY="symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001" \
    wrk -t1 -c8 -d3s -s "$BENCH_DIR/gateway.lua" "$gateway/order" >/dev/null
  curl -fs "http://$KEYWARDEN/" >/dev/null
  curl -fs "http://$KEYWARDEN/metrics" >/dev/null
  # valgrind passes SIGINT on: the server shuts down and callgrind writes its profile.
  kill -INT "$server"
  wait "$server" || true
done
python3 "$BENCH_DIR/link_order.py" "$BIN/keywarden" "$OUT"/callgrind-* >"$OUT/link-order.txt"
mv "$OUT/link-order.txt" server/link-order.txt
