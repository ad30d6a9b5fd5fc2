-- Personal API keys (issue 20): a key acts as its owner on every /v1/* route, as
-- `Authorization: Bearer hx_…`. Only the SHA-256 of the high-entropy secret is stored; `prefix`
-- (the secret's first characters) is what the owner recognises it by.
--
-- A key's spend limit is checked in the statement that reserves a call, like the balance. The
-- reservation locks the key row (after the user row, the order every money statement keeps), and
-- reads its counters: `spent_micros` (Σ its ledger rows) and `held_micros` (Σ its open holds).
-- The triggers below keep both counters exact on every path that writes holds or ledger rows
-- (reserve, settle, release, reconciliation), so no path can forget them.
CREATE TABLE api_keys (
    id                 text        PRIMARY KEY,
    user_id            text        NOT NULL,
    name               text        NOT NULL,
    prefix             text        NOT NULL,
    secret_sha256      text        NOT NULL,
    spend_limit_micros bigint,
    spent_micros       bigint      NOT NULL DEFAULT 0,
    held_micros        bigint      NOT NULL DEFAULT 0,
    expires_at         timestamptz,
    revoked_at         timestamptz,
    last_used_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT api_keys_secret_sha256_key UNIQUE (secret_sha256),
    CONSTRAINT api_keys_name_length CHECK (char_length(name) BETWEEN 1 AND 100),
    CONSTRAINT api_keys_spend_limit_positive CHECK (spend_limit_micros IS NULL OR spend_limit_micros > 0),
    CONSTRAINT api_keys_spent_non_negative CHECK (spent_micros >= 0),
    CONSTRAINT api_keys_held_non_negative CHECK (held_micros >= 0)
);
CREATE INDEX api_keys_user_created_idx ON api_keys (user_id, created_at DESC);

ALTER TABLE budget_holds ADD COLUMN api_key_id text,
    ADD CONSTRAINT budget_holds_api_key_fk FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE SET NULL;
ALTER TABLE usage_ledger ADD COLUMN api_key_id text,
    ADD CONSTRAINT usage_ledger_api_key_fk FOREIGN KEY (api_key_id) REFERENCES api_keys (id) ON DELETE SET NULL;
CREATE INDEX usage_ledger_user_api_key_created_idx ON usage_ledger (user_id, api_key_id, created_at DESC)
    WHERE api_key_id IS NOT NULL;

CREATE FUNCTION api_keys_count_holds() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE api_keys SET held_micros = held_micros + NEW.amount_micros WHERE id = NEW.api_key_id;
        RETURN NEW;
    END IF;
    UPDATE api_keys SET held_micros = GREATEST(held_micros - OLD.amount_micros, 0) WHERE id = OLD.api_key_id;
    RETURN OLD;
END $$;

CREATE TRIGGER budget_holds_held_for_api_key
    AFTER INSERT ON budget_holds
    FOR EACH ROW WHEN (NEW.api_key_id IS NOT NULL)
    EXECUTE FUNCTION api_keys_count_holds();
CREATE TRIGGER budget_holds_released_for_api_key
    AFTER DELETE ON budget_holds
    FOR EACH ROW WHEN (OLD.api_key_id IS NOT NULL)
    EXECUTE FUNCTION api_keys_count_holds();

CREATE FUNCTION api_keys_count_spend() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_keys SET spent_micros = spent_micros + NEW.cost_micros WHERE id = NEW.api_key_id;
    RETURN NEW;
END $$;

CREATE TRIGGER usage_ledger_count_for_api_key
    AFTER INSERT ON usage_ledger
    FOR EACH ROW WHEN (NEW.api_key_id IS NOT NULL)
    EXECUTE FUNCTION api_keys_count_spend();
