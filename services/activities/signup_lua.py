"""The Lua scripts that decide sign-ups in Redis: each is one atomic step, so no limit is count-then-insert.

Every key a script touches is passed in KEYS, and all of them share one hash tag, so each script runs
in one Redis Cluster slot. Activity A lives in partition T = `{act.N}` (storage.keys.entity_shard_tag)
with the partition's queues; its keys start with `P = mp:act:T:A:`:
  P meta          hash   cap:<session> -> capacity, wl (1/0), wl_limit (-1: none), per_user, exp (unix s)
  P gate          string `status<TAB>opens ms<TAB>deadline ms<TAB>rev`: whether sign-ups are open now. Written
                         by every editor's change (newer `rev` only), so a cancel holds at once everywhere
  P seq           string arrival sequence: the order the server decided, for ids and the waitlist
  P n:<session>   string confirmed count
  P w:<session>   zset   waitlist: sign-up id scored by its sequence (first in, first promoted)
  P ci:<session>  string checked-in count
  P u:<openid>    hash   session -> sequence of the user's active (confirmed or waitlisted) sign-up
  P su            hash   sequence -> the sign-up, a JSON object of strings (status, times, the form as a
                         JSON string, version `v`, flushed version `fv`)
  P fence         string confirmations being sent right now (a cancel waits for them: none after it)
Partition T: `mp:su:dirty:T` (zset of sign-up ids whose latest version is not yet in MongoDB),
`mp:su:notify:T` (stream of confirmations to send), `mp:su:recent:T:<openid>` (the user's latest ids).
A script that finds no `meta` or no `gate` answers `nostate`: Redis lost the activity, and the caller
rebuilds it from MongoDB (services.activities.signups.ensure_state) before trying again.
"""

from __future__ import annotations

from storage.ratelimit import LUA_CHECK

LIB = """
local function load(su, seq)
  local raw = redis.call('HGET', su, seq)
  if not raw then return nil end
  return cjson.decode(raw)
end
local function save(su, r) redis.call('HSET', su, r.seq, cjson.encode(r)) end
local function bump(r, now) r.updated_at = now; r.v = tostring(tonumber(r.v) + 1) end
local function mark(dirty, id, now) redis.call('ZADD', dirty, 'NX', now, id) end
local function notify(stream, id, kind)
  redis.call('XADD', stream, 'MAXLEN', '~', 100000, '*', 'id', id, 'kind', kind)
end
-- the session's first waitlisted take its free places, in arrival order
local function promote(meta, su, nkey, wkey, dirty, stream, sid, now)
  local cap = tonumber(redis.call('HGET', meta, 'cap:' .. sid) or '0')
  local out = {}
  while tonumber(redis.call('GET', nkey) or '0') < cap do
    local first = redis.call('ZPOPMIN', wkey)
    if #first == 0 then break end
    local id = first[1]
    local r = load(su, string.match(id, '-(%d+)$'))
    if r then
      r.status = 'confirmed'
      r.promoted_at = now
      bump(r, now)
      save(su, r)
      redis.call('INCR', nkey)
      mark(dirty, id, now)
      notify(stream, id, 'promoted')
      out[#out + 1] = id
    end
  end
  return out
end
"""

