-- Failed passcode attempts per source IP, for brute-force throttling shared by every Lambda
-- instance. Rows older than the configured window are pruned as new failures arrive.
CREATE TABLE auth_failures (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_ip  text        NOT NULL,
    failed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT auth_failures_source_ip_length CHECK (char_length(source_ip) BETWEEN 1 AND 64)
);
CREATE INDEX auth_failures_source_ip_failed_at_idx ON auth_failures (source_ip, failed_at DESC);
CREATE INDEX auth_failures_failed_at_idx ON auth_failures (failed_at);
