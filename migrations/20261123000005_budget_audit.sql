-- What reconciliation changed: a balance that had drifted from its ledger, and what it was set to.
CREATE TABLE budget_audit (
    id                    text        PRIMARY KEY,
    user_id               text        NOT NULL,
    kind                  text        NOT NULL,
    balance_before_micros bigint      NOT NULL,
    balance_after_micros  bigint      NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT budget_audit_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT budget_audit_kind_known CHECK (kind IN ('drift_repaired'))
);
CREATE INDEX budget_audit_user_created_idx ON budget_audit (user_id, created_at DESC);