# KEYS: meta, gate, seq, n:<session>, w:<session>, u:<openid>, su, dirty, notify, recent, the user's
#       rate-limit windows in this activity (current, previous; storage.ratelimit)
# ARGV: activity id, session id, openid, now ms, form json, remind_at ms or '', member_id, org, unionid,
#       rate weight, rate limit (sign-up requests per user per window; counted only when let through)
SIGN_UP = (
    LUA_CHECK
    + LIB
    + """
local meta, gate, seqkey, nkey, wkey, ukey, su = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local aid, sid, uid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', meta) == 0 then return {'nostate'} end
local g = redis.call('GET', gate)
if not g then return {'nostate'} end
local status, opens, deadline = string.match(g, '^([^\t]*)\t([^\t]*)\t([^\t]*)\t')
if status ~= 'published' then return {'gate', status} end
if opens ~= '' and tonumber(now) < tonumber(opens) then return {'early'} end
if tonumber(now) > tonumber(deadline) then return {'deadline'} end
if rl_check(11, {tonumber(ARGV[11])}, tonumber(ARGV[10]), 121) > 0 then return {'rate'} end
local cap = redis.call('HGET', meta, 'cap:' .. sid)
if not cap then return {'nosession'} end
local have = redis.call('HGET', ukey, sid)
if have then
  local id = aid .. '-' .. have
  local r = load(su, have)
  local rank = redis.call('ZRANK', wkey, id)
  return {'dup', id, r and r.status or '', rank and (rank + 1) or 0}
end
local per_user = tonumber(redis.call('HGET', meta, 'per_user'))
if redis.call('HLEN', ukey) >= per_user then return {'limit', tostring(per_user)} end
local st = 'confirmed'
if tonumber(redis.call('GET', nkey) or '0') >= tonumber(cap) then
  if redis.call('HGET', meta, 'wl') ~= '1' then return {'full'} end
  local wl_limit = tonumber(redis.call('HGET', meta, 'wl_limit'))
  if wl_limit >= 0 and redis.call('ZCARD', wkey) >= wl_limit then return {'wlfull'} end
  st = 'waitlisted'
end
local seq = tostring(redis.call('INCR', seqkey))
local id = aid .. '-' .. seq
save(su, {id = id, aid = aid, sid = sid, uid = uid, status = st, seq = seq, v = '1', created_at = now,
  updated_at = now, form = ARGV[5], remind_at = ARGV[6], member_id = ARGV[7], org = ARGV[8], unionid = ARGV[9]})
local pos = 0
if st == 'confirmed' then
  redis.call('INCR', nkey)
else
  redis.call('ZADD', wkey, seq, id)
  pos = redis.call('ZRANK', wkey, id) + 1
end
redis.call('HSET', ukey, sid, seq)
local exp = redis.call('HGET', meta, 'exp')
for _, k in ipairs({su, ukey, nkey, wkey, seqkey}) do redis.call('EXPIREAT', k, exp) end
mark(KEYS[8], id, now)
notify(KEYS[9], id, st)
local recent = KEYS[10]
redis.call('LPUSH', recent, id)
redis.call('LTRIM', recent, 0, 49)
redis.call('EXPIRE', recent, 2592000)
return {st, id, st, pos}
"""
)

# KEYS: meta, su, u:<openid>, n:<session>, w:<session>, dirty, notify
# ARGV: activity id, seq, openid, now ms, session id (the sign-up's, as the caller read it)
CANCEL = (
    LIB
    + """
local meta, su, ukey, nkey, wkey, dirty, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local aid, seq, uid, now, sid = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('EXISTS', meta) == 0 then return {'nostate'} end
local r = load(su, seq)
if not r then return {'notfound'} end
if r.uid ~= uid or r.sid ~= sid then return {'notyours'} end
local status = r.status
if status == 'cancelled' then return {'already'} end
if r.checked_in_at and r.checked_in_at ~= '' then return {'checkedin'} end
local id = aid .. '-' .. seq
r.status = 'cancelled'
r.cancelled_at = now
bump(r, now)
save(su, r)
mark(dirty, id, now)
if redis.call('HGET', ukey, sid) == seq then redis.call('HDEL', ukey, sid) end
if status == 'confirmed' then
  redis.call('DECR', nkey)
  local promoted = promote(meta, su, nkey, wkey, dirty, stream, sid, now)
  return {'cancelled', unpack(promoted)}
end
redis.call('ZREM', wkey, id)
return {'cancelled'}
"""
)

