"""The Lua scripts that decide sign-ups in Redis: each is one atomic step, so no limit is count-then-insert.

Keys of activity A share the prefix `P = mp:act:{A}:` (one hash tag, one cluster slot):
  P meta          hash   cap:<session> -> capacity, wl (1/0), wl_limit (-1: none), per_user, exp (unix s)
  P seq           string arrival sequence: the order the server decided, for ids and the waitlist
  P n:<session>   string confirmed count
  P w:<session>   zset   waitlist: sign-up id scored by its sequence (first in, first promoted)
  P u:<openid>    hash   session -> sequence of the user's active (confirmed or waitlisted) sign-up
  P su:<seq>      hash   the sign-up itself (status, times, form, version `v`, flushed version `fv`)
Global: `mp:su:dirty` (zset of sign-up ids whose latest version is not yet in MongoDB), `mp:su:notify`
(stream of confirmations to send), `mp:u:<openid>:recent` (the user's latest sign-up ids).
A script that finds no `meta` answers `nostate`: Redis lost the activity, and the caller rebuilds it
from MongoDB (services.signups.ensure_state) before trying again.
"""

from __future__ import annotations

from storage.ratelimit import LUA_CHECK

LIB = """
local DIRTY, NOTIFY = 'mp:su:dirty', 'mp:su:notify'
local function mark(id, now) redis.call('ZADD', DIRTY, 'NX', now, id) end
local function notify(id, kind) redis.call('XADD', NOTIFY, 'MAXLEN', '~', 100000, '*', 'id', id, 'kind', kind) end
local function bump(h, now) redis.call('HSET', h, 'updated_at', now); redis.call('HINCRBY', h, 'v', 1) end
local function seq_of(id) return string.match(id, '-(%d+)$') end
local function promote(P, sid, now)
  local cap = tonumber(redis.call('HGET', P .. 'meta', 'cap:' .. sid) or '0')
  local nkey, wkey = P .. 'n:' .. sid, P .. 'w:' .. sid
  local out = {}
  while tonumber(redis.call('GET', nkey) or '0') < cap do
    local first = redis.call('ZPOPMIN', wkey)
    if #first == 0 then break end
    local id = first[1]
    local h = P .. 'su:' .. seq_of(id)
    redis.call('HSET', h, 'status', 'confirmed', 'promoted_at', now)
    bump(h, now)
    redis.call('INCR', nkey)
    mark(id, now)
    notify(id, 'promoted')
    out[#out + 1] = id
  end
  return out
end
"""

# KEYS: meta, the user's rate-limit windows (current, previous; storage.ratelimit)
# ARGV: P, activity id, session id, openid, now ms, form json, remind_at ms or '', member_id, org, unionid,
#       rate weight, rate limit (sign-up requests per user per window; counted only when let through)
SIGN_UP = (
    LUA_CHECK
    + LIB
    + """
local P, aid, sid, uid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local meta = P .. 'meta'
if redis.call('EXISTS', meta) == 0 then return {'nostate'} end
if rl_check(2, {tonumber(ARGV[12])}, tonumber(ARGV[11]), 121) > 0 then return {'rate'} end
local cap = redis.call('HGET', meta, 'cap:' .. sid)
if not cap then return {'nosession'} end
local ukey, nkey, wkey = P .. 'u:' .. uid, P .. 'n:' .. sid, P .. 'w:' .. sid
local have = redis.call('HGET', ukey, sid)
if have then
  local id = aid .. '-' .. have
  local status = redis.call('HGET', P .. 'su:' .. have, 'status')
  local rank = redis.call('ZRANK', wkey, id)
  return {'dup', id, status, rank and (rank + 1) or 0}
end
local per_user = tonumber(redis.call('HGET', meta, 'per_user'))
if redis.call('HLEN', ukey) >= per_user then return {'limit', tostring(per_user)} end
local status = 'confirmed'
if tonumber(redis.call('GET', nkey) or '0') >= tonumber(cap) then
  if redis.call('HGET', meta, 'wl') ~= '1' then return {'full'} end
  local wl_limit = tonumber(redis.call('HGET', meta, 'wl_limit'))
  if wl_limit >= 0 and redis.call('ZCARD', wkey) >= wl_limit then return {'wlfull'} end
  status = 'waitlisted'
end
local seq = redis.call('INCR', P .. 'seq')
local id = aid .. '-' .. seq
local h = P .. 'su:' .. seq
redis.call('HSET', h, 'id', id, 'aid', aid, 'sid', sid, 'uid', uid, 'status', status, 'seq', seq, 'v', 1,
  'created_at', now, 'updated_at', now, 'form', ARGV[6], 'remind_at', ARGV[7], 'member_id', ARGV[8],
  'org', ARGV[9], 'unionid', ARGV[10])
local pos = 0
if status == 'confirmed' then
  redis.call('INCR', nkey)
else
  redis.call('ZADD', wkey, seq, id)
  pos = redis.call('ZRANK', wkey, id) + 1
end
redis.call('HSET', ukey, sid, seq)
local exp = redis.call('HGET', meta, 'exp')
for _, k in ipairs({h, ukey, nkey, wkey, P .. 'seq'}) do redis.call('EXPIREAT', k, exp) end
mark(id, now)
notify(id, status)
local recent = 'mp:u:' .. uid .. ':recent'
redis.call('LPUSH', recent, id)
redis.call('LTRIM', recent, 0, 49)
redis.call('EXPIRE', recent, 2592000)
return {status, id, status, pos}
"""
)

