-- wrk script for bench/signups.py: POST /api/mp/activities/<id>/signups, every request a new sign-up.
-- Usage: wrk -t2 -c200 -d10s -s bench/signups.lua http://127.0.0.1:PORT -- <path> <tokens file> <sessions>
-- The (user, session) pairs are dealt round robin to the threads, user by user; each pair is sent once
-- (a pair sent again would be answered 200 with the existing sign-up, counted as `repeated`).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  local path, sessions = args[1], tonumber(args[3])
  reqs = {}
  local n = 0
  for token in io.lines(args[2]) do
    local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
    for s = 1, sessions do
      if n % nthreads == id then
        local body = string.format('{"session_id":"s%d","form":{"phone":"13800138000"}}', s)
        reqs[#reqs + 1] = wrk.format("POST", path, headers, body)
      end
      n = n + 1
    end
  end
  pos = 0
  created, repeated, refused, other = 0, 0, 0, 0
end

function request()
  pos = pos % #reqs + 1
  return reqs[pos]
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  elseif status == 200 then
    repeated = repeated + 1
  elseif status == 409 or status == 429 then
    refused = refused + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, r, f, o = 0, 0, 0, 0
  for _, th in ipairs(threads) do
    c = c + th:get("created")
    r = r + th:get("repeated")
    f = f + th:get("refused")
    o = o + th:get("other")
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "created": %d, "repeated": %d, "refused": %d, ' ..
    '"other": %d, "p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    c, r, f, o, latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
