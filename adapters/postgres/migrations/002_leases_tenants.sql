-- Idempotency claims held and renewed by their owner, taken over past
-- held_ns; the keyed request they name and the turn that answers it.
ALTER TABLE idempotency_keys
	ADD COLUMN request text NOT NULL DEFAULT '',
	ADD COLUMN turn_id text NOT NULL DEFAULT '',
	ADD COLUMN held_ns bigint NOT NULL DEFAULT 0;

-- The keyed request a completed turn answers: at most one per request.
ALTER TABLE turns ADD COLUMN answers text;
CREATE UNIQUE INDEX turns_answers ON turns (tenant_id, answers) WHERE answers IS NOT NULL;

-- A tenant's own model key per provider, sealed.
CREATE TABLE tenant_model_keys (
	tenant_id  text NOT NULL,
	provider   text NOT NULL,
	key_id     text NOT NULL,
	nonce      bytea NOT NULL,
	ciphertext bytea NOT NULL,
	hint       text NOT NULL,
	base_url   text NOT NULL,
	models     text NOT NULL,
	set_ns     bigint NOT NULL,
	revision   bigint NOT NULL,
	PRIMARY KEY (tenant_id, provider)
);

-- Revisions of a tenant's keys only grow, across deletes too.
CREATE SEQUENCE tenant_key_revisions;

CREATE TABLE tenant_budgets (
	tenant_id      text PRIMARY KEY,
	monthly_tokens bigint NOT NULL,
	month          text NOT NULL,
	spent_before   bigint NOT NULL,
	set_ns         bigint NOT NULL
);

-- Claimed blocks of a tenant's budget period; never released.
CREATE TABLE budget_blocks (
	tenant_id text NOT NULL,
	period    text NOT NULL,
	block     integer NOT NULL,
	holder    text NOT NULL,
	PRIMARY KEY (tenant_id, period, block)
);

-- Each holder's running token totals per tenant and month.
CREATE TABLE tenant_usage (
	tenant_id  text NOT NULL,
	month      text NOT NULL,
	holder     text NOT NULL,
	prompt     bigint NOT NULL,
	completion bigint NOT NULL,
	turns      bigint NOT NULL,
	updated_ns bigint NOT NULL,
	PRIMARY KEY (tenant_id, month, holder)
);
