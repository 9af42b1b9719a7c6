-- Agent ids compare byte-wise (COLLATE "C"), as the other stores order
-- them, whatever the database's default collation: the agent listing
-- orders and pages by agent_id COLLATE "C", and the primary key's index,
-- rebuilt in that collation, still gives it that order and its range.
ALTER TABLE policies ALTER COLUMN agent_id TYPE text COLLATE "C";
