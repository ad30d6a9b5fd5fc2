-- Budget policies: a recurring allowance, a spending cap per period and call/token limits, per
-- user or as the deployment's default (the one row without a user). A user's own row replaces the
-- default whole; a NULL limit in it means the deployment's configured limit (calls) or none.
CREATE TABLE budget_policies (
    id                      text        PRIMARY KEY,
    user_id                 text,
    period                  text        NOT NULL DEFAULT 'monthly',
    time_zone               text        NOT NULL DEFAULT 'UTC',
    allowance_micros        bigint,
    refill_rule             text        NOT NULL DEFAULT 'top_up',
    rollover_cap_micros     bigint,
    spend_cap_micros        bigint,
    max_calls_in_flight     integer,
    max_calls_per_minute    integer,
    max_tokens_per_minute   bigint,
    alert_threshold_percent integer     NOT NULL DEFAULT 80,
    configured_by           text,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budget_policies_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT budget_policies_configured_by_fk FOREIGN KEY (configured_by) REFERENCES users (id) ON DELETE SET NULL,
    CONSTRAINT budget_policies_user_unique UNIQUE (user_id),
    CONSTRAINT budget_policies_period_known CHECK (period IN ('daily', 'weekly', 'monthly')),
    CONSTRAINT budget_policies_rule_known CHECK (refill_rule IN ('top_up', 'add')),
    CONSTRAINT budget_policies_amounts_non_negative CHECK (
        COALESCE(allowance_micros, 0) >= 0 AND COALESCE(rollover_cap_micros, 0) >= 0
        AND COALESCE(spend_cap_micros, 0) >= 0),
    CONSTRAINT budget_policies_limits_positive CHECK (
        COALESCE(max_calls_in_flight, 1) >= 1 AND COALESCE(max_calls_per_minute, 1) >= 1
        AND COALESCE(max_tokens_per_minute, 1) >= 1),
    CONSTRAINT budget_policies_threshold_range CHECK (alert_threshold_percent BETWEEN 1 AND 100)
);
-- At most one deployment default.
CREATE UNIQUE INDEX budget_policies_one_default ON budget_policies ((true)) WHERE user_id IS NULL;

-- Where a period begins, calendar-aligned in its time zone (weeks start on Monday). The
-- reservation and settlement compute it inline; shared/src/budget/period.rs is the same rule in Rust.
CREATE FUNCTION helix_period_start(period text, time_zone text, at timestamptz) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN date_trunc(CASE period WHEN 'daily' THEN 'day' WHEN 'weekly' THEN 'week' ELSE 'month' END,
                      at, time_zone);

-- Counters on the user row, so the reservation checks the cap and tokens per minute in the one
-- statement that debits the balance, under the row lock (exact across every instance):
--   held_micros            = Σ open holds (kept with calls_in_flight),
--   spend_period_micros    = Σ ledger cost since spend_period_start (the policy's current period),
--   token_window_tokens    = tokens of the calls admitted in the minute token_window_start: the
--                            worst case while a call runs, corrected to its usage when it settles.
ALTER TABLE users
    ADD COLUMN held_micros bigint NOT NULL DEFAULT 0,
    ADD COLUMN spend_period_start timestamptz NOT NULL DEFAULT '1970-01-01T00:00:00Z',
    ADD COLUMN spend_period_micros bigint NOT NULL DEFAULT 0,
    ADD COLUMN token_window_start timestamptz NOT NULL DEFAULT '1970-01-01T00:00:00Z',
    ADD COLUMN token_window_tokens bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT users_held_micros_non_negative CHECK (held_micros >= 0);

UPDATE users SET
    held_micros = (SELECT COALESCE(sum(amount_micros), 0) FROM budget_holds h WHERE h.user_id = users.id),
    spend_period_start = helix_period_start('monthly', 'UTC', now()),
    spend_period_micros = (SELECT COALESCE(sum(cost_micros), 0) FROM usage_ledger l
                           WHERE l.user_id = users.id AND l.created_at >= helix_period_start('monthly', 'UTC', now()));

-- A hold remembers the tokens it counted and in which minute, so its settlement can correct them.
ALTER TABLE budget_holds
    ADD COLUMN tokens bigint NOT NULL DEFAULT 0,
    ADD COLUMN token_window timestamptz;

-- One refill per user and period: the key makes a second run, a retry or a concurrent run a no-op.
-- A top-up of a balance already at its allowance is recorded with no grant.
CREATE TABLE budget_refills (
    user_id       text        NOT NULL,
    period_key    text        NOT NULL,
    grant_id      text,
    amount_micros bigint      NOT NULL,
    refill_rule   text        NOT NULL,
    configured_by text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budget_refills_pkey PRIMARY KEY (user_id, period_key),
    CONSTRAINT budget_refills_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT budget_refills_grant_fk FOREIGN KEY (grant_id) REFERENCES budget_grants (id) ON DELETE SET NULL,
    CONSTRAINT budget_refills_configured_by_fk FOREIGN KEY (configured_by) REFERENCES users (id) ON DELETE SET NULL
);

-- Alerts, each once per key: a user's period spend crossing its threshold of the allowance or cap
-- (key: the period), reconciliation drift, repeated provider failures. `published_at` is the
-- outbox mark of the SNS notification.
CREATE TABLE budget_alerts (
    id           text        PRIMARY KEY,
    user_id      text,
    kind         text        NOT NULL,
    alert_key    text        NOT NULL,
    spent_micros bigint,
    limit_micros bigint,
    details      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    CONSTRAINT budget_alerts_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT budget_alerts_kind_known CHECK (
        kind IN ('allowance_threshold', 'cap_threshold', 'reconcile_drift', 'provider_failures')),
    CONSTRAINT budget_alerts_details_is_object CHECK (jsonb_typeof(details) = 'object')
);
CREATE UNIQUE INDEX budget_alerts_once ON budget_alerts ((COALESCE(user_id, '')), kind, alert_key);
CREATE INDEX budget_alerts_user_created_idx ON budget_alerts (user_id, created_at DESC);
CREATE INDEX budget_alerts_unpublished_idx ON budget_alerts (created_at) WHERE published_at IS NULL;

-- Usage summaries group by model, engine and personality: stored columns from the row's meta and a
-- covering index make them index-only scans over the user's window.
ALTER TABLE usage_ledger
    ADD COLUMN model text GENERATED ALWAYS AS (meta->>'model') STORED,
    ADD COLUMN engine text GENERATED ALWAYS AS (COALESCE(meta->>'engine', meta->>'provider')) STORED,
    ADD COLUMN personality_id text GENERATED ALWAYS AS (meta->>'personality_id') STORED;
CREATE INDEX usage_ledger_summary_idx ON usage_ledger (user_id, created_at)
    INCLUDE (cost_micros, input_tokens, output_tokens, model, engine, personality_id);

-- Failed provider calls per provider and fixed window: enough of them raise a provider_failures alert.
CREATE TABLE provider_failure_windows (
    provider     text        NOT NULL,
    window_start timestamptz NOT NULL,
    failures     integer     NOT NULL,
    CONSTRAINT provider_failure_windows_pkey PRIMARY KEY (provider, window_start)
);
