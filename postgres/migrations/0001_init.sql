-- Every text column that is compared or ordered uses the "C" collation:
-- byte order, as the SQLite store orders, and cheaper to compare than a
-- locale's rules.

-- Resources: every stored noun, one row each. seq comes from an identity
-- sequence: it grows with every insert and is never handed out twice, so it
-- is a global keyset for stable pagination. Numbers are taken in insert
-- order, not commit order; a page never skips a record that was committed
-- before the paging began, because such a record is visible to every later
-- page whatever its number. (kind, id) is the natural key.
CREATE TABLE resources (
	seq        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind       text        COLLATE "C" NOT NULL,
	id         text        COLLATE "C" NOT NULL,
	studio_id  text        COLLATE "C" NOT NULL DEFAULT '',
	parent_id  text        COLLATE "C" NOT NULL DEFAULT '',
	owned_by   text        COLLATE "C" NOT NULL DEFAULT '',
	state      text        COLLATE "C" NOT NULL DEFAULT '',
	version    bigint      NOT NULL,
	created_at timestamptz NOT NULL,
	updated_at timestamptz NOT NULL,
	data       bytea       NOT NULL,
	UNIQUE (kind, id)
);

-- One index per paging shape, each ending in seq so that a page is a range
-- scan in seq order whose cost grows with the page, not with the table.
CREATE INDEX resources_by_kind   ON resources (kind, seq);
CREATE INDEX resources_by_studio ON resources (kind, studio_id, seq);
CREATE INDEX resources_by_parent ON resources (kind, parent_id, seq);
CREATE INDEX resources_by_owner  ON resources (kind, studio_id, owned_by, seq);

-- Outcomes of requests that carried a client token. The key joins principal,
-- operation and token with NUL bytes, which text cannot hold.
CREATE TABLE idempotency (
	key          bytea       PRIMARY KEY,
	request_hash text        NOT NULL,
	response     bytea       NOT NULL,
	created_at   timestamptz NOT NULL
);

-- Lifecycle work, at most one job per resource. run_at is the earliest
-- moment the job can be claimed: the requested time while it is free, the
-- end of the lease while it is leased. next_run_at holds the earliest time
-- asked for by enqueues made while the job was leased (NULL if none).
CREATE TABLE jobs (
	kind        text        COLLATE "C" NOT NULL,
	resource_id text        COLLATE "C" NOT NULL,
	run_at      timestamptz NOT NULL,
	next_run_at timestamptz,
	attempts    integer     NOT NULL DEFAULT 0,
	gen         bigint      NOT NULL,
	lease_owner text,
	lease_until timestamptz,
	PRIMARY KEY (kind, resource_id)
);
CREATE INDEX jobs_by_run_at ON jobs (run_at);

-- Numbers enqueues across all jobs, so that a Gen is never seen twice, even
-- for a job deleted and enqueued again while a stale worker still holds the
-- old one.
CREATE SEQUENCE job_gen;

-- Small server-wide values (for example the pagination key).
CREATE TABLE meta (
	key   text  COLLATE "C" PRIMARY KEY,
	value bytea NOT NULL
);

-- Access keys for SigV4.
CREATE TABLE credentials (
	access_key_id text        COLLATE "C" PRIMARY KEY,
	secret        text        NOT NULL,
	principal_id  text        NOT NULL,
	admin         boolean     NOT NULL DEFAULT false,
	created_at    timestamptz NOT NULL
);
