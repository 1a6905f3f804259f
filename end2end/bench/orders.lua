-- Real orders: MARKET, BUY and SELL in turn so the balances stay where they are. Straight to
-- the exchange, BENCH_BUY and BENCH_SELL are bodies the client signed itself, sent with
-- BENCH_API_KEY; at the gateway they are plain, and each request carries the next of
-- BENCH_TOKENS' bot tokens (a bot may place 600 orders a minute, so the load is spread).
local tokens = {}
if os.getenv("BENCH_TOKENS") then
  for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
end
local api_key = os.getenv("BENCH_API_KEY")
local path = os.getenv("BENCH_PATH")
local bodies = { os.getenv("BENCH_BUY"), os.getenv("BENCH_SELL") }
local next_thread = 0

setup = function(thread)
  thread:set("offset", next_thread * 7919)
  next_thread = next_thread + 1
end

local sent = 0
request = function()
  sent = sent + 1
  local key = api_key
  if #tokens > 0 then key = tokens[(sent + offset) % #tokens + 1] end
  local headers = { ["X-MBX-APIKEY"] = key, ["Content-Type"] = "application/x-www-form-urlencoded" }
  return wrk.format("POST", path, headers, bodies[sent % 2 + 1])
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
