-- wrk script for bench/ballots.py: POST /api/mp/polls/<id>/ballots as many users, round robin.
-- Usage: wrk -t2 -c200 -d10s -s bench/ballots.lua http://127.0.0.1:PORT -- <path> <tokens file> <options> <run tag>
-- Thread i takes the users on lines i, i+T, ...; user n always picks option o((n mod options) + 1).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  local path, options = args[1], tonumber(args[3])
  run = args[4] or "run"  -- distinct per wrk run: the warm-up's keys must not make the run's ballots replays
  reqs = {}
  local n = 0
  for token in io.lines(args[2]) do
    if n % nthreads == id then
      local body = string.format('{"options":["o%d"]}', n % options + 1)
      local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
                       ["Idempotency-Key"] = "@KEY@"}
      local req = wrk.format("POST", path, headers, body)
      local at = req:find("@KEY@", 1, true)
      reqs[#reqs + 1] = {req:sub(1, at - 1), req:sub(at + 5)}
    end
    n = n + 1
  end
  pos = 0
  sent = 0
  created, limited, throttled, other = 0, 0, 0, 0
end

function request()
  -- Every ballot carries a fresh Idempotency-Key, as the mini-program sends one per tap.
  pos = pos % #reqs + 1
  sent = sent + 1
  local r = reqs[pos]
  return r[1] .. string.format("%s-%d-%010d", run, id, sent) .. r[2]
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 409 then
    limited = limited + 1
  elseif status == 429 then
    throttled = throttled + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, l, t, o = 0, 0, 0, 0
  for _, th in ipairs(threads) do
    c = c + th:get("created")
    l = l + th:get("limited")
    t = t + th:get("throttled")
    o = o + th:get("other")
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "created": %d, "limited": %d, "throttled": %d, ' ..
    '"other": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    c, l, t, o, latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
