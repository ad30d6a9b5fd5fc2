-- Signing out and revoking sessions. A token names its user (`sub`) and itself (`jti`); the guard,
-- in the query that already loads the user, refuses a token whose jti was revoked (POST /auth/logout)
-- or that was issued before its user's tokens_valid_after (an admin's revocation, or a passcode that
-- is no longer configured). tokens_valid_after is a whole second: tokens issued (iat, in seconds)
-- before it are refused.
ALTER TABLE users ADD COLUMN tokens_valid_after timestamptz,
    ADD CONSTRAINT users_tokens_valid_after_whole_second
        CHECK (extract(microseconds FROM tokens_valid_after) % 1000000 = 0);

-- One row per signed-out token, kept until the token would have expired anyway (then pruned).
CREATE TABLE revoked_tokens (
    jti        text        NOT NULL,
    user_id    text        NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT revoked_tokens_pkey PRIMARY KEY (jti),
    CONSTRAINT revoked_tokens_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT revoked_tokens_jti_length CHECK (char_length(jti) BETWEEN 1 AND 64)
);
CREATE INDEX revoked_tokens_user_idx ON revoked_tokens (user_id);
CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);
