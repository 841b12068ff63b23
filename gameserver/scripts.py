"""The Lua scripts that make every change of a game atomic (DESIGN.md principle 4).

Each is a module constant with a KEYS/ARGV/returns header, registered once per client. Every
key a script touches is passed in KEYS; all keys of one game share the `{pin}` hash tag.
Guards (phase, question, deadline, version) are checked inside the same atomic step as the
write, so two processes can never both win. Events are PUBLISHed from inside the script, so a
change and its announcement cannot be separated by a crash.

On a Redis Cluster the same scripts publish with SPUBLISH (sharded pub/sub: the event goes to
the game's shard alone, not to every node): `sharded(script)` is the cluster variant, made
once per client, so one Redis runs the plain text with no per-call choice. A script may
SPUBLISH only to a channel of its own slot (Valkey refuses "a non local key" otherwise); the
game's channel carries the `{pin}` tag of its keys, so it always is.
"""

from __future__ import annotations

# KEYS: meta, quiz.  ARGV: ttl_s, quiz_json, field1, value1, ...
# Returns 1 if created, 0 if the PIN is taken (live, or finished with results still kept).
CREATE_GAME = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[1])
return 1
"""

# KEYS: meta, names, players, tokens, conn.
# ARGV: max_players, ttl_s, channel, then per join: name_key, player_id, name, token_digest,
# connect (0|1). The guard of `statemachine.check_join`, join by join (the count and the names
# taken include the batch's earlier joins): no game (unknown_game), finished, locked,
# game_full, name_taken, in that order.
# Returns {status1, status2, ..., meta...}: a status per join ('ok' or an error code), then
# the game's meta as HGETALL after the batch (nothing when there is no game). With connect=1 a
# player's socket is counted as open in the same step, so the caller needs no second round trip
# to learn the phase. The joins that a process receives within one event-loop tick (or while
# the previous batch is in flight) share one call: a join storm costs a few round trips per
# tick, not one per player, and one `join` event lists every player the batch added.
JOIN_MANY = """
local m = redis.call('HMGET', KEYS[1], 'phase', 'locked', 'players')
local refusal = nil
if not m[1] then refusal = 'unknown_game'
elseif m[1] == 'FINISHED' then refusal = 'finished'
elseif m[2] == '1' then refusal = 'locked' end
local max_players = tonumber(ARGV[1])
local count = tonumber(m[3] or '0')
local out = {}
local joined = {}
for i = 4, #ARGV, 5 do
  local status = refusal
  if not status then
    if count >= max_players then status = 'game_full'
    elseif redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 0 then status = 'name_taken'
    else
      redis.call('HSET', KEYS[3], ARGV[i + 1], ARGV[i + 2])
      redis.call('HSET', KEYS[4], ARGV[i + 3], ARGV[i + 1])
      if ARGV[i + 4] == '1' then redis.call('HINCRBY', KEYS[5], ARGV[i + 1], 1) end
      count = count + 1
      joined[#joined + 1] = {id = ARGV[i + 1], name = ARGV[i + 2]}
      status = 'ok'
    end
  end
  out[#out + 1] = status
end
if #joined > 0 then
  redis.call('HSET', KEYS[1], 'players', count)
  if redis.call('TTL', KEYS[2]) < 0 then
    for i = 2, 4 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
  end
  if redis.call('TTL', KEYS[5]) < 0 then redis.call('EXPIRE', KEYS[5], ARGV[2]) end
  redis.call('PUBLISH', ARGV[3], cjson.encode({e = 'join', joined = joined, count = count}))
end
if refusal ~= 'unknown_game' then
  for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
end
return out
"""

# KEYS: meta, answers:{q}, conn, kicked.  ARGV: question, ttl_s, then per answer: player_id,
# option, received_ms. The guard of `statemachine.check_answer` for a batch of answers to one
# question, so a burst of thousands costs one round trip per event-loop tick, not one each:
# phase, question, received before the question was shown (not_active), during its lead-in
# (not_open), after the deadline (too_late), in that order.
# Returns {answered, connected, status1, status2, ...} with status 'ok' or an error code.
ANSWER_MANY = """
local m = redis.call('HMGET', KEYS[1], 'phase', 'question', 'deadline', 'opened', 'lead_in')
local out = {0, 0}
local refusal = nil
if not m[1] then refusal = 'unknown_game'
elseif m[1] ~= 'ACTIVE' then refusal = 'not_active'
elseif m[2] ~= ARGV[1] then refusal = 'wrong_question' end
local deadline = tonumber(m[3] or '0')
local opened = tonumber(m[4] or '0')
local opens = opened + tonumber(m[5] or '0')
for i = 3, #ARGV, 3 do
  local status = refusal
  if not status then
    local received = tonumber(ARGV[i + 2])
    if received < opened then status = 'not_active'
    elseif received < opens then status = 'not_open'
    elseif received > deadline then status = 'too_late'
    elseif redis.call('SISMEMBER', KEYS[4], ARGV[i]) == 1 then status = 'kicked'
    elseif redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1] .. ',' .. ARGV[i + 2]) == 0 then
      status = 'already_answered'
    else status = 'ok' end
  end
  out[#out + 1] = status
end
out[1] = redis.call('HLEN', KEYS[2])
out[2] = redis.call('HLEN', KEYS[3])
if out[1] > 0 and redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
return out
"""

# KEYS: meta, answers:{q}, conn, away.  ARGV: question, now_ms.
# Returns 1 when question q is running and every connected player has answered it, and so
# has every player whose socket dropped less than the reconnect grace ago (away until > now).
ALL_CONNECTED_ANSWERED = """
local m = redis.call('HMGET', KEYS[1], 'phase', 'question')
if m[1] ~= 'ACTIVE' or m[2] ~= ARGV[1] then return 0 end
local connected = redis.call('HKEYS', KEYS[3])
if #connected == 0 then return 0 end
for _, id in ipairs(connected) do
  if redis.call('HEXISTS', KEYS[2], id) == 0 then return 0 end
end
local away = redis.call('HGETALL', KEYS[4])
local now = tonumber(ARGV[2])
for i = 1, #away, 2 do
  if tonumber(away[i + 1]) > now and redis.call('HEXISTS', KEYS[2], away[i]) == 0 then return 0 end
end
return 1
"""

# KEYS: meta[, opens].  ARGV: expected_version, n, field1, value1, ... (n pairs), channel,
# payload[, question, opens_ms, ttl_s].
# Compare-and-set of the game's control state. Returns 1 applied, 0 version moved, -1 no game.
# With the opens key (the step opens a question) it also records when that question's answers
# open, only when the step is applied: meta keeps only the running question's times, and the
# report measures every past question's answers from its own opening.
COMMIT = """
local v = redis.call('HGET', KEYS[1], 'version')
if not v then return -1 end
if v ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[2])
redis.call('HSET', KEYS[1], unpack(ARGV, 3, 2 + 2 * n))
if #KEYS > 1 then
  redis.call('HSET', KEYS[2], ARGV[5 + 2 * n], ARGV[6 + 2 * n])
  if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[7 + 2 * n]) end
