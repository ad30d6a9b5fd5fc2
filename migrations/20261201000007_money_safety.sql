-- A call reported more than Helix had reserved for it (its input bound was wrong for that model):
-- the user's calls wait for the next reconciliation, which checks the books and clears the lock.
ALTER TABLE users ADD COLUMN spend_locked_at timestamptz;

-- The request that holds an Idempotency-Key: when its hold expires (a killed turn), reconciliation
-- frees the key at once instead of an hour later.
ALTER TABLE turn_idempotency ADD COLUMN trace_id text;
CREATE INDEX turn_idempotency_running_idx ON turn_idempotency (user_id, trace_id) WHERE response IS NULL;
