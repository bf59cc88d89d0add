-- A pending authorization: what was asked, bound to the user agent's flow cookie.
CREATE TABLE flows (
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    cookie_hash BYTEA NOT NULL,
    client_id   TEXT NOT NULL,
    request     TEXT NOT NULL,
    status      TEXT NOT NULL,
    user_id     TEXT,
    auth_time   BIGINT,
    failures    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (env_id, id)
);
CREATE INDEX flows_expiry ON flows (expires_at);

-- A signed-on user agent; only the hash of its cookie is kept.
CREATE TABLE sessions (
    id_hash    BYTEA PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Authorization codes, by hash; used_at makes them single-use.
CREATE TABLE codes (
    code_hash  BYTEA PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    grant_id   TEXT NOT NULL,
    data       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX codes_expiry ON codes (expires_at);

-- Issued tokens: access tokens by jti, refresh tokens by hash. A grant is the family of
-- everything issued from one authorization; revoking it revokes them all.
CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,
    token_hash BYTEA UNIQUE,
    grant_id   TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT,
    scope      TEXT NOT NULL,
    data       TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX tokens_grant ON tokens (grant_id);
CREATE INDEX tokens_expiry ON tokens (expires_at);
