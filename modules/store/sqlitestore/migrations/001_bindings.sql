-- One row per binding. pos keeps an AoR's bindings in the order the
-- registrar stored them; it may have gaps after Expire.
-- Times are Unix milliseconds. baor is the binding's own AOR field when it
-- differs from the AoR it is stored under (normally NULL). path is a JSON
-- array of the Path header values, '' for none.
CREATE TABLE bindings (
	tbl        TEXT    NOT NULL,
	aor        TEXT    NOT NULL,
	pos        INTEGER NOT NULL,
	baor       TEXT,
	contact    TEXT    NOT NULL,
	expires    INTEGER NOT NULL,
	q          INTEGER NOT NULL,
	call_id    TEXT    NOT NULL,
	cseq       INTEGER NOT NULL,
	received   TEXT    NOT NULL,
	socket     TEXT    NOT NULL,
	conn_id    TEXT    NOT NULL,
	path       TEXT    NOT NULL,
	instance   TEXT    NOT NULL,
	reg_id     INTEGER NOT NULL,
	user_agent TEXT    NOT NULL,
	methods    TEXT    NOT NULL,
	flags      INTEGER NOT NULL,
	modified   INTEGER NOT NULL,
	ruid       TEXT    NOT NULL,
	PRIMARY KEY (tbl, aor, pos)
) WITHOUT ROWID;

CREATE INDEX bindings_expires ON bindings (expires);
