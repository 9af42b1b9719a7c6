-- Tenants' model keys compare byte-wise (COLLATE "C"), as the other stores
-- order them, whatever the database's default collation: the listing of
-- every tenant's keys orders and pages by (tenant_id, provider) COLLATE "C",
-- and the primary key's index, rebuilt in that collation, gives it that
-- order and its range instead of a scan and sort of every key per page.
ALTER TABLE tenant_model_keys
	ALTER COLUMN tenant_id TYPE text COLLATE "C",
	ALTER COLUMN provider TYPE text COLLATE "C";
