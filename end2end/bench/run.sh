#!/usr/bin/env bash
# `make bench`: Keywarden's release build under wrk on this machine, on SQLite and PostgreSQL,
# against the fake exchange (unmetered), beside a minimal axum JSON server as the ceiling.
# Prints a Markdown table and writes it to target/bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
# npm's wasm-opt first, as in the Makefile (Debian's breaks hydration).
export PATH="$PWD/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export BENCH_DIR="$PWD/end2end/bench"
OUT="$PWD/target/bench"
DURATION="${BENCH_DURATION:-10s}"
# BENCH_ONLY=gateway: the gateway rows alone (a quicker loop while working on them).
# BENCH_ONLY=real-orders: only the paced real orders, BENCH_RUNS times (3) on one server per
# backend, each run straight to the exchange and then through the gateway.
# BENCH_BACKENDS: which backends run ("sqlite postgres").
ONLY="${BENCH_ONLY:-}"
RUNS="${BENCH_RUNS:-3}"
BACKENDS="${BENCH_BACKENDS:-sqlite postgres}"
case "$ONLY" in "" | gateway | real-orders) ;; *) echo "BENCH_ONLY is gateway or real-orders" >&2; exit 2 ;; esac
for backend in $BACKENDS; do
  case "$backend" in sqlite | postgres) ;; *) echo "BENCH_BACKENDS names sqlite and postgres" >&2; exit 2 ;; esac
