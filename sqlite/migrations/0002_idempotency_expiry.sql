-- Client-token records expire: expires_at (unix nanoseconds) is when a new
-- request with the same token starts over; writes purge expired records by
-- this index. Records from before get the default retention of 8 hours.
ALTER TABLE idempotency ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
UPDATE idempotency SET expires_at = created_at + 28800000000000;
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);
