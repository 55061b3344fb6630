"""The Redis key schema and every Lua script: the one module that spells a key.

Every key is `{prefix}:{kind}:...` with the deployment's prefix (`PRYNAI_REDIS_PREFIX`, default `prynai`), so two
deployments can share one Redis (and one database: pub/sub channels ignore the database number, so the prefix is
what keeps their events apart too). Nothing outside this module builds a key string; code asks `Keys` for one.

Each method's docstring says what the key holds, its Redis type and its expiry policy. Session ids are the SDK's
`uuid4().hex`; URIs go in verbatim (Redis keys are binary-safe). The schema assumes a single Redis node or a
primary with replicas (Azure Cache for Redis Basic/Standard/Premium without clustering): the scripts below touch
only the keys they are given, but keys of one session are not hash-tagged into one cluster slot.

Scripts read the clock with Redis `TIME`, never the caller's: replicas with skewed clocks then agree on when a
subscription expired.
"""

from __future__ import annotations

DEFAULT_PREFIX = "prynai"


class Keys:
    """Key names for one deployment (one prefix)."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        prefix = prefix.strip().rstrip(":")
        if not prefix or any(ch.isspace() for ch in prefix):
            raise ValueError(f"PRYNAI_REDIS_PREFIX must be a non-empty word without spaces, got {prefix!r}")
        self.prefix = prefix

    # --- shared state: the counter and what a legacy session asked for (`prynai_mcp.state.redis`) -------------

    def counter(self, name: str) -> str:
        """STRING holding a decimal integer, changed only by INCRBY. No TTL: it outlives every replica."""
        return f"{self.prefix}:counter:{name}"

    def session_log_level(self, session_id: str) -> str:
        """STRING: the `logging/setLevel` level of a legacy session.

        TTL = the session idle timeout, renewed whenever it is read or written (and by `TOUCH_SESSION`).
        """
        return f"{self.prefix}:session:{session_id}:loglevel"

    def session_subscriptions(self, session_id: str) -> str:
        """SET of resource URIs a legacy session subscribed to: the reverse index that makes forgetting a session
        cost only its own subscriptions. TTL = the session idle timeout, renewed on subscribe and `TOUCH_SESSION`."""
        return f"{self.prefix}:session:{session_id}:subs"

    def subscribers(self, uri: str) -> str:
        """ZSET of session ids subscribed to `uri`, each scored by its expiry time (Redis clock, milliseconds).

        Members past their score are pruned on read (`SUBSCRIBERS`), so a session that vanished without
        unsubscribing stops being notified once it has been idle for the TTL. The key's own TTL is kept at least as
        long as its latest member's, so an abandoned URI disappears by itself.
        """
        return f"{self.prefix}:sub:{uri}"

    # --- the change journal: a resource change and who is owed word of it (`prynai_mcp.state.redis_journal`) ----

    def changes_pending(self) -> str:
        """HASH of the resource changes being announced now: field = change id (hex), value = JSON
        `{"uri": ..., "replica": the replica announcing it}`. Written before the change is made, removed once every
        subscriber has been told; a field whose replica is dead is finished by another replica. No TTL: a change
        must outlive every replica (a full restart finishes it)."""
        return f"{self.prefix}:changes:pending"

    def change_owed(self, change_id: str) -> str:
        """SET of the session ids still owed word of one change: the subscribers of its URI when it began, each
        removed as the notification is appended to its GET stream (`APPEND_EVENT`), so no session is told twice.
        Deleted with the change's `changes_pending` field; TTL = the event retention, a backstop for a lost field."""
        return f"{self.prefix}:change:{change_id}:owed"

    # --- cross-replica signals ----------------------------------------------------------------------------------

    def events_channel(self) -> str:
        """Pub/sub CHANNEL carrying `SubscriptionBus` events (small JSON, `prynai_mcp.state.redis_bus`).

        Fire-and-forget: nothing is stored, a replica that is not subscribed at the moment misses the event.
        """
        return f"{self.prefix}:events"

    def request_state_key(self) -> str:
        """STRING: hex of 32 random bytes, the key that seals MRTR `requestState` when no keys are configured.

        Written once with `GET_OR_SET` (the first replica wins, every other adopts it). No TTL: it must outlive
        replicas; persistence (AOF) keeps it across Redis restarts. If it is lost anyway, replicas re-offer their
        current key and converge again (`prynai_mcp.redis_store.request_state`).
        """
        return f"{self.prefix}:request-state:key"

    # --- session layer: legacy sessions that roam across replicas (`prynai_mcp.sessions.redis_stores`) ----------

    def session(self, session_id: str) -> str:
        """STRING: the session's registry record (JSON `SessionRecord`). TTL = the session idle timeout, renewed by
        every request for the session (GETEX) and, while a GET stream is open, by its replica's keep-alive round
        (`prynai_mcp.sessions.keepalive`). Its absence is what
        "this session does not exist (any more)" means to every replica."""
        return f"{self.prefix}:session:{session_id}"

    def session_stream(self, session_id: str, stream: str) -> str:
        """STREAM: the events of one SSE stream of a session (`stream` is the JSON-RPC request id, or `_GET_stream`),
        field `m` = the JSON-RPC message ("" for a priming event). Holds at most the configured number of events and
        bytes (`APPEND_EVENT` trims the oldest); TTL = the event retention, renewed on every append."""
        return f"{self.prefix}:session:{session_id}:stream:{stream}"

    def session_stream_sizes(self, session_id: str) -> str:
        """ZSET of what a session's event log holds: member `s{stream}` = the message bytes that stream holds, member
        `t` = the session's total. Bounds `PRYNAI_EVENT_LOG_MAX_STREAM_BYTES` and `..._MAX_SESSION_BYTES`, names
        every stream key so ending the session deletes them all. A stream that expired before the set did still
        counts until the session's next eviction drops it (largest first). TTL = the event retention, renewed on
        every append."""
        return f"{self.prefix}:session:{session_id}:stream-sizes"

    def streams_appended(self) -> str:
        """Pub/sub CHANNEL: `{session id} {stream}` for every event appended, so the one listener of each replica
        wakes exactly the streams waiting for it (`prynai_mcp.sessions.wakeups`). Fire-and-forget: a listener that
        lost its connection wakes every reader of its replica once it is back, and each reads the log again."""
        return f"{self.prefix}:streams:appended"

    def session_inflight(self, session_id: str) -> str:
        """HASH: the requests of a session running now, field = stream name (the request id as text), value = JSON
        `{"replica": id, "id": the request's JSON-RPC id}`. Written when a request starts, removed when it ends; a
        stale field (its replica died) is what `Last-Event-ID` resumption turns into an "interrupted" error.
        TTL = the event retention, renewed on every write."""
        return f"{self.prefix}:session:{session_id}:inflight"

    def replica_alive(self, replica_id: str) -> str:
        """STRING: present while the replica lives. Written with the lease TTL and renewed at a third of it by the
        replica's heartbeat; deleted on graceful shutdown, so a killed replica is known dead one lease later."""
        return f"{self.prefix}:replica:{replica_id}:alive"

    def session_open_streams(self, session_id: str) -> str:
        """ZSET of the GET streams a session holds open now, on any replica: member = a token per stream, score = the
        end of its lease (Redis clock, ms), renewed by its replica's keep-alive round and removed when it closes; a
        stream of a killed replica lapses by itself. Bounds `PRYNAI_MAX_STREAMS_PER_SESSION` (`ACQUIRE_SLOT`).
        TTL = the lease, kept at least as long as the latest member's."""
        return f"{self.prefix}:session:{session_id}:open-streams"

    def principal_sessions(self, principal: str) -> str:
        """ZSET of the live sessions one principal holds (`prynai_mcp.sessions.identity.principal_key`: `entra:{tid}:
        {oid}` or `ip:{address}`): member = session id, score = the end of its lease (the session idle timeout),
        renewed as the session is used, removed when it ends. Bounds `PRYNAI_MAX_SESSIONS_PER_PRINCIPAL` across the
        fleet (`ACQUIRE_SLOT`). TTL = the idle timeout, kept at least as long as the latest member's."""
        return f"{self.prefix}:principal:{principal}:sessions"

    def replica_inbox(self, replica_id: str) -> str:
        """Pub/sub CHANNEL of one replica: clients' answers to server->client requests that this replica sent,
        forwarded by the replica that received the answer POST. Fire-and-forget, like every channel."""
        return f"{self.prefix}:replica:{replica_id}:inbox"


