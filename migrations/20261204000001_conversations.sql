-- Conversations kept on the server: a conversation per chat, its messages as a tree (regenerating
-- an answer or editing a question adds a sibling version under the same parent; the active branch
-- ends at `current_message_id`), each answer linked to the ledger row that charged it.
-- User data goes with its user (ON DELETE CASCADE); ledger rows stay when a conversation or a
-- message is deleted, as for agents: the message loses its link, the ledger keeps the spend.

CREATE TABLE conversations (
    id                 text            PRIMARY KEY,
    user_id            text            NOT NULL,
    title              text            NOT NULL,
    personality_id     text            NOT NULL,
    engine             engine_provider NOT NULL,
    model              text            NOT NULL,
    pinned             boolean         NOT NULL DEFAULT false,
    archived           boolean         NOT NULL DEFAULT false,
    -- The last message of the active branch: what the next turn continues.
    current_message_id text,
    input_tokens       bigint          NOT NULL DEFAULT 0,
    output_tokens      bigint          NOT NULL DEFAULT 0,
    cost_micros        bigint          NOT NULL DEFAULT 0,
    -- Lists are ordered by activity, not by renames or pins (those move updated_at).
    last_message_at    timestamptz     NOT NULL DEFAULT now(),
    created_at         timestamptz     NOT NULL DEFAULT now(),
    updated_at         timestamptz     NOT NULL DEFAULT now(),
    title_search       tsvector        GENERATED ALWAYS AS (to_tsvector('english', title)) STORED,
    CONSTRAINT conversations_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT conversations_user_id_id_key UNIQUE (user_id, id),
    CONSTRAINT conversations_id_format CHECK (id ~ '^[a-z0-9]{8,64}$'),
    CONSTRAINT conversations_title_length CHECK (char_length(title) BETWEEN 1 AND 200),
    CONSTRAINT conversations_personality_id_length CHECK (char_length(personality_id) BETWEEN 1 AND 100),
    CONSTRAINT conversations_model_length CHECK (char_length(model) BETWEEN 1 AND 200),
    CONSTRAINT conversations_input_tokens_non_negative CHECK (input_tokens >= 0),
    CONSTRAINT conversations_output_tokens_non_negative CHECK (output_tokens >= 0),
    CONSTRAINT conversations_cost_non_negative CHECK (cost_micros >= 0)
);
-- The sidebar: a user's conversations, archived or not, pinned first, most recently active first.
CREATE INDEX conversations_user_list_idx
    ON conversations (user_id, archived, pinned DESC, last_message_at DESC, id DESC);
CREATE INDEX conversations_title_search_idx ON conversations USING gin (title_search);
CREATE TRIGGER conversations_set_updated_at BEFORE UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE conversation_messages (
    id              text        PRIMARY KEY,
    conversation_id text        NOT NULL,
    user_id         text        NOT NULL,
    -- The message before this one on its branch; NULL for a conversation's first messages.
    parent_id       text,
    role            text        NOT NULL,
    content         text        NOT NULL,
    tool_calls      jsonb       NOT NULL DEFAULT '[]'::jsonb,
    tool_call_id    text,
    status          text        NOT NULL DEFAULT 'complete',
    input_tokens    bigint,
    output_tokens   bigint,
    cost_micros     bigint      NOT NULL DEFAULT 0,
    ledger_id       text,
    trace_id        text,
    -- clock_timestamp: the messages one turn writes in one transaction keep their order.
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    content_search  tsvector    GENERATED ALWAYS AS (to_tsvector('english', content)) STORED,
    CONSTRAINT conversation_messages_conversation_owner_fk FOREIGN KEY (user_id, conversation_id)
        REFERENCES conversations (user_id, id) ON DELETE CASCADE,
    CONSTRAINT conversation_messages_conversation_id_id_key UNIQUE (conversation_id, id),
    -- A parent is a message of the same conversation.
    CONSTRAINT conversation_messages_parent_fk FOREIGN KEY (conversation_id, parent_id)
        REFERENCES conversation_messages (conversation_id, id) ON DELETE CASCADE,
    CONSTRAINT conversation_messages_ledger_fk FOREIGN KEY (ledger_id)
        REFERENCES usage_ledger (id) ON DELETE SET NULL,
    CONSTRAINT conversation_messages_role_known CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    CONSTRAINT conversation_messages_status_known CHECK (status IN ('complete', 'stopped', 'failed')),
    CONSTRAINT conversation_messages_tool_calls_is_array CHECK (jsonb_typeof(tool_calls) = 'array'),
    CONSTRAINT conversation_messages_tool_result_has_call_id CHECK (role <> 'tool' OR tool_call_id IS NOT NULL),
    CONSTRAINT conversation_messages_content_length CHECK (char_length(content) <= 1000000),
    CONSTRAINT conversation_messages_tokens_non_negative
        CHECK (COALESCE(input_tokens, 0) >= 0 AND COALESCE(output_tokens, 0) >= 0),
    CONSTRAINT conversation_messages_cost_non_negative CHECK (cost_micros >= 0)
);
CREATE INDEX conversation_messages_conversation_idx
    ON conversation_messages (conversation_id, created_at, id);
CREATE INDEX conversation_messages_parent_idx
    ON conversation_messages (conversation_id, parent_id);
CREATE INDEX conversation_messages_ledger_idx
    ON conversation_messages (ledger_id) WHERE ledger_id IS NOT NULL;
CREATE INDEX conversation_messages_user_idx ON conversation_messages (user_id);
CREATE INDEX conversation_messages_content_search_idx
    ON conversation_messages USING gin (content_search);

ALTER TABLE conversations ADD CONSTRAINT conversations_current_message_fk
    FOREIGN KEY (id, current_message_id) REFERENCES conversation_messages (conversation_id, id)
    ON DELETE SET NULL (current_message_id) DEFERRABLE INITIALLY DEFERRED;
