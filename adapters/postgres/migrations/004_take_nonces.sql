-- The nonce of the take that holds a session's lease, and of the claim
-- that took a budget block: a take or claim sent again after its answer
-- was lost finds what it already took and is given it, never a second.
-- NULL on older rows, which no retry names.
ALTER TABLE sessions ADD COLUMN lease_holder text;
ALTER TABLE budget_blocks ADD COLUMN claim text;
CREATE UNIQUE INDEX budget_blocks_claim ON budget_blocks (tenant_id, period, claim) WHERE claim IS NOT NULL;
