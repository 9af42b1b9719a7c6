-- The session row's status, version and close time as a commit left them,
-- beside the turn's session_after (the session as the turn built it):
-- they win over it, as a session row's columns win over its state, so a
-- turn committed after a close reads back closed. NULL on older turns.
ALTER TABLE turns
	ADD COLUMN after_status text,
	ADD COLUMN after_version bigint,
	ADD COLUMN after_closed_ns bigint;