done
PACE_MS=20
CEILING=127.0.0.1:3999
mkdir -p "$OUT"
rm -f "$OUT"/results.md "$OUT"/*.db*

# The product's release build (site and server), then the bench-only pieces, which do not
# depend on the server, so it is built once.
if [ -n "$ONLY" ]; then
  cargo build --release -p server --bin keywarden
else
  bash .ci/build-release
fi
cargo build --release -p fake-exchange --bin fake-exchange --example ceiling
BIN="$PWD/target/release"
source "$BENCH_DIR/common.sh"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

peak_rss_mib() { awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
reset_peak_rss() { echo 5 > "/proc/$1/clear_refs"; }
json() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

"$BIN/fake-exchange" "$EXCHANGE" --unmetered >"$OUT/fake-exchange.log" 2>&1 &
pids+=($!)
"$BIN/examples/ceiling" "$CEILING" >/dev/null 2>&1 &
pids+=($!)
wait_for "http://$EXCHANGE/api/v3/time"
wait_for "http://$CEILING/"
ceiling=$(wrk -t2 -c64 -d"$DURATION" -s "$BENCH_DIR/plain.lua" "http://$CEILING/" | tail -1)
ceiling_rps=$(json "$ceiling" rps)

row() { # name, wrk JSON, pid
  local rps; rps=$(json "$2" rps)
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$1" "$rps" \
    "$(json "$2" p50_ms)" "$(json "$2" p99_ms)" "$(json "$2" p999_ms)" "$(json "$2" errors)" \
    "$(peak_rss_mib "$3")" "$(python3 -c "print(f'{$rps / $ceiling_rps:.0%}')")"
}

# How much of the link order (server/build.rs) still names this build's functions.
in_binary=$(nm --defined-only "$BIN/keywarden" | awk '{ print $3 }' | sort -u | comm -12 - <(sort -u server/link-order.txt) | wc -l)
# The machine, so that runs on different machines can be told apart: the same build's rows
# move with the host (see the bench history).
halt_poll=/sys/module/haltpoll/parameters/guest_halt_poll_ns
machine="$(nproc) cores, kernel $(uname -r)"
[ -r "$halt_poll" ] && machine="$machine, guest halt-polling $(cat "$halt_poll") ns"
{
  echo "Machine: $machine."
  echo
  echo "Ceiling (minimal axum JSON handler, 64 connections): $(json "$ceiling" rps) req/s, p99 $(json "$ceiling" p99_ms) ms."
  echo
  echo "Link order: $in_binary of the $(wc -l <server/link-order.txt) functions in server/link-order.txt are in this build (the rest are laid out as the linker found them)."
  echo
  echo "| backend / endpoint | req/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB | of ceiling |"
  echo "|---|---|---|---|---|---|---|---|"
} >"$OUT/results.md"

for backend in $BACKENDS; do
  database_url=$(database_url "$backend" keywarden_bench)
  started=$(date +%s%N)
  start_keywarden "$database_url" "$OUT/keywarden-$backend.log"
  server=$!
  pids+=($server)
  wait_for "http://$KEYWARDEN/readyz"
  ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))

  # Seed: bench0 holds a key (reads, balance, login); bench1..4 cycle create/delete; bench5
  # times creates one at a time; bench6 holds the same key for half of the real orders' bots.
  : >"$OUT/tokens"
  for i in 0 1 2 3 4 5 6; do
    token=$(sign_up "$i")
    case "$i" in 0) reader="$token" ;; 5) creator="$token" ;; 6) second="$token" ;; *) echo "$token" >>"$OUT/tokens" ;; esac
  done
  for holder in "$reader" "$second"; do store_demo_key "$holder"; done

  # A bot of bench0's key and its gateway token.
  bot=$(curl -fs -X POST "http://$KEYWARDEN/api/v1/bot-configs" -H "authorization: Bearer $reader" \
    -H 'content-type: application/json' -d '{"name":"bench","symbol":"BTCUSDT"}' | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
  bot_token=$(curl -fs -X POST "http://$KEYWARDEN/api/v1/bot-configs/$bot/tokens" -H "authorization: Bearer $reader" \
    -H 'content-type: application/json' -d '{}' | python3 -c "import json,sys; print(json.load(sys.stdin)['token'])")

  if [ -z "$ONLY" ]; then
    auth=(-H "Authorization: Bearer $reader")
    reset_peak_rss "$server"
    me=$(wrk -t2 -c64 -d"$DURATION" "${auth[@]}" -s "$BENCH_DIR/plain.lua" "http://$KEYWARDEN/api/v1/api-keys/me" | tail -1)
    row "$backend: GET /api/v1/api-keys/me (64 conns)" "$me" "$server" >>"$OUT/results.md"
    reset_peak_rss "$server"
    balance=$(wrk -t2 -c16 -d"$DURATION" "${auth[@]}" -s "$BENCH_DIR/plain.lua" "http://$KEYWARDEN/api/v1/api-keys/balance" | tail -1)
    row "$backend: GET /api/v1/api-keys/balance (16 conns)" "$balance" "$server" >>"$OUT/results.md"
    reset_peak_rss "$server"
    cycles=$(BENCH_TOKENS="$OUT/tokens" wrk -t4 -c4 -d"$DURATION" -s "$BENCH_DIR/create-delete.lua" "http://$KEYWARDEN" | tail -1)
    row "$backend: POST create / DELETE cycles (4 users)" "$cycles" "$server" >>"$OUT/results.md"
    overhead=$(python3 "$BENCH_DIR/create_overhead.py" "$KEYWARDEN" "$EXCHANGE" "$creator")
    echo "| $backend: create, one at a time: p50 $(json "$overhead" create_p50_ms) ms, p99 $(json "$overhead" create_p99_ms) ms; exchange's two calls p50 $(json "$overhead" exchange_p50_ms) ms; **own overhead p50 $(json "$overhead" overhead_p50_ms) ms** | | | | | | | |" >>"$OUT/results.md"
    reset_peak_rss "$server"
    login=$(wrk -t2 -c8 -d"$DURATION" -s "$BENCH_DIR/login.lua" "http://$KEYWARDEN/api/v1/auth/login" | tail -1)
    row "$backend: POST /api/v1/auth/login (8 conns)" "$login" "$server" >>"$OUT/results.md"
    # GET /me again, beside a login flood at full argon2 cost.
    reset_peak_rss "$server"
    wrk -t1 -c16 -d"$DURATION" -s "$BENCH_DIR/login.lua" "http://$KEYWARDEN/api/v1/auth/login" >/dev/null &
    flood=$!
    sleep 1
    beside=$(wrk -t2 -c64 -d"$DURATION" "${auth[@]}" -s "$BENCH_DIR/plain.lua" "http://$KEYWARDEN/api/v1/api-keys/me" | tail -1)
    wait "$flood"
    row "$backend: GET /api/v1/api-keys/me beside a login flood" "$beside" "$server" >>"$OUT/results.md"
  fi
  # The gateway beside the same requests sent straight to the exchange by a client that signs
  # itself, 32 connections each: a signed read, a LIMIT order/test, and real MARKET orders
  # spread over 200 bots (each may place 600 a minute). Each pair runs flat out (the rate; the
  # latency is then mostly the queue of 32) and paced, each connection sending one request
  # every $PACE_MS ms (~1,600 a second, below saturation): the latency a request itself takes.
  bot_tokens="$OUT/bot-tokens-$backend"
  # An account may hold 100 bots: two accounts with the same Binance key hold 99 and 100.
  python3 "$BENCH_DIR/seed_bots.py" "$KEYWARDEN" "$reader" 99 >"$bot_tokens"
  python3 "$BENCH_DIR/seed_bots.py" "$KEYWARDEN" "$second" 100 >>"$bot_tokens"
  order_test="symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=60000"
  buy="symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001"
  sell="symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.001"
  signed() { python3 "$BENCH_DIR/signed.py" "$DEMO_SECRET" "$1"; }
  paces=("" "$PACE_MS")
  compare() { # label, wrk script, URL straight to the exchange, gateway URL; env in direct_env, via_env
    # Runs once flat out and once paced (or as $paces says); with a fifth argument (seconds),
    # the paced run first waits that long.
    local label=$1 script=$2 direct_url=$3 via_url=$4 settle=${5:-} pace direct via how
    for pace in "${paces[@]}"; do
      [ -n "$pace" ] && [ -n "$settle" ] && sleep "$settle"
      direct=$(env "${direct_env[@]}" BENCH_PACE_MS="$pace" wrk -t2 -c32 -d"$DURATION" -s "$BENCH_DIR/$script" "$direct_url" | tail -1)
      reset_peak_rss "$server"
      via=$(env "${via_env[@]}" BENCH_PACE_MS="$pace" wrk -t2 -c32 -d"$DURATION" -s "$BENCH_DIR/$script" "$via_url" | tail -1)
      how="32 conns"; [ -n "$pace" ] && how="32 conns, each paced at one per $pace ms"
      row "$backend: gateway $label ($how)" "$via" "$server" >>"$OUT/results.md"
      echo "| $backend: straight to the exchange, $label ($how): $(json "$direct" rps) req/s, p50 $(json "$direct" p50_ms) ms, p99 $(json "$direct" p99_ms) ms; **gateway adds p50 $(python3 -c "print(round($(json "$via" p50_ms) - $(json "$direct" p50_ms), 3))") ms, p99 $(python3 -c "print(round($(json "$via" p99_ms) - $(json "$direct" p99_ms), 3))") ms** | | | | | | | |" >>"$OUT/results.md"
    done
  }
  if [ "$ONLY" != real-orders ]; then
    direct_env=(BENCH_METHOD=GET BENCH_API_KEY="$DEMO_KEY")
    via_env=(BENCH_METHOD=GET BENCH_API_KEY="$bot_token")
    compare "GET /api/v3/account" gateway.lua "http://$EXCHANGE/api/v3/account?$(signed "")" \
      "http://$KEYWARDEN/gateway/binance/api/v3/account"
    direct_env=(BENCH_METHOD=POST BENCH_BODY="$(signed "$order_test")" BENCH_API_KEY="$DEMO_KEY")
    via_env=(BENCH_METHOD=POST BENCH_BODY="$order_test" BENCH_API_KEY="$bot_token")
    compare "POST /api/v3/order/test" gateway.lua "http://$EXCHANGE/api/v3/order/test" \
      "http://$KEYWARDEN/gateway/binance/api/v3/order/test"
  fi
  direct_env=(BENCH_PATH=/api/v3/order BENCH_BUY="$(signed "$buy")" BENCH_SELL="$(signed "$sell")" BENCH_API_KEY="$DEMO_KEY")
  via_env=(BENCH_PATH=/gateway/binance/api/v3/order BENCH_BUY="$buy" BENCH_SELL="$sell" BENCH_TOKENS="$bot_tokens")
  if [ "$ONLY" = real-orders ]; then
    # 32 connections at one per 20 ms spread over 199 bots stay within each bot's 600 a minute.
    paces=()
    for _ in $(seq "$RUNS"); do paces+=("$PACE_MS"); done
    compare "POST /api/v3/order, MARKET" orders.lua "http://$EXCHANGE" "http://$KEYWARDEN"
  else
    # The flat-out run may use up most of each bot's 600 orders of the minute: the paced run
    # starts once they are out of the window, or it would measure the refusals.
    compare "POST /api/v3/order, MARKET" orders.lua "http://$EXCHANGE" "http://$KEYWARDEN" 61
  fi
  echo "| $backend: process start to /readyz 200 | $ready_ms ms | | | | | | |" >>"$OUT/results.md"
  kill "$server"; wait "$server" 2>/dev/null || true
done

if [ -f target/site/pkg/keywarden.wasm ]; then
  printf '\n' >>"$OUT/results.md"
  .tools/venv/bin/python end2end/bench/wasm_sizes.py target/site/pkg >>"$OUT/results.md"
fi
cat "$OUT/results.md"
