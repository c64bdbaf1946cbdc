-- One row per binding. (tbl, aor) is the location table and AoR the
-- binding is stored under, pos its place in the AoR's ordered list.
-- Keys use the "C" collation so that List's order is byte order, whatever
-- the database's locale.
CREATE TABLE locus_bindings (
	tbl         text COLLATE "C" NOT NULL,
	aor         text COLLATE "C" NOT NULL,
	pos         integer          NOT NULL,
	binding_aor text,            -- Binding.AOR when it differs from aor, else NULL
	contact     text             NOT NULL,
	expires     timestamptz      NOT NULL,
	q           bigint           NOT NULL, -- q x 1000, -1 when unset
	call_id     text             NOT NULL,
	cseq        bigint           NOT NULL,
	received    text             NOT NULL,
	socket      text             NOT NULL,
	conn_id     text             NOT NULL,
	path        text[],          -- NULL when the REGISTER had no Path
	instance    text             NOT NULL,
	reg_id      bigint           NOT NULL,
	user_agent  text             NOT NULL,
	methods     text             NOT NULL,
	flags       bigint           NOT NULL,
	modified    timestamptz      NOT NULL,
	ruid        text             NOT NULL,
	PRIMARY KEY (tbl, aor, pos)
);

CREATE INDEX locus_bindings_expires ON locus_bindings (expires);
