-- Pushed authorization requests (RFC 9126, CONTRACT §8): the parameters a client
-- pushed, under the SHA-256 of their request_uri, until used once or expired.
CREATE TABLE pushed_requests (
    uri_hash   BYTEA PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
