-- A grant: everything issued from one authorization (its code, refresh tokens and
-- access tokens). Revoking it (a replayed code, a reused refresh token, a sign-off,
-- a deleted client or user) marks this row, which lives as long as any token of the
-- grant can: a code of a revoked grant is not exchanged, and a refresh token is
-- stored only while its grant is unrevoked (the insert locks this row, so a
-- concurrent revocation either comes first and stops it, or comes after and sees it).
CREATE TABLE grants (
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT,
    sid        TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    PRIMARY KEY (env_id, id)
);
CREATE INDEX grants_sid ON grants (env_id, sid);
CREATE INDEX grants_user ON grants (env_id, user_id);
CREATE INDEX grants_client ON grants (env_id, client_id);
CREATE INDEX grants_expiry ON grants (expires_at);

-- The grants of what was issued before this migration.
INSERT INTO grants (env_id, id, client_id, user_id, sid, created_at, expires_at, revoked_at)
SELECT env_id, grant_id, MIN(client_id), MIN(user_id), MIN(sid), MIN(created_at), MAX(expires_at), MAX(revoked_at)
FROM tokens GROUP BY env_id, grant_id;
INSERT INTO grants (env_id, id, client_id, user_id, sid, created_at, expires_at, revoked_at)
SELECT env_id, grant_id, client_id, user_id, NULL, created_at, expires_at + 31622400, NULL
FROM codes WHERE NOT EXISTS (SELECT 1 FROM grants g WHERE g.env_id = codes.env_id AND g.id = codes.grant_id);

-- Counters every instance shares (sign-on failures per user, per address and flow
-- starts per address), each in a fixed window. Keys are SHA-256 digests, so a row's
-- size never depends on what a client typed.
CREATE TABLE counters (
    key          BLOB PRIMARY KEY,
    count        BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX counters_expiry ON counters (expires_at);

-- How a flow was signed on: `form` (the sign-on page, in the browser holding the flow
-- cookie) or `api` (the flows API, which needs no cookie). The page resumes only a
-- flow its own form completed, so a flow completed through the API by whoever learned
-- its id cannot be resumed by the victim's browser (login CSRF).
ALTER TABLE flows ADD COLUMN completed_via TEXT;
