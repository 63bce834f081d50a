-- POST batches of BENCH_BATCH usage events (default 1000) with the API key in
-- BENCH_API_KEY. Every event has an idempotency key no other event has:
-- <run>-<thread>-<request>-<event>. Each request carries X-Request-Id <run>-<thread>-<request>,
-- and every request answered 202 is written, one id a line, to
-- BENCH_ACCEPTED_DIR/<thread>.txt, so the benchmark knows exactly which events were
-- accepted (a request still in flight when wrk stops may be accepted unseen).
-- BENCH_DELAY_MS (default 0) pauses each connection between requests: a lower rate.
local run = os.getenv("BENCH_RUN") or "bench"
local batch = tonumber(os.getenv("BENCH_BATCH") or "1000")
local delay_ms = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local accepted_dir = os.getenv("BENCH_ACCEPTED_DIR")
local threads_started = 0

function setup(thread)
  threads_started = threads_started + 1
  thread:set("thread_id", threads_started)
end

local counter = 0
local out = nil

function init(args)
  if accepted_dir then
    out = io.open(accepted_dir .. "/" .. thread_id .. ".txt", "a")
  end
end

function request()
  counter = counter + 1
  local id = run .. "-" .. thread_id .. "-" .. counter
  local events = {}
  for i = 1, batch do
    events[i] = '{"event_type":"pos.transaction","quantity":1,"idempotency_key":"'
      .. id .. "-" .. i .. '"}'
  end
  local body = '{"events":[' .. table.concat(events, ",") .. "]}"
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-API-Key"] = os.getenv("BENCH_API_KEY"),
    ["X-Request-Id"] = id,
  }
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  if status == 202 and out then
    out:write(headers["X-Request-Id"] .. "\n")
    out:flush()
  end
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end
