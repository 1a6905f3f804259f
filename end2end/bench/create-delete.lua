-- Each wrk thread (one connection each) owns one user, read from BENCH_TOKENS (one per line),
-- and alternates creating that user's key (checked with the fake exchange) and deleting it.
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local next_thread = 1

setup = function(thread)
  thread:set("token", tokens[next_thread])
  next_thread = next_thread + 1
end

local create = true
request = function()
  local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  local r
  if create then
    r = wrk.format("POST", "/api/v1/api-keys/", headers,
      '{"api_key":"vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",' ..
      '"secret_key":"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"}')
  else
    r = wrk.format("DELETE", "/api/v1/api-keys/me", headers)
  end
  create = not create
  return r
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