end
local payload = ARGV[4 + 2 * n]
if payload ~= '' then redis.call('PUBLISH', ARGV[3 + 2 * n], payload) end
return 1
"""

# KEYS: meta, totals, reveal.  ARGV: expected_version, channel, payload, ttl_s, totals, then
# field1, value1, ... of the new state, where totals is a msgpack array [id1, totals1, ...].
# The compare-and-set of the machine's `QuestionScored` step (as COMMIT), with the question's
# new totals and its reveal written and published in the same atomic step. The rules accepted
# the step on the state of `expected_version` (scored < question, that question closed), so
# the scores of a question are applied exactly once. Returns 1 applied, 0 version moved (or
# no game).
APPLY_SCORES = """
if redis.call('HGET', KEYS[1], 'version') ~= ARGV[1] then return 0 end
local flat = cmsgpack.unpack(ARGV[5])
-- HSET many pairs per call, in chunks that stay far below Lua's unpack limit
for i = 1, #flat, 1000 do
  redis.call('HSET', KEYS[2], unpack(flat, i, math.min(i + 999, #flat)))
end
if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('SET', KEYS[3], ARGV[3], 'EX', ARGV[4])
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""

# KEYS: meta, results, then every other key of the game.  ARGV: ttl_s, channel, payload.
# Stores the final results once (phase must be FINISHED), keeps every key of the game (and so
# its PIN) for ttl_s, announces. Returns 1 stored, 0 already stored or not finished.
FINISH = """
if redis.call('HGET', KEYS[1], 'phase') ~= 'FINISHED' then return 0 end
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[1]) == false then return 0 end
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""

# KEYS: meta, players, names, totals, kicked, conn, away.
# ARGV: player_id, name_key, channel.
# Removes a player for good: the token no longer resumes, the name is free again.
# Returns the new player count, or -1 when there is no such player.
KICK = """
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('HDEL', KEYS[6], ARGV[1])
redis.call('HDEL', KEYS[7], ARGV[1])
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('EXPIRE', KEYS[5], math.max(redis.call('TTL', KEYS[1]), 60))
local count = redis.call('HINCRBY', KEYS[1], 'players', -1)
redis.call('PUBLISH', ARGV[3], cjson.encode({e = 'kick', id = ARGV[1], count = count}))
return count
"""

# KEYS: conn, meta, away.  ARGV: ttl_s, then per change: player_id, delta, away_until_ms.
# Counts players' open sockets (all processes). Returns {phase, question, n1, n2, ...}: each
# player's socket count after its change, and the game's phase (so a last socket closing
# during a question can trigger the all-answered check without another round trip). A last
# socket closing during a question with away_until_ms > 0 marks the player away until then
# (at most the deadline): still waited for, the reconnect grace. A socket opening ends it.
CONNECT_MANY = """
local out = {}
local m = redis.call('HMGET', KEYS[2], 'phase', 'question', 'deadline')
out[1] = m[1] or ''
out[2] = tonumber(m[2] or '-1')
local deadline = tonumber(m[3] or '0')
for i = 2, #ARGV, 3 do
  local n = redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  if n <= 0 then
    redis.call('HDEL', KEYS[1], ARGV[i])
    local until_ms = math.min(tonumber(ARGV[i + 2]), deadline)
    if m[1] == 'ACTIVE' and until_ms > 0 then
      redis.call('HSET', KEYS[3], ARGV[i], until_ms)
      if redis.call('TTL', KEYS[3]) < 0 then redis.call('EXPIRE', KEYS[3], ARGV[1]) end
    end
  elseif tonumber(ARGV[i + 1]) > 0 then
    redis.call('HDEL', KEYS[3], ARGV[i])
  end
  out[#out + 1] = n
end
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return out
"""

# KEYS: due.  ARGV: now_ms, lease_until_ms, limit.
# Claims up to `limit` due PINs by pushing their due time to the lease end, so that several
# sweeping processes do not all work on the same game. Returns the claimed PINs.
# The lease end is a half millisecond (`GameStore.due_claim`): a claimed entry is told from
# every entry the game's own steps write, which are whole milliseconds.
CLAIM_DUE = """
local pins = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, pin in ipairs(pins) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], pin) end
return pins
"""

# KEYS: due.  ARGV: pin, seen (the entry's due time read before the game was loaded).
# Removes the PIN's entry only while it is still the one seen: a step that wrote a new entry
# meanwhile (a question opened after the game was read as between questions) keeps its own.
RELEASE_DUE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


def sharded(script: str) -> str:
    """The cluster variant of a script that publishes: PUBLISH becomes SPUBLISH."""
    plain = "redis.call('PUBLISH', "
    if plain not in script:
        return script
    return script.replace(plain, "redis.call('SPUBLISH', ")
