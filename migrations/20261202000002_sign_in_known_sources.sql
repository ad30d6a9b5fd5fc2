-- Sign-in throttling counts failures per source: an IPv4 address, or an IPv6 /64 (where one
-- subscriber may pick any of 2^64 addresses). The column keeps its name, so the previous release
-- still works against this schema.
COMMENT ON COLUMN auth_failures.source_ip IS 'the source key: an IPv4 address, or an IPv6 /64 such as 2001:db8:1:2::/64';

-- Sources that signed in recently. When failures across every source reach the global ceiling
-- (distributed guessing), only these may still try, each under its own back-off.
CREATE TABLE auth_known_sources (
    source_key      text        NOT NULL,
    last_success_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT auth_known_sources_pkey PRIMARY KEY (source_key),
    CONSTRAINT auth_known_sources_source_key_length CHECK (char_length(source_key) BETWEEN 1 AND 64)
);
CREATE INDEX auth_known_sources_last_success_idx ON auth_known_sources (last_success_at);
