// Package mongo implements Focal's policy, session, turn, session-lease,
// idempotency and rate-limit stores on MongoDB (6.0+) and on
// Mongo-compatible servers such as FerretDB, with mongo-driver v2.
//
// # Design
//
// One collection per aggregate, indexes created at start-up (EnsureIndexes,
// called by New), no multi-document transactions, and every concurrency
// invariant built on one primitive: an insert that fails with a duplicate
// key when the key exists. Conditional updates and $inc are never relied
// on: compatible servers lose concurrent updates of one document silently
// (FerretDB even loses concurrent $sets of different fields), while a
// duplicate insert fails on every server, every time. Nor are filtered
// deletes aimed at a document someone else may replace: FerretDB finds the
// document, then deletes by _id, so such a delete can remove the document
// that replaced the one it matched (see takeover.go).
//
//	policies            one doc per (tenant, agent, version), unique on those three: saving
//	                    version v+1 is an insert; older versions are pruned after it; a delete
//	                    inserts a deletion marker as version v+1, so numbers are never reused
//	sessions            _id session id: identity, status and creation state; written at
//	                    creation and at close only; indexed (tenant, created desc, id desc)
//	                    and (tenant, agent, created desc, id desc) for listings
//	channel_identities  _id hash of (tenant, agent, channel, user): the key's active session;
//	                    inserted once, deleted (filtered by session id) to free the key
//	turns               _id turn id, unique (session_id, turn_number): the commit point of a
//	                    turn, carrying the session's state after it
//	session_leases      _id tenant/session: a held lease with its fence and expiry, or the
//	                    sealed lease a deleted session keeps; TTL on purge_at where the
//	                    server has TTL indexes
//	lease_takeovers     _id (expired lease's fence, round): the right to delete that lease,
//	                    so exactly one waiter removes it; TTL on expires_at
//	lease_epochs        _id epoch number, one per process start: makes fences unique
//	idempotency_keys    _id hash of (tenant, key): the claim, then the stored response;
//	                    completed by its owner only; TTL on expires_at (expiry + a grace)
//	idempotency_takeovers _id (expired record, round): the right to delete an expired record,
//	                    so exactly one claimer removes it; TTL on expires_at
//	rate_slots          _id key/windowStart/n: slot n of a fixed window, inserted once;
//	                    indexed (key, window_start, slot); TTL on expires_at (window end + 1m)
//
// A session's state after its turns is never copied back to the session
// document: reads take it from the newest turn record, which is the commit
// point, so a crash between two writes can never leave a session behind its
// turns, and the session document has no writer that could race a close.
// Status (closed) lives only on the session document and wins over the
// state a turn carries, so a close during a turn survives its commit.
// Session.Version is derived: the version the session was created with,
// plus one per committed turn, plus one when closed.
//
// Bodies (policies, session states, turn records) are stored as JSON text
// beside the indexed fields: they round-trip exactly as the API shows them,
// and user-controlled map keys (session variables, metadata) never become
// BSON field names, where "." and "$" are troublesome.
//
// # Round trips
//
// Uncontended, per operation (independent reads run concurrently, so the
// latency is lower than the count):
//
//	LockSession          1 (lease insert) for a session this process read or created within
//	                     a minute, as the application always just did; else 2 (‖ session check)
//	GetSession           2 (session doc ‖ newest turn)                1 of latency
//	RecentHistory        1
//	CommitTurn           1 (insert) under a lease this process granted, held alone, for the
//	                     number after the newest it saw; else up to 3 (lease ‖ newest turn
//	                     number, then insert), 2 of latency
//	Release              1; 2 (takeover marker, delete) within the clock skew of its expiry
//	FindOrCreateActive   2 (GetSession) for a key this process resolved before; else 3
//	                     (identity, then GetSession); 3 for a new session (identity, 2 inserts)
//	ClaimIdempotencyKey  1 for a fresh key, 2 for a key in use, 5 to replace an expired record
//	Get/Complete/ReleaseIdempotencyKey  1 each
//	TakeRate             1 allowed; 0 refused once this process saw the window full;
//	                     +2 per slot another instance took first
//	GetPolicy, AgentVersion 1; SavePolicy, DeleteAgent 3 (read, insert, prune)
//	DeleteSession        7 when no turn is in flight (it waits for one that is)
//
// A whole turn as the application makes it (rate limit, resolve the
// session, lock, read it again, commit, release) costs 9 for a new user's
// first turn (12 before these shortcuts), 8 for a returning user's next
// turn by channel identity (12) and 8 by session id (11); RecentHistory adds
// one when a model generates, an Idempotency-Key two (claim, complete).
// The reads left are the ones whose answers this process cannot know: the
// session's state after another instance's turn, and its status.
// TestRoundTripsPerTurn, TestRoundTripsSlowPaths,
// TestRoundTripsPerTurnTotal and TestRoundTripsIdempotencyAndRates pin
// these numbers.
//
// The shortcuts rest on what this process remembers (memo.go) and on two
// rules that make an old memory harmless: a lease is taken over only once
// it expired by the taker's clock, which Config.LeaseClockSkew bounds
// against ours (lease.go); and a deleted session's lease is sealed, after
// the delete waited for the turn in flight (sessions.go).
//
// Every operation gets its own deadline (Config.OperationTimeout) within
// the caller's. A server that does not answer in time, or cannot be
// reached, is STORE_UNAVAILABLE; an error the server answers with is
// INTERNAL_ERROR; not-found is the port's own code.
//
// Sharding, should one replica set not suffice: every turn-path query
// names the session (sessions, turns, leases) or the tenant (policies,
// identities), so those are the natural shard keys; the unique turn index
// already begins with session_id, as MongoDB requires of a unique index on
// a sharded collection. (Not exercised by these tests.)
package mongo
