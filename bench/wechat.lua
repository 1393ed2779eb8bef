-- wrk script: replays pre-signed, pre-encrypted WeChat callback requests, each exactly once.
-- Usage: wrk -t2 -c64 -d6s -s bench/wechat.lua http://127.0.0.1:PORT -- requests.tsv
-- requests.tsv: one request per line, "<path?query>\t<body>". Thread i takes lines i, i+T, ...
-- WRK_CHECK=1 also reads every answer (status 200 and an encrypted reply): a verification pass.
-- Without it wrk never hands answers to Lua (no response() defined), which costs the load
-- generator ~10 us less per request on cores it shares with the servers; HTTP errors are still
-- counted by wrk itself (summary.errors.status).
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  reqs = {}
  wrapped = 0
  bad = 0
  last_bad = 0
  replied = 0
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1")
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then
      local tab = line:find("\t", 1, true)
      local path, body = line:sub(1, tab - 1), line:sub(tab + 1)
      reqs[#reqs + 1] = wrk.format("POST", path, {["Content-Type"] = "text/xml"}, body)
    end
    i = i + 1
  end
  pos = 0
end

function request()
  pos = pos + 1
  if pos > #reqs then
    pos = 1
    wrapped = wrapped + 1
  end
  return reqs[pos]
end

if os.getenv("WRK_CHECK") == "1" then
  function response(status, headers, body)
    if status ~= 200 then
      bad = bad + 1
      last_bad = status
    elseif body:find("<Encrypt>", 1, true) then
      replied = replied + 1
    end
  end
end

function done(summary, latency, requests)
  local w, b, r, lb = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    w = w + t:get("wrapped")
    b = b + t:get("bad")
    r = r + t:get("replied")
    if t:get("last_bad") ~= 0 then lb = t:get("last_bad") end
  end
  local e = summary.errors
  if os.getenv("WRK_CHECK") ~= "1" then b = b + e.status end  -- (checking, response() counted them)
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "non200": %d, "replied": %d, "wrapped": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "last_bad_status": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout,
    b, r, w, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000, lb,
    e.connect, e.read, e.write, e.timeout))
end
