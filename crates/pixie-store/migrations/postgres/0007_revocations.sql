-- Access tokens are signed JWTs and no longer stored. What revokes one is recorded
-- instead: the token itself ('jti:…'), its grant ('grant:…') or its session ('sid:…'),
-- each a random id, kept until every access token it could match has expired.
CREATE TABLE revocations (
    what       TEXT PRIMARY KEY,
    env_id     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX revocations_expiry ON revocations (expires_at);