# KEYS: meta, gate, su, ci:<session>, dirty
# ARGV: activity id, seq, openid, now ms, via, session id
CHECK_IN = (
    LIB
    + """
local meta, gate, su, ci, dirty = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local aid, seq, uid, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', meta) == 0 then return {'nostate'} end
local g = redis.call('GET', gate)
if g and string.match(g, '^([^\t]*)') == 'cancelled' then return {'activity_cancelled'} end
local r = load(su, seq)
if not r then return {'notfound'} end
if r.uid ~= uid or r.sid ~= ARGV[6] then return {'notyours'} end
if r.status ~= 'confirmed' then return {r.status} end
if r.checked_in_at and r.checked_in_at ~= '' then return {'already', r.checked_in_at} end
r.checked_in_at = now
r.checkin_via = ARGV[5]
bump(r, now)
save(su, r)
-- the venue page's live count per session, expiring with the activity's state
redis.call('INCR', ci)
redis.call('EXPIREAT', ci, redis.call('HGET', meta, 'exp'))
mark(dirty, aid .. '-' .. seq, now)
return {'ok', now}
"""
)

# KEYS: meta, su, dirty, notify, then n:<session>, w:<session> for each session in ARGV's order
# ARGV: now ms, exp, per_user, wl, wl_limit, then session id / capacity pairs
CONFIGURE = (
    LIB
    + """
local meta, su, dirty, stream = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now = ARGV[1]
if redis.call('EXISTS', meta) == 0 then return {'nostate'} end
for i = 6, #ARGV, 2 do
  local n = tonumber(redis.call('GET', KEYS[5 + (i - 6)]) or '0')
  if tonumber(ARGV[i + 1]) < n then return {'below', ARGV[i], tostring(n)} end
end
redis.call('HSET', meta, 'exp', ARGV[2], 'per_user', ARGV[3], 'wl', ARGV[4], 'wl_limit', ARGV[5])
redis.call('EXPIREAT', meta, ARGV[2])
local out = {'ok'}
for i = 6, #ARGV, 2 do
  redis.call('HSET', meta, 'cap:' .. ARGV[i], ARGV[i + 1])
  local nkey, wkey = KEYS[5 + (i - 6)], KEYS[6 + (i - 6)]
  for _, id in ipairs(promote(meta, su, nkey, wkey, dirty, stream, ARGV[i], now)) do out[#out + 1] = id end
end
return out
"""
)

# KEYS: the partition's dirty set, then the `su` hashes of the activities named in ARGV
# ARGV: triples of sign-up id, index of its `su` key in KEYS, version written to MongoDB.
# Forget the id only if unchanged since; remember the version written (`fv`: later writes are updates).
ACK = """
local n = 0
for i = 1, #ARGV, 3 do
  local su, seq = KEYS[tonumber(ARGV[i + 1])], string.match(ARGV[i], '-(%d+)$')
  local raw = redis.call('HGET', su, seq)
  local r = raw and cjson.decode(raw)
  if not r or r.v == ARGV[i + 2] then
    redis.call('ZREM', KEYS[1], ARGV[i])
    n = n + 1
  end
  if r and r.fv ~= ARGV[i + 2] then
    r.fv = ARGV[i + 2]
    redis.call('HSET', su, seq, cjson.encode(r))
  end
end
return n
"""

# KEYS: gate. ARGV: the new value (its 4th field is the activity's revision), expire at (unix s).
# An older revision never overwrites a newer one: a rebuild that read MongoDB before an editor's cancel
# cannot reopen the activity.
SET_GATE = """
local cur = redis.call('GET', KEYS[1])
local rev = tonumber(string.match(ARGV[1], '\t(%d+)$'))
if cur and tonumber(string.match(cur, '\t(%d+)$')) > rev then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('EXPIREAT', KEYS[1], ARGV[2])
return 1
"""

# KEYS: gate, fence. ARGV: fence ttl ms. A confirmation may be sent only while the activity is published;
# the fence counts sends in flight so that a cancel answers only once they are done.
SEND_BEGIN = """
local g = redis.call('GET', KEYS[1])
if not g or string.match(g, '^([^\t]*)') ~= 'published' then return 0 end
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return 1
"""

SEND_END = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""

UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
