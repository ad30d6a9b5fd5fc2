-- The seed schema: users, personas, agents, the usage ledger and embeddings.
-- Ids are CUID2 strings made by the application; money is integer cents (exact units come later).

CREATE TYPE user_role AS ENUM ('user', 'admin');
CREATE TYPE engine_provider AS ENUM ('openai', 'anthropic', 'bedrock', 'local');
CREATE TYPE agent_status AS ENUM ('active', 'disabled');

-- Keeps updated_at true without relying on every writer to remember it.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id             text        PRIMARY KEY,
    email          text        NOT NULL,
    name           text,
    avatar_url     text,
    persona_prompt text,
    budget_cents   bigint      NOT NULL DEFAULT 0,
    role           user_role   NOT NULL DEFAULT 'user',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_id_format CHECK (id ~ '^[a-z0-9]{8,64}$'),
    -- Stored normalised, so the unique constraint is case-insensitive in effect.
    CONSTRAINT users_email_normalised CHECK (email = lower(btrim(email)) AND email LIKE '_%@_%'),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_name_length CHECK (name IS NULL OR char_length(name) BETWEEN 1 AND 200)
);
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE personas (
    id         text        PRIMARY KEY,
    user_id    text        NOT NULL,
    name       text        NOT NULL,
    prompt     text        NOT NULL,
    avatar_url text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT personas_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT personas_name_length CHECK (char_length(name) BETWEEN 1 AND 80),
    CONSTRAINT personas_prompt_length CHECK (char_length(prompt) BETWEEN 1 AND 32000)
);
-- Listing a user's personas newest first is the common read.
CREATE INDEX personas_user_created_idx ON personas (user_id, created_at DESC, id DESC);
CREATE TRIGGER personas_set_updated_at BEFORE UPDATE ON personas
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE agents (
    id         text            PRIMARY KEY,
    user_id    text            NOT NULL,
    provider   engine_provider NOT NULL,
    model      text            NOT NULL,
    status     agent_status    NOT NULL DEFAULT 'active',
    created_at timestamptz     NOT NULL DEFAULT now(),
    updated_at timestamptz     NOT NULL DEFAULT now(),
    CONSTRAINT agents_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT agents_model_length CHECK (char_length(model) BETWEEN 1 AND 200),
    -- One agent per user, provider and model (a duplicate is a 409, not a second row).
    CONSTRAINT agents_user_provider_model_key UNIQUE (user_id, provider, model)
);
CREATE TRIGGER agents_set_updated_at BEFORE UPDATE ON agents
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE usage_ledger (
    id            text        PRIMARY KEY,
    user_id       text        NOT NULL,
    -- The spend stays on record when an agent is deleted; meta keeps provider and model.
    agent_id      text,
    input_tokens  integer     NOT NULL,
    output_tokens integer     NOT NULL,
    cost_cents    bigint      NOT NULL,
    meta          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_ledger_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT usage_ledger_agent_fk FOREIGN KEY (agent_id) REFERENCES agents (id) ON DELETE SET NULL,
    CONSTRAINT usage_ledger_input_tokens_non_negative CHECK (input_tokens >= 0),
    CONSTRAINT usage_ledger_output_tokens_non_negative CHECK (output_tokens >= 0),
    CONSTRAINT usage_ledger_cost_non_negative CHECK (cost_cents >= 0),
    CONSTRAINT usage_ledger_meta_is_object CHECK (jsonb_typeof(meta) = 'object')
);
-- Budget pages read a user's ledger newest first; reconciliation sums it per user.
CREATE INDEX usage_ledger_user_created_idx ON usage_ledger (user_id, created_at DESC, id DESC);
CREATE INDEX usage_ledger_agent_idx ON usage_ledger (agent_id) WHERE agent_id IS NOT NULL;

-- The vector's dimension is fixed by the memory feature's migration, for the configured model.
CREATE TABLE embeddings (
    id         text        PRIMARY KEY,
    user_id    text        NOT NULL,
    doc_id     text        NOT NULL,
    vector     vector      NOT NULL,
    metadata   jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT embeddings_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT embeddings_doc_id_length CHECK (char_length(doc_id) BETWEEN 1 AND 200),
    CONSTRAINT embeddings_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object')
);
CREATE INDEX embeddings_user_doc_idx ON embeddings (user_id, doc_id);
