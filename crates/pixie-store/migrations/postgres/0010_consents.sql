-- Consent (CONTRACT §7): a flow may wait for the user's decision, and a decision is
-- remembered per user × client × scopes × resources (each set sorted, space-joined).
ALTER TABLE flows ADD COLUMN consent TEXT;
CREATE TABLE consents (
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    resources  TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, user_id, client_id, scopes, resources)
);
