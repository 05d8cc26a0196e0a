-- wrk script for bench/track.py. Arguments: PATHS_FILE NTHREADS, or "-" for GET /healthz.
-- Each wrk thread GETs its own share of the paths (one per reader: a tracked link or the open
-- pixel), in order, wrapping around only if the run outlasts them, with a desktop browser's
-- User-Agent (a reader, as far as the request shows). done() prints one JSON line.
local threads, counter = {}, 0
local paths, n = {}, 0
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
      paths[n] = line
    end
    k = k + 1
  end
end

local headers = {
  ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    .. "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
}

function request()
  issued = issued + 1
  if healthz then
    return wrk.format("GET", "/healthz", headers)
  end
  return wrk.format("GET", paths[((issued - 1) % n) + 1], headers)
end

function done(summary, latency, requests)
  local total, most = 0, 0
  for _, t in ipairs(threads) do
    local k = t:get("issued")
    total = total + k
    if k > most then most = k end
  end
  -- wrk counts answers of status >= 400 as status errors: 302 and 200 are answers.
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, '
      .. '"p50_us": %d, "p99_us": %d, "issued": %d, "most_issued_by_one_thread": %d}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), total, most))
end
