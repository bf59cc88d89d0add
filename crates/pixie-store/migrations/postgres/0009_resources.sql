-- Resource servers of an environment (RFC 8707 resource indicators), with the scopes
-- they define (a JSON array of strings).
CREATE TABLE resources (
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    uri        TEXT NOT NULL,
    name       TEXT,
    scopes     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, uri)
);
