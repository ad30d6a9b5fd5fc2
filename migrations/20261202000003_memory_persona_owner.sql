-- A memory document (and each of its chunks) may belong to a persona only of its own user: the
-- foreign keys name the persona by (user_id, id), so the database refuses another user's persona
-- even if the application forgot to check. A NULL persona_id (a document shared by all of the
-- user's personalities) is not checked, as before. A chunk, likewise, belongs to a document of
-- its own user.
ALTER TABLE personas ADD CONSTRAINT personas_user_id_id_key UNIQUE (user_id, id);

ALTER TABLE memory_documents
    DROP CONSTRAINT memory_documents_persona_fk,
    ADD CONSTRAINT memory_documents_persona_owner_fk FOREIGN KEY (user_id, persona_id)
        REFERENCES personas (user_id, id) ON DELETE CASCADE;

ALTER TABLE embeddings
    DROP CONSTRAINT embeddings_persona_fk,
    ADD CONSTRAINT embeddings_persona_owner_fk FOREIGN KEY (user_id, persona_id)
        REFERENCES personas (user_id, id) ON DELETE CASCADE;

ALTER TABLE memory_documents ADD CONSTRAINT memory_documents_user_id_id_key UNIQUE (user_id, id);
ALTER TABLE embeddings
    DROP CONSTRAINT embeddings_document_fk,
    ADD CONSTRAINT embeddings_document_owner_fk FOREIGN KEY (user_id, document_id)
        REFERENCES memory_documents (user_id, id) ON DELETE CASCADE;
