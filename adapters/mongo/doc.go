// Package mongo implements Focal's store ports on MongoDB (6.0+, a replica
// set or a sharded cluster) and on Mongo-compatible servers such as
// FerretDB, with mongo-driver v2: one store per port (Policies, Sessions,
// Turns, Leases, IdempotencyKeys, RateLimits) over one shared connection,
// DB, which Open prepares without I/O and Start connects.
//
// # Durability
//
// Writes are acknowledged by a majority of the replica set and reads come
// from the primary with majority read concern, set in code after the URI
// (Config.Validate refuses a URI asking for less): an acknowledged write
// survives a failover, and nothing read can be rolled back later. A
// standalone server (no replication, no retryable writes) is refused
// unless Config.AllowStandalone. Every error is classified once
// (errors.go): an outcome the caller cannot know (a timeout, a dropped
// connection, a primary stepping down, a write concern error) is
// STORE_UNAVAILABLE, and every write that matters is settled by reading
// it back (writes.go), so a commit whose answer was lost is found, not
// repeated or reported failed.
//
// # Design
//
// One collection per aggregate, no multi-document transactions, and every
// concurrency invariant built on one primitive: an insert that fails with
// a duplicate key when the key exists.
//
//	policies          one doc per (tenant, agent, version), unique on those three: saving
//	                  version v+1 is an insert; a delete inserts a deletion marker as v+1
//	sessions          _id session id: identity and status, written at creation and at close
//	                  only; (tenant_id, active_key) unique holds the channel key while the
//	                  session is active, so creating is the claim of the key and closing
//	                  frees it
//	turns             _id turn id, unique (session_id, turn_number): the commit point of a
//	                  turn, carrying the session's state after it
//	session_leases    _id tenant/session/turn: the lease of a session's next turn; it
//	                  outlives the turn (TTL on purge_at), which is what frees a committed
//	                  turn's lease without a write; a deleted session's sealed lease
//	lease_epochs      _id epoch number, one per process start: makes fences unique
//	idempotency_keys  _id hash of (tenant, key): the claim, then the stored response
//	rate_windows      _id key/windowStart: a request counter per window (MongoDB)
//
// A session's state after its turns is never copied back to the session
// document: reads take it from the newest turn record, so a session can
// never fall behind its turns and no update can race a close. Status
// (closed) lives only on the session document and wins over the state a
// turn carries. Session.Version is derived: the version the session was
// created with, plus one per committed turn, plus one when closed.
//
// Bodies (policies, session states, turn records) are stored as JSON text
// beside the indexed fields, so user-controlled map keys never become BSON
// field names.
//
// # What the server can do
//
// Start asks the server what it is (buildInfo, hello; capabilities.go).
// On MongoDB a session and its newest turns are one aggregate ($lookup),
// a lease is written, and an expired one taken over, by one upsert judged
// and stamped by the server's clock ($$NOW), a rate window is a counter
// ($inc), and an expired idempotency record is replaced in one
// conditional write. FerretDB has none of these, and loses concurrent
// conditional updates and $inc, so there the stores send an extra read
// instead of $lookup, judge lease expiry by instance clocks checked
// against the server's (skew.go), and delete expired leases and records
// only through an insert-once takeover marker (takeover.go); every such
// extra command is marked as a workaround in CommandEvent.
//
// # Round trips
//
// A returning user's turn, as the application makes it: the rate-limit
// counter (1); the lease of the session's next turn written while the
// session is read with its history, only the fields a prompt needs of its
// newest turns (2, side by side, when this process served the session's
// last turn; else one after the other); the turn insert (1), which frees
// the lease. Four commands, three one after
// another. A new user's turn: the read by channel key, then the session
// and its first lease inserted side by side, five. An Idempotency-Key
// adds its claim and its completion. TestRoundTripsPerTurn pins these
// counts on whichever server the tests run against; make bench measures
// them on a running service.
//
// Sharding, should one replica set not suffice: sessions and policies
// shard on the tenant (their unique indexes begin with tenant_id, and
// every query names it), turns and leases on the session (the unique
// turn index begins with session_id; lease ids begin with the session's
// key). (Not exercised by these tests.)
package mongo
