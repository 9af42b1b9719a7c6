-- Idempotency claims held and renewed by their owner, taken over past
-- held_ns; the keyed request they name and the turn that answers it.
ALTER TABLE idempotency_keys ADD COLUMN request TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN turn_id TEXT NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys ADD COLUMN held_ns INTEGER NOT NULL DEFAULT 0;

-- The keyed request a completed turn answers: at most one per request.
ALTER TABLE turns ADD COLUMN answers TEXT;
CREATE UNIQUE INDEX turns_answers ON turns (tenant_id, answers) WHERE answers IS NOT NULL;

-- A tenant's own model key per provider, sealed.
CREATE TABLE tenant_model_keys (
	tenant_id  TEXT NOT NULL,
	provider   TEXT NOT NULL,
	key_id     TEXT NOT NULL,
	nonce      BLOB NOT NULL,
	ciphertext BLOB NOT NULL,
	hint       TEXT NOT NULL,
	base_url   TEXT NOT NULL,
	models     TEXT NOT NULL,
	set_ns     INTEGER NOT NULL,
	revision   INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, provider)
);

CREATE TABLE tenant_budgets (
	tenant_id      TEXT PRIMARY KEY,
	monthly_tokens INTEGER NOT NULL,
	month          TEXT NOT NULL,
	spent_before   INTEGER NOT NULL,
	set_ns         INTEGER NOT NULL
);

-- Claimed blocks of a tenant's budget period; never released.
CREATE TABLE budget_blocks (
	tenant_id TEXT NOT NULL,
	period    TEXT NOT NULL,
	block     INTEGER NOT NULL,
	holder    TEXT NOT NULL,
	PRIMARY KEY (tenant_id, period, block)
);

-- Each holder's running token totals per tenant and month.
CREATE TABLE tenant_usage (
	tenant_id  TEXT NOT NULL,
	month      TEXT NOT NULL,
	holder     TEXT NOT NULL,
	prompt     INTEGER NOT NULL,
	completion INTEGER NOT NULL,
	turns      INTEGER NOT NULL,
	updated_ns INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, month, holder)
);

-- The last revision of a tenant's model key handed out: revisions only
-- grow, across deletes too.
CREATE TABLE tenant_key_revisions (last INTEGER NOT NULL);
INSERT INTO tenant_key_revisions (last) VALUES (0);
