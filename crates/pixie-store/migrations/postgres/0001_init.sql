CREATE TABLE environments (
    id          TEXT PRIMARY KEY,
    pkce_policy TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE clients (
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    secret_hash BYTEA,
    metadata    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (env_id, client_id)
);

CREATE TABLE users (
    env_id        TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    username      TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    email         TEXT,
    name          TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (env_id, id),
    UNIQUE (env_id, username)
);

CREATE TABLE signing_keys (
    env_id      TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    kid         TEXT NOT NULL,
    alg         TEXT NOT NULL,
    private_enc BYTEA NOT NULL,
    public_jwk  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (env_id, kid)
);
