# Sourced by run.sh and link_order.sh: the addresses, the PostgreSQL server the benchmark's
# databases are made on, the fake exchange's demo account, and the release server started as
# the benchmarks run it. Expects BIN (target/release) and OUT.
EXCHANGE=127.0.0.1:3920
KEYWARDEN=127.0.0.1:3021
PG_ADMIN="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
# The fake exchange's demo account (Binance's documented HMAC example key).
DEMO_KEY=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A
DEMO_SECRET=NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j

wait_for() { for _ in $(seq 1 "${2:-500}"); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.01; done; echo "no answer from $1" >&2; exit 1; }

# database_url BACKEND NAME: a fresh database of that name, on SQLite (a file in $OUT) or on
# PostgreSQL (created through $PG_ADMIN); prints its URL.
database_url() {
  if [ "$1" = sqlite ]; then
    echo "sqlite://$OUT/$2.db"
  else
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $2 WITH (FORCE)" -c "CREATE DATABASE $2" >&2
    echo "${PG_ADMIN%/*}/$2"
  fi
}

# start_keywarden DATABASE_URL LOG [WRAPPER...]: serves on $KEYWARDEN against the fake exchange,
# with the abuse limits out of the way; the server's pid is in $! afterwards.
start_keywarden() {
  local database_url=$1 log=$2
  shift 2
  env DATABASE_URL="$database_url" KEYWARDEN_ADDR="$KEYWARDEN" KEYWARDEN_DATA_DIR="$OUT/data" \
    FERNET_KEYS="$("$BIN/keywarden" gen-key)" JWT_SECRET="benchmark-jwt-secret-of-enough-length-0123" \
    JWT_EXPIRES_MINUTES=120 BINANCE_BASE_URL="http://$EXCHANGE" BINANCE_TESTNET_BASE_URL="http://$EXCHANGE" \
    KEYWARDEN_LOGIN_FAILURES_PER_IP=1000000 KEYWARDEN_LOGIN_FAILURES_PER_ACCOUNT=1000000 \
    KEYWARDEN_REGISTRATIONS_PER_IP=1000000 \
    KEYWARDEN_MAX_IN_FLIGHT=100000 KEYWARDEN_MAX_IN_FLIGHT_PER_ADDRESS=100000 \
    KEYWARDEN_BINANCE_CALLS_PER_MINUTE=100000000 \
    "$@" "$BIN/keywarden" serve >"$log" 2>&1 &
}

# sign_up N: registers benchN@example.com (the account login.lua signs in to is bench0) and
# prints its access token.
sign_up() {
  local body="{\"email\":\"bench$1@example.com\",\"password\":\"benchmark password\"}"
  curl -fs -X POST "http://$KEYWARDEN/api/v1/auth/register" -H 'content-type: application/json' -d "$body" >/dev/null
  curl -fs -X POST "http://$KEYWARDEN/api/v1/auth/login" -H 'content-type: application/json' -d "$body" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"
}

# store_demo_key TOKEN: stores the demo key pair as the user's key.
store_demo_key() {
  curl -fs -X POST "http://$KEYWARDEN/api/v1/api-keys/" -H "authorization: Bearer $1" \
    -H 'content-type: application/json' \
    -d "{\"api_key\":\"$DEMO_KEY\",\"secret_key\":\"$DEMO_SECRET\"}" >/dev/null
}