# ARGV: P, activity id, seq, openid, now ms
CANCEL = (
    LIB
    + """
local P, aid, seq, uid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', P .. 'meta') == 0 then return {'nostate'} end
local h = P .. 'su:' .. seq
if redis.call('EXISTS', h) == 0 then return {'notfound'} end
if redis.call('HGET', h, 'uid') ~= uid then return {'notyours'} end
local status = redis.call('HGET', h, 'status')
if status == 'cancelled' then return {'already'} end
local checked = redis.call('HGET', h, 'checked_in_at')
if checked and checked ~= '' then return {'checkedin'} end
local sid, id = redis.call('HGET', h, 'sid'), aid .. '-' .. seq
redis.call('HSET', h, 'status', 'cancelled', 'cancelled_at', now)
bump(h, now)
mark(id, now)
local ukey = P .. 'u:' .. uid
if redis.call('HGET', ukey, sid) == seq then redis.call('HDEL', ukey, sid) end
if status == 'confirmed' then
  redis.call('DECR', P .. 'n:' .. sid)
  local promoted = promote(P, sid, now)
  return {'cancelled', unpack(promoted)}
end
redis.call('ZREM', P .. 'w:' .. sid, id)
return {'cancelled'}
"""
)

# ARGV: P, activity id, seq, openid, now ms, via
CHECK_IN = (
    LIB
    + """
local P, aid, seq, uid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', P .. 'meta') == 0 then return {'nostate'} end
local h = P .. 'su:' .. seq
if redis.call('EXISTS', h) == 0 then return {'notfound'} end
if redis.call('HGET', h, 'uid') ~= uid then return {'notyours'} end
local status = redis.call('HGET', h, 'status')
if status ~= 'confirmed' then return {status} end
local at = redis.call('HGET', h, 'checked_in_at')
if at and at ~= '' then return {'already', at} end
redis.call('HSET', h, 'checked_in_at', now, 'checkin_via', ARGV[6])
-- the venue page's live count per session, expiring with the activity's state
local ci = P .. 'ci:' .. redis.call('HGET', h, 'sid')
redis.call('INCR', ci)
redis.call('EXPIREAT', ci, redis.call('HGET', P .. 'meta', 'exp'))
bump(h, now)
mark(aid .. '-' .. seq, now)
return {'ok', now}
"""
)

# ARGV: P, now ms, exp, per_user, wl, wl_limit, then session id / capacity pairs
CONFIGURE = (
    LIB
    + """
local P, now = ARGV[1], ARGV[2]
local meta = P .. 'meta'
if redis.call('EXISTS', meta) == 0 then return {'nostate'} end
for i = 7, #ARGV, 2 do
  local n = tonumber(redis.call('GET', P .. 'n:' .. ARGV[i]) or '0')
  if tonumber(ARGV[i + 1]) < n then return {'below', ARGV[i], tostring(n)} end
end
redis.call('HSET', meta, 'exp', ARGV[3], 'per_user', ARGV[4], 'wl', ARGV[5], 'wl_limit', ARGV[6])
redis.call('EXPIREAT', meta, ARGV[3])
local out = {'ok'}
for i = 7, #ARGV, 2 do
  redis.call('HSET', meta, 'cap:' .. ARGV[i], ARGV[i + 1])
  for _, id in ipairs(promote(P, ARGV[i], now)) do out[#out + 1] = id end
end
return out
"""
)

# ARGV: triples of sign-up id, hash key, version written to MongoDB. Forget the id only if unchanged since.
ACK = """
local n = 0
for i = 1, #ARGV, 3 do
  local v = redis.call('HGET', ARGV[i + 1], 'v')
  if not v or v == ARGV[i + 2] then
    redis.call('ZREM', 'mp:su:dirty', ARGV[i])
    n = n + 1
  end
  if v then redis.call('HSET', ARGV[i + 1], 'fv', ARGV[i + 2]) end
end
return n
"""

UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
