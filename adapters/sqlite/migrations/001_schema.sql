-- Focal's store on SQLite, version 1. Times are Unix nanoseconds.

CREATE TABLE policies (
	tenant_id TEXT NOT NULL,
	agent_id  TEXT NOT NULL,
	version   INTEGER NOT NULL,
	deleted   INTEGER NOT NULL DEFAULT 0,
	agent     TEXT,
	policy    TEXT,
	saved_ns  INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, agent_id, version)
);

-- The last lease fence handed out; fences never repeat.
CREATE TABLE lease_fences (last INTEGER NOT NULL);
INSERT INTO lease_fences (last) VALUES (0);

CREATE TABLE sessions (
	id               TEXT PRIMARY KEY,
	tenant_id        TEXT NOT NULL,
	agent_id         TEXT NOT NULL,
	status           TEXT NOT NULL,
	active_key       TEXT,
	created_ns       INTEGER NOT NULL,
	closed_ns        INTEGER NOT NULL DEFAULT 0,
	turn_count       INTEGER NOT NULL DEFAULT 0,
	version          INTEGER NOT NULL,
	state            TEXT NOT NULL,
	lease_fence      INTEGER,
	lease_expires_ns INTEGER
);
CREATE UNIQUE INDEX sessions_active_key ON sessions (tenant_id, active_key);
CREATE INDEX sessions_by_tenant ON sessions (tenant_id, created_ns DESC, id DESC);
CREATE INDEX sessions_by_agent ON sessions (tenant_id, agent_id, created_ns DESC, id DESC);
CREATE INDEX sessions_by_status ON sessions (tenant_id, status, created_ns DESC, id DESC);
CREATE INDEX sessions_by_agent_status ON sessions (tenant_id, agent_id, status, created_ns DESC, id DESC);

CREATE TABLE turns (
	id            TEXT PRIMARY KEY,
	tenant_id     TEXT NOT NULL,
	session_id    TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	turn_number   INTEGER NOT NULL,
	created_ns    INTEGER NOT NULL,
	record        TEXT NOT NULL,
	session_after TEXT NOT NULL,
	history       TEXT NOT NULL,
	UNIQUE (session_id, turn_number)
);

CREATE TABLE idempotency_keys (
	tenant_id   TEXT NOT NULL,
	key         TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	owner       TEXT NOT NULL,
	done        INTEGER NOT NULL DEFAULT 0,
	status      INTEGER NOT NULL DEFAULT 0,
	header      TEXT,
	body        BLOB,
	expires_ns  INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_ns);

CREATE TABLE rate_windows (
	key          TEXT NOT NULL,
	window_start INTEGER NOT NULL,
	count        INTEGER NOT NULL,
	expires_ns   INTEGER NOT NULL,
	PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_windows_expiry ON rate_windows (expires_ns);
