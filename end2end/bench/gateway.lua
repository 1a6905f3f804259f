-- A Binance client's request: BENCH_METHOD, an optional form body BENCH_BODY, and
-- X-MBX-APIKEY: BENCH_API_KEY (a bot token at the gateway, the key itself at the exchange).
wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.body = os.getenv("BENCH_BODY")
if wrk.body then
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
wrk.headers["X-MBX-APIKEY"] = os.getenv("BENCH_API_KEY")
dofile(os.getenv("BENCH_DIR") .. "/report.lua")