# --- Lua scripts ------------------------------------------------------------------------------------------------
#
# Each runs atomically on the server. KEYS and ARGV are documented per script; every key is passed in KEYS.
# Loaded through redis-py's `register_script`, which re-sends the source after a Redis restart (NOSCRIPT).

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

_EXTEND_TTL = """
local function extend(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
"""

SUBSCRIBE = (
    _NOW_MS
    + _EXTEND_TTL
    + """
-- KEYS[1] session_subscriptions(sid), KEYS[2] subscribers(uri); ARGV[1] uri, ARGV[2] sid, ARGV[3] ttl ms,
-- ARGV[4] the most URIs a session may hold (0: no bound). Returns 1, or 0 (nothing recorded) past the bound.
local ttl = tonumber(ARGV[3])
local limit = tonumber(ARGV[4])
if limit > 0 and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 and redis.call('SCARD', KEYS[1]) >= limit then
  return 0
end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], now + ttl, ARGV[2])
extend(KEYS[2], ttl)
return 1
"""
)
"""Record one subscription in both indexes and (re)start its TTL, unless the session holds its bound of others."""

SUBSCRIBERS = (
    _NOW_MS
    + """
-- KEYS[1] subscribers(uri)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)
"""Drop expired subscribers of a URI, return the live ones."""

TOUCH_SESSION = (
    _NOW_MS
    + _EXTEND_TTL
    + """
-- KEYS[1] session_log_level(sid), KEYS[2] session_subscriptions(sid), KEYS[3..] subscribers(uri) of its URIs;
-- ARGV[1] sid, ARGV[2] ttl ms
local ttl = tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
for i = 3, #KEYS do
  -- Only renew a subscription still there: never resurrect one removed since the caller listed the URIs.
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('ZADD', KEYS[i], 'XX', now + ttl, ARGV[1])
    extend(KEYS[i], ttl)
  end
end
return 1
"""
)
"""Renew every TTL of one session's recorded choices (the session was just used)."""

GET_OR_SET = """
-- KEYS[1] the key; ARGV[1] the value to store when the key is absent. Returns the stored value.
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
"""
"""SET-if-absent that answers with the winner in one round trip (Redis 6.2 cannot combine SET NX with GET)."""

OPEN_CHANGE = (
    _NOW_MS
    + """
-- KEYS[1] changes_pending, KEYS[2] change_owed(id), KEYS[3] subscribers(uri);
-- ARGV[1] change id, ARGV[2] the entry (JSON), ARGV[3] owed-set TTL ms. Returns the sessions owed word.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local owed = redis.call('ZRANGE', KEYS[3], 0, -1)
for i = 1, #owed do redis.call('SADD', KEYS[2], owed[i]) end
if #owed > 0 then redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3])) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return owed
"""
)
"""Journal a change before it is made, with the live subscribers of its URI as the sessions owed word of it."""

APPEND_EVENT = """
-- KEYS[1] session_stream(sid, stream), KEYS[2] session_stream_sizes(sid), and for a change's notification KEYS[3]
-- change_owed(id). ARGV[1] the message (JSON, "" for a priming event), ARGV[2] max events per stream, ARGV[3] the
-- stream name, ARGV[4] retention ms, ARGV[5] sid, ARGV[6] max bytes per stream, ARGV[7] max bytes per session,
-- ARGV[8] session_stream(sid, "") (the prefix of the session's stream keys), ARGV[9] streams_appended().
-- Returns the new entry id; with KEYS[3], false when the session was told already (or is owed nothing).
if #KEYS == 3 and redis.call('SREM', KEYS[3], ARGV[5]) == 0 then return false end
local member = 's' .. ARGV[3]
local size = #ARGV[1]
local entry = redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
local held = tonumber(redis.call('ZINCRBY', KEYS[2], size, member))
local total = tonumber(redis.call('ZINCRBY', KEYS[2], size, 't'))
-- The stream's own bounds: its oldest events go first, never the one just added.
local count = redis.call('XLEN', KEYS[1])
local max_events, max_stream = tonumber(ARGV[2]), tonumber(ARGV[6])
while count > 1 and (count > max_events or held > max_stream) do
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  local freed = #oldest[2][2]
  redis.call('XDEL', KEYS[1], oldest[1])
  held = tonumber(redis.call('ZINCRBY', KEYS[2], -freed, member))
  total = tonumber(redis.call('ZINCRBY', KEYS[2], -freed, 't'))
  count = count - 1
end
-- The session's bound: its largest other streams go, whole (a stream cut in the middle could not be resumed).
local max_session = tonumber(ARGV[7])
while total > max_session do
  local victim, freed = nil, 0
  local largest = redis.call('ZREVRANGE', KEYS[2], 0, 2, 'WITHSCORES')
  for i = 1, #largest, 2 do
    if largest[i] ~= 't' and largest[i] ~= member then
      victim, freed = largest[i], tonumber(largest[i + 1])
      break
    end
  end
  if not victim then break end
  redis.call('DEL', ARGV[8] .. string.sub(victim, 2))
  redis.call('ZREM', KEYS[2], victim)
  total = tonumber(redis.call('ZINCRBY', KEYS[2], -freed, 't'))
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[4]))
redis.call('PUBLISH', ARGV[9], ARGV[5] .. ' ' .. ARGV[3])
return entry
"""
"""Append one event to a session's stream (the event log's one format), keep the stream and the session within their
bounds, and wake the replicas' readers of that stream; with a change's owed set, only for a session still owed it,
so a notification is appended exactly once however many replicas try."""

CLAIM_CHANGE = """
-- KEYS[1] changes_pending; ARGV[1] change id, ARGV[2] the entry as read, ARGV[3] the entry naming the claimant.
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""
"""Take over a change another replica left unfinished, unless someone else took it first."""

ACQUIRE_SLOT = (
    _NOW_MS
    + _EXTEND_TTL
    + """
-- KEYS[1] the owner's slots (ZSET); ARGV[1] member, ARGV[2] limit, ARGV[3] lease ms. Returns 1 when taken (or already
-- held, then renewed), 0 when the owner holds `limit` live slots.
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
extend(KEYS[1], lease)
return 1
"""
)
"""Take one of an owner's bounded slots, dropping lapsed ones first: the count and the check are one step."""

RENEW_SLOT = (
    _NOW_MS
    + _EXTEND_TTL
    + """
-- KEYS[1] the owner's slots (ZSET); ARGV[1] lease ms, ARGV[2..] members.
local lease = tonumber(ARGV[1])
local renewed = 0
for i = 2, #ARGV do
  renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[i])
end
if renewed > 0 then extend(KEYS[1], lease) end
return renewed
"""
)
"""Extend the leases of held slots of one owner (never take a slot released since); how many were renewed."""
