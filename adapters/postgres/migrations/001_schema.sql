-- Focal's store on PostgreSQL, version 1.

-- One row per (tenant, agent, version): saving version v+1 is an insert, a
-- delete inserts a deletion marker as v+1; older versions are pruned.
CREATE TABLE policies (
	tenant_id text NOT NULL,
	agent_id  text NOT NULL,
	version   bigint NOT NULL,
	deleted   boolean NOT NULL DEFAULT false,
	agent     text,
	policy    text,
	saved_at  timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, agent_id, version)
);

-- Lease fences: a sequence never hands out a number twice, whatever rolls back.
CREATE SEQUENCE lease_fences;

-- A session and its state after its newest turn. active_key holds the
-- channel key's hash while the session is active (NULL once closed): the
-- insert of a new session is the claim of its key. The lease of the next
-- turn is lease_fence until lease_expires (by the server's clock).
CREATE TABLE sessions (
	id            text PRIMARY KEY,
	tenant_id     text NOT NULL,
	agent_id      text NOT NULL,
	status        text NOT NULL,
	active_key    text,
	created_ns    bigint NOT NULL,
	closed_ns     bigint NOT NULL DEFAULT 0,
	turn_count    integer NOT NULL DEFAULT 0,
	version       bigint NOT NULL,
	state         text NOT NULL,
	lease_fence   bigint,
	lease_expires timestamptz
);
CREATE UNIQUE INDEX sessions_active_key ON sessions (tenant_id, active_key);
CREATE INDEX sessions_by_tenant ON sessions (tenant_id, created_ns DESC, id DESC);
CREATE INDEX sessions_by_agent ON sessions (tenant_id, agent_id, created_ns DESC, id DESC);
CREATE INDEX sessions_by_status ON sessions (tenant_id, status, created_ns DESC, id DESC);
CREATE INDEX sessions_by_agent_status ON sessions (tenant_id, agent_id, status, created_ns DESC, id DESC);

-- Turn records, inserted once under (session_id, turn_number) in the same
-- statement that moves the session on.
CREATE TABLE turns (
	id            text PRIMARY KEY,
	tenant_id     text NOT NULL,
	session_id    text NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	turn_number   integer NOT NULL,
	created_at    timestamptz NOT NULL,
	record        text NOT NULL,
	session_after text NOT NULL,
	history       text NOT NULL,
	UNIQUE (session_id, turn_number)
);

CREATE TABLE idempotency_keys (
	tenant_id   text NOT NULL,
	key         text NOT NULL,
	fingerprint text NOT NULL,
	owner       text NOT NULL,
	done        boolean NOT NULL DEFAULT false,
	status      integer NOT NULL DEFAULT 0,
	header      text,
	body        bytea,
	expires_ns  bigint NOT NULL,
	PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_ns);

-- A request counter per key and fixed window.
CREATE TABLE rate_windows (
	key          text NOT NULL,
	window_start bigint NOT NULL,
	count        integer NOT NULL,
	expires_ns   bigint NOT NULL,
	PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_windows_expiry ON rate_windows (expires_ns);
