-- Client-token records expire: expires_at is when a new request with the
-- same token starts over; writes purge expired records by this index.
-- Records from before get the default retention of 8 hours.
ALTER TABLE idempotency ADD COLUMN expires_at timestamptz;
UPDATE idempotency SET expires_at = created_at + interval '8 hours';
ALTER TABLE idempotency ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX idempotency_by_expiry ON idempotency (expires_at);
