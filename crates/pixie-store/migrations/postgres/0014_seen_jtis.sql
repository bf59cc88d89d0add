-- Single-use JWT ids (DPoP proofs, client assertions; CONTRACT §8), under a digest of
-- what they are and whose, kept until a replay could no longer pass the time checks.
-- One table for every instance: a jti seen by one is seen by all.
CREATE TABLE seen_jtis (
    key        BYTEA PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX seen_jtis_expiry ON seen_jtis (expires_at);
