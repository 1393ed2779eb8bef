-- wrk script for bench/coupons.py: POST <path> (a coupon grab) as many members, round robin.
-- Usage: wrk -t1 -c200 -d10s -s bench/coupons.lua http://127.0.0.1:PORT -- <path> <tokens file> <run tag>
-- Thread i takes the members on lines i, i+T, ...; every request carries a fresh Idempotency-Key.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  local path = args[1]
  run = args[3] or "run"
  reqs = {}
  local n = 0
  for token in io.lines(args[2]) do
    if n % nthreads == id then
      local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json",
                       ["Idempotency-Key"] = "@KEY@"}
      local req = wrk.format("POST", path, headers, "{}")
      local at = req:find("@KEY@", 1, true)
      reqs[#reqs + 1] = {req:sub(1, at - 1), req:sub(at + 5)}
    end
    n = n + 1
  end
  pos = 0
  sent = 0
  created, refused, other = 0, 0, 0
end

function request()
  pos = pos % #reqs + 1
  sent = sent + 1
  local r = reqs[pos]
  return r[1] .. string.format("%s-%d-%010d", run, id, sent) .. r[2]
end

function response(status, headers, body)
  if status == 201 or status == 200 then
    created = created + 1
  elseif status == 409 then
    refused = refused + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local c, r, o = 0, 0, 0
  for _, th in ipairs(threads) do
    c = c + th:get("created")
    r = r + th:get("refused")
    o = o + th:get("other")
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "created": %d, "refused": %d, "other": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    c, r, o, latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000))
end
