-- wrk script of the bench suite: sends the logged-in session's cookies, optionally
-- "Connection: close", and prints one machine-readable line with the latency percentiles.
-- BENCH_THINK_MS: each connection waits a random time (exponential, this mean) before its
-- next request, as a person reading the page does; latency is counted from the request out.
local cookie = os.getenv("BENCH_COOKIE") or ""
if cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end
if os.getenv("BENCH_CONNECTION_CLOSE") == "1" then
  wrk.headers["Connection"] = "close"
end
local think_ms = tonumber(os.getenv("BENCH_THINK_MS") or "0") or 0
if think_ms > 0 then
  -- The same think times in every run (the states compared see the same pauses), and a
  -- sequence of its own in each wrk thread.
  local threads = 0
  setup = function(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
  end
  init = function(args)
    math.randomseed(17 + 7919 * (thread_number or 0))
  end
  delay = function()
    return math.floor(-think_ms * math.log(1 - math.random()))
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%f,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
