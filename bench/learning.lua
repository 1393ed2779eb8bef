-- wrk script for bench/learning.py: video heartbeats of many learners at a paced rate.
-- Usage: wrk -t2 -c72 -d30s -s bench/learning.lua URL -- <path> <tokens file> <rate per second, all threads>
-- Paced like wrk2: request k of a thread is due at start + k / (rate / threads); a connection waits for its
-- slot (delay()), and sends at once when behind, so slow answers do not lower the offered rate.
-- Thread i takes the learners on lines i, i+T, ...; each request is the next learner's next 15 s segment,
-- so with N learners at R requests/s every learner beats every N/R seconds (14.3 s for 10,000 at 700/s).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } bench_timeval;
int gettimeofday(bench_timeval *tv, void *tz);
]]
local tv = ffi.new("bench_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  path = args[1]
  interval = 1000 * nthreads / tonumber(args[3])
  started, slot = nil, 0
  learners, beats = {}, {}
  local n = 0
  for token in io.lines(args[2]) do
    if n % nthreads == id then
      learners[#learners + 1] = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
      beats[#beats + 1] = 0
    end
    n = n + 1
  end
  pos = 0
  ok, other = 0, 0
end

function delay()
  local t = now_ms()
  if started == nil then started = t end
  slot = slot + 1
  local wait = started + slot * interval - t
  if wait < 1 then return 0 end
  return math.floor(wait)
end

function request()
  pos = pos % #learners + 1
  local k = beats[pos]
  beats[pos] = k + 1
  local body = string.format('{"from":%d,"to":%d}', k * 15, k * 15 + 15)
  return wrk.format("POST", path, learners[pos], body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local o, x = 0, 0
  for _, th in ipairs(threads) do
    o = o + th:get("ok")
    x = x + th:get("other")
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "ok": %d, "other": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    o, x, latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
