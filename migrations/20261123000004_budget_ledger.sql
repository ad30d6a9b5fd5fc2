-- The exact budget ledger. Money is integer micro-dollars (1 USD = 1,000,000); the seed's cent
-- columns become generated from the exact ones, so they can never disagree:
--   balance cents = floor(micros / 10,000)            (never shows money that is not there)
--   cost cents    = floor((micros + 5,000) / 10,000)  (nearest cent, halves up)
-- (the same rules as shared/src/pricing.rs: balance_cents / cost_cents).
-- Invariant, per user: Σ grants − Σ ledger − Σ open holds = balance.

CREATE TABLE budget_grants (
    id            text        PRIMARY KEY,
    user_id       text        NOT NULL,
    amount_micros bigint      NOT NULL,
    reason        text        NOT NULL,
    granted_by    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budget_grants_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT budget_grants_granted_by_fk FOREIGN KEY (granted_by) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT budget_grants_amount_non_zero CHECK (amount_micros <> 0),
    CONSTRAINT budget_grants_reason_length CHECK (char_length(reason) BETWEEN 1 AND 500)
);
CREATE INDEX budget_grants_user_created_idx ON budget_grants (user_id, created_at DESC);

-- Exact balances; existing budgets become opening grants so the invariant holds from the start.
ALTER TABLE users ADD COLUMN balance_micros bigint NOT NULL DEFAULT 0;
UPDATE users SET balance_micros = budget_cents * 10000;
INSERT INTO budget_grants (id, user_id, amount_micros, reason)
SELECT 'g' || substr(md5(id || clock_timestamp()::text), 1, 23), id, balance_micros, 'opening balance'
FROM users WHERE balance_micros <> 0;
ALTER TABLE users DROP COLUMN budget_cents;
ALTER TABLE users ADD COLUMN budget_cents bigint
    GENERATED ALWAYS AS (floor(balance_micros::numeric / 10000)::bigint) STORED;

-- Exact costs, the kind of charge, and the hold it settled.
ALTER TABLE usage_ledger ADD COLUMN cost_micros bigint NOT NULL DEFAULT 0;
UPDATE usage_ledger SET cost_micros = cost_cents * 10000;
ALTER TABLE usage_ledger DROP COLUMN cost_cents;
ALTER TABLE usage_ledger ADD COLUMN cost_cents bigint
    GENERATED ALWAYS AS (floor((cost_micros + 5000)::numeric / 10000)::bigint) STORED;
ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_cost_micros_non_negative CHECK (cost_micros >= 0);
ALTER TABLE usage_ledger ADD COLUMN kind text NOT NULL DEFAULT 'completion';
ALTER TABLE usage_ledger ADD CONSTRAINT usage_ledger_kind_known CHECK (kind IN ('completion', 'embedding'));

-- Money set aside for a call in flight. A crashed call's hold is refunded after it expires.
CREATE TABLE budget_holds (
    id            text        PRIMARY KEY,
    user_id       text        NOT NULL,
    agent_id      text,
    amount_micros bigint      NOT NULL,
    trace_id      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    CONSTRAINT budget_holds_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT budget_holds_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE SET NULL,
    CONSTRAINT budget_holds_amount_non_negative CHECK (amount_micros >= 0),
    CONSTRAINT budget_holds_expiry_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX budget_holds_user_idx ON budget_holds (user_id);
CREATE INDEX budget_holds_expires_at_idx ON budget_holds (expires_at);

-- Idempotency-Key: a retried turn returns its first result and is charged once.
CREATE TABLE turn_idempotency (
    user_id      text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    response     jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT turn_idempotency_pkey PRIMARY KEY (user_id, key),
    CONSTRAINT turn_idempotency_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT turn_idempotency_key_length CHECK (char_length(key) BETWEEN 1 AND 255)
);
CREATE INDEX turn_idempotency_created_idx ON turn_idempotency (created_at);
