-- wrk script for infra/loadgen.py: stop after a request budget, print the result as JSON.
-- wrk's own duration always spans the whole --duration, so the script times the run itself
-- (first response to budget reached) with `date`, called twice per run, off the hot path.
local threads = {}
budget = 0
seen = 0
t_first = 0
t_last = 0

local function now_us()
  local pipe = io.popen("date +%s%6N")
  local value = tonumber(pipe:read("*l"))
  pipe:close()
  return value
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  budget = tonumber(args[1])
end

function response(status, headers, body)
  seen = seen + 1
  if seen == 1 then
    t_first = now_us()
  elseif seen >= budget then
    t_last = now_us()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local t = threads[1]
  local elapsed = summary.duration
  local counted = summary.requests
  if t:get("t_last") > 0 then
    elapsed = t:get("t_last") - t:get("t_first")
    counted = t:get("seen") - 1
  end
  io.write(string.format(
    '{"requests":%d,"timed_requests":%d,"elapsed_us":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, counted, elapsed, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
