-- A keyed turn that fails after its memory recall was embedded (and charged) keeps that query
-- vector with its released Idempotency-Key, so the retry searches with it instead of paying for
-- the same embedding again. `released_at` marks a key given back; a retry with the same request
-- takes it over. Keys without a vector are still deleted when given back, as before.
ALTER TABLE turn_idempotency
    ADD COLUMN released_at timestamptz,
    ADD COLUMN recall_model text,
    ADD COLUMN recall_vector real[],
    ADD CONSTRAINT turn_idempotency_recall_pair CHECK ((recall_model IS NULL) = (recall_vector IS NULL));
