-- Prints one JSON line with the run's figures; wrk calls done() once at the end. With
-- BENCH_PACE_MS set, each connection waits that long before each request: a steady load
-- below saturation, where latency shows the time a request takes rather than its queue.
local pace_ms = tonumber(os.getenv("BENCH_PACE_MS") or "")
if pace_ms then
  delay = function() return pace_ms end
end

done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests":%d,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"p999_ms":%.3f,"errors":%d}\n',
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, errors))
end
