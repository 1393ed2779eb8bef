"""The Lua source of the coupon scripts (kept apart from live.py so each file stays readable).

Shared helpers first: `tick` brings a batch's waves up to date inside the calling script (a wave that
has opened gets its allotment; leftovers of a wave that has closed move to the common pool), so the
decision never depends on a per-process timer or cache: every grab sees the state `now` implies.
Every move of stock is appended to the grants stream as an `r` entry, which the flusher audits.
"""

from __future__ import annotations

# A batch's meta hash: status (open|closed), org, waves "s-e;s-e" (ms, sorted, disjoint), buckets
# "c1,c2" (the direct sub-orgs), opened / closed (highest wave allotted / whose leftovers moved).
_HELPERS = """
local function parse_waves(spec)
  local out = {}
  for s, e in string.gmatch(spec, '(%d+)-(%d+)') do out[#out + 1] = {tonumber(s), tonumber(e)} end
  return out
end
local function parse_buckets(spec)
  local out = {}
  for b in string.gmatch(spec, '[^,]+') do out[#out + 1] = b end
  return out
end
local function num(v) return tonumber(v or '0') or 0 end
local function move_leftovers(stock, stream, batch, j, bs, now)
  local moved, parts = 0, {}
  for _, b in ipairs(bs) do
    local left = num(redis.call('HGET', stock, b))
    if left > 0 then
      redis.call('HSET', stock, b, 0)
      moved = moved + left
      parts[#parts + 1] = b .. ':' .. left
    end
  end
  if moved > 0 then redis.call('HINCRBY', stock, '_pool', moved) end
  redis.call('XADD', stream, '*', 'g', table.concat({'r', batch, j, moved, table.concat(parts, ','), now}, '\\t'))
end
local function tick(meta, alloc, stock, stream, batch, now, ws, bs)
  local opened = num(redis.call('HGET', meta, 'opened'))
  local closed = num(redis.call('HGET', meta, 'closed'))
  local o0, c0 = opened, closed
  for j = opened + 1, #ws do
    if ws[j][1] > now then break end
    if closed < opened then
      move_leftovers(stock, stream, batch, opened, bs, now)
      closed = opened
    end
    if now < ws[j][2] then
      for _, b in ipairs(bs) do redis.call('HSET', stock, b, num(redis.call('HGET', alloc, j .. ':' .. b))) end
      redis.call('HINCRBY', stock, '_pool', num(redis.call('HGET', alloc, j .. ':_pool')))
    else
      -- the wave passed while nobody looked: all of its allotment is a leftover
      local total = num(redis.call('HGET', alloc, j .. ':_pool'))
      for _, b in ipairs(bs) do total = total + num(redis.call('HGET', alloc, j .. ':' .. b)) end
      redis.call('HINCRBY', stock, '_pool', total)
      redis.call('XADD', stream, '*', 'g', table.concat({'r', batch, j, total, 'unopened:' .. total, now}, '\\t'))
      closed = j
    end
    opened = j
  end
  if opened > 0 and closed < opened and now >= ws[opened][2] then
    move_leftovers(stock, stream, batch, opened, bs, now)
    closed = opened
  end
  if opened ~= o0 or closed ~= c0 then redis.call('HSET', meta, 'opened', opened, 'closed', closed) end
  return opened, closed
end
"""

# KEYS: meta, alloc, stock, served, stream, then the idempotency key when there is one (an empty
# key name would hash to another slot: Redis Cluster refuses the script)
# ARGV: batch, member, now ms, ",org,path,", openid, member's org
GRAB = (
    _HELPERS
    + """
local meta, alloc, stock, served, stream, idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6] or ''
local batch, member, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
if idem ~= '' and redis.call('EXISTS', idem) == 1 then
  return {'replay', redis.call('HGET', served, member) or ''}
end
local m = redis.call('HMGET', meta, 'status', 'org', 'waves', 'buckets')
if not m[1] then return {'nometa'} end
if m[1] ~= 'open' then return {'closed'} end
if not string.find(ARGV[4], ',' .. m[2] .. ',', 1, true) then return {'audience'} end
local prev = redis.call('HGET', served, member)
if prev then return {'served', prev} end
local ws, bs = parse_waves(m[3]), parse_buckets(m[4])
tick(meta, alloc, stock, stream, batch, now, ws, bs)
local wave = 0
for j = 1, #ws do
  if ws[j][1] <= now and now < ws[j][2] then wave = j end
end
if wave == 0 then
  for j = 1, #ws do
    if ws[j][1] > now then return {'early', tostring(ws[j][1])} end
  end
  return {'ended'}
end
local mine = ''
for _, b in ipairs(bs) do
  if string.find(ARGV[4], ',' .. b .. ',', 1, true) then mine = b end
end
local src = ''
if mine ~= '' and num(redis.call('HGET', stock, mine)) > 0 then src = mine
elseif num(redis.call('HGET', stock, '_pool')) > 0 then src = '_pool' end
local function left(b) if b == '' then return 0 end return num(redis.call('HGET', stock, b)) end
if src == '' then return {'soldout', mine, left(mine), left('_pool')} end
redis.call('HINCRBY', stock, src, -1)
redis.call('HINCRBY', stock, 'got:' .. src, 1)
redis.call('HINCRBY', stock, '_granted', 1)
redis.call('HSET', served, member, 'p\\t' .. src .. '\\t' .. wave)
local id = 'cpn:' .. batch .. ':' .. member
local entry = {'g', id, batch, member, ARGV[6], ARGV[4], src, wave, now, ARGV[5]}
redis.call('XADD', stream, '*', 'g', table.concat(entry, '\\t'))
if idem ~= '' then redis.call('SET', idem, '1', 'EX', 900) end
return {'ok', src, mine, left(mine), left('_pool'), tostring(wave)}
"""
)

# Only brings the waves up to date (a worker's or editor's view between grabs). KEYS: meta, alloc, stock,
# stream. ARGV: batch, now ms.
TICK = (
    _HELPERS
    + """
local m = redis.call('HMGET', KEYS[1], 'status', 'waves', 'buckets')
if not m[1] then return {0, 0} end
local ws, bs = parse_waves(m[2]), parse_buckets(m[3])
local o, c = tick(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], tonumber(ARGV[2]), ws, bs)
return {o, c}
"""
)

# The risk verdict after a grant: the member's state and a `v` stream entry, in one step.
# KEYS: served, stream. ARGV: batch, member, state (g|h|u), rank, reason
VERDICT = """
local prev = redis.call('HGET', KEYS[1], ARGV[2])
if not prev or string.sub(prev, 1, 1) ~= 'p' then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. string.sub(prev, 2))
local entry = {'v', 'cpn:' .. ARGV[1] .. ':' .. ARGV[2], ARGV[3], ARGV[4], ARGV[5]}
redis.call('XADD', KEYS[2], '*', 'g', table.concat(entry, '\\t'))
return 1
"""

# An editor's review changes the member's state letter (h -> g released, -> x revoked). KEYS: served.
# ARGV: member, new state letter.
RESTATE = """
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if not prev then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. string.sub(prev, 2))
return 1
"""

# A revoked coupon goes back to the common pool, once (the ledger's guarded revoke decides "once").
# KEYS: stock. ARGV: none
GIVE_BACK = """
redis.call('HINCRBY', KEYS[1], '_pool', 1)
redis.call('HINCRBY', KEYS[1], '_revoked', 1)
return 1
"""
