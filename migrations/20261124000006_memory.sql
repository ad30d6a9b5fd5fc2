-- Memory: documents a user adds (optionally for one persona), cut into chunks that are embedded
-- and searched by cosine distance. The vector column's dimension and its HNSW index depend on the
-- deployment's embedding model, so `helix-admin migrate` sets them after these migrations
-- (shared/src/memory/schema.rs) and records the model in memory_settings.

CREATE TABLE memory_documents (
    id          text        PRIMARY KEY,
    user_id     text        NOT NULL,
    doc_id      text        NOT NULL,
    persona_id  text,
    title       text,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    chars       integer     NOT NULL,
    chunk_count integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memory_documents_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    -- A persona's memory goes with the persona.
    CONSTRAINT memory_documents_persona_fk FOREIGN KEY (persona_id) REFERENCES personas (id) ON DELETE CASCADE,
    CONSTRAINT memory_documents_user_doc_key UNIQUE (user_id, doc_id),
    CONSTRAINT memory_documents_doc_id_format CHECK (doc_id ~ '^[A-Za-z0-9._:-]{1,200}$'),
    CONSTRAINT memory_documents_title_length CHECK (char_length(title) <= 300),
    CONSTRAINT memory_documents_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
    CONSTRAINT memory_documents_counts_non_negative CHECK (chars >= 0 AND chunk_count >= 0)
);
CREATE INDEX memory_documents_user_updated_idx ON memory_documents (user_id, updated_at DESC, id DESC);
CREATE TRIGGER memory_documents_set_updated_at BEFORE UPDATE ON memory_documents
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Nothing has written embeddings yet, so the chunk columns can be NOT NULL from the start.
ALTER TABLE embeddings
    ADD COLUMN document_id text    NOT NULL,
    ADD COLUMN persona_id  text,
    ADD COLUMN chunk_index integer NOT NULL,
    ADD COLUMN content     text    NOT NULL,
    ADD COLUMN char_start  integer NOT NULL,
    ADD COLUMN char_end    integer NOT NULL,
    ADD COLUMN tokens      integer NOT NULL,
    ADD CONSTRAINT embeddings_document_fk FOREIGN KEY (document_id) REFERENCES memory_documents (id) ON DELETE CASCADE,
    ADD CONSTRAINT embeddings_persona_fk FOREIGN KEY (persona_id) REFERENCES personas (id) ON DELETE CASCADE,
    ADD CONSTRAINT embeddings_document_chunk_key UNIQUE (document_id, chunk_index),
    ADD CONSTRAINT embeddings_span_valid CHECK (char_start >= 0 AND char_end > char_start);
-- Filtering a user's chunks before ranking; the vector index comes with the dimension.
CREATE INDEX embeddings_user_persona_idx ON embeddings (user_id, persona_id);

-- Which model made the stored vectors: a deployment configured for another one must not start.
CREATE TABLE memory_settings (
    singleton  boolean     PRIMARY KEY DEFAULT true,
    provider   text        NOT NULL,
    model      text        NOT NULL,
    dimensions integer     NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memory_settings_one_row CHECK (singleton),
    CONSTRAINT memory_settings_dimensions_positive CHECK (dimensions > 0)
);

-- A persona may enable memory for its turns: {"enabled", "k", "min_score"}.
ALTER TABLE personas ADD COLUMN memory jsonb,
    ADD CONSTRAINT personas_memory_is_object CHECK (memory IS NULL OR jsonb_typeof(memory) = 'object');
