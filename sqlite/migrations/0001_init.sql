-- Resources: every stored noun, one row each. seq is the rowid and grows
-- with every insert (AUTOINCREMENT never hands out a number twice, even after
-- deletes), so it is a global keyset for stable pagination. (kind, id) is the
-- natural key.
CREATE TABLE resources (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	kind       TEXT    NOT NULL,
	id         TEXT    NOT NULL,
	studio_id  TEXT    NOT NULL DEFAULT '',
	parent_id  TEXT    NOT NULL DEFAULT '',
	owned_by   TEXT    NOT NULL DEFAULT '',
	state      TEXT    NOT NULL DEFAULT '',
	version    INTEGER NOT NULL,
	created_at INTEGER NOT NULL, -- unix nanoseconds
	updated_at INTEGER NOT NULL, -- unix nanoseconds
	data       BLOB,
	UNIQUE (kind, id)
);

-- One index per paging shape, each ending in seq so that a page is a range
-- scan in seq order whose cost grows with the page, not with the table.
CREATE INDEX resources_by_kind   ON resources (kind, seq);
CREATE INDEX resources_by_studio ON resources (kind, studio_id, seq);
CREATE INDEX resources_by_parent ON resources (kind, parent_id, seq);
CREATE INDEX resources_by_owner  ON resources (kind, studio_id, owned_by, seq);

-- Outcomes of requests that carried a client token.
CREATE TABLE idempotency (
	key          TEXT    PRIMARY KEY,
	request_hash TEXT    NOT NULL,
	response     BLOB,
	created_at   INTEGER NOT NULL
);

-- Lifecycle work, at most one job per resource. run_at is the earliest
-- moment the job can be claimed: the requested time while it is free, the
-- end of the lease while it is leased. next_run_at holds the earliest time
-- asked for by enqueues made while the job was leased (NULL if none).
CREATE TABLE jobs (
	kind        TEXT    NOT NULL,
	resource_id TEXT    NOT NULL,
	run_at      INTEGER NOT NULL,
	next_run_at INTEGER,
	attempts    INTEGER NOT NULL DEFAULT 0,
	gen         INTEGER NOT NULL,
	lease_owner TEXT,
	lease_until INTEGER,
	PRIMARY KEY (kind, resource_id)
);
CREATE INDEX jobs_by_run_at ON jobs (run_at);

-- Named counters that only grow. job_gen numbers enqueues across all jobs,
-- so that a Gen is never seen twice, even for a job deleted and enqueued
-- again while a stale worker still holds the old one.
CREATE TABLE counters (
	name  TEXT    PRIMARY KEY,
	value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('job_gen', 0);

-- Small server-wide values (for example the bootstrap state).
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value BLOB
);

-- Access keys for SigV4.
CREATE TABLE credentials (
	access_key_id TEXT    PRIMARY KEY,
	secret        TEXT    NOT NULL,
	principal_id  TEXT    NOT NULL,
	admin         INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL
);
