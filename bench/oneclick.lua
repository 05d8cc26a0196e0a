-- wrk script for bench/unsubscribe.py. Arguments: TOKENS_FILE NTHREADS, or "-" for the
-- GET /healthz baseline. Each wrk thread POSTs its own share of the tokens (one per subscriber),
-- in order, wrapping around only if the run outlasts them (a repeated one-click is idempotent).
-- done() prints one JSON line the bench reads.
local threads, counter = {}, 0
local tokens, n = {}, 0
local healthz = false
issued = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  if args[1] == "-" then
    healthz = true
    return
  end
  local nthreads, k = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    if k % nthreads == id then
      n = n + 1
      tokens[n] = line
    end
    k = k + 1
  end
end

local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }

function request()
  issued = issued + 1
  if healthz then
    return wrk.format("GET", "/healthz")
  end
  local token = tokens[((issued - 1) % n) + 1]
  return wrk.format("POST", "/unsubscribe/" .. token, headers, "List-Unsubscribe=One-Click")
end

function done(summary, latency, requests)
  local total, most = 0, 0
  for _, t in ipairs(threads) do
    local k = t:get("issued")
    total = total + k
    if k > most then most = k end
  end
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d, "issued": %d, "most_issued_by_one_thread": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), total, most))
end
