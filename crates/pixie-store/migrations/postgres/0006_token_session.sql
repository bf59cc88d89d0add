-- Tokens remember the session they came from, so ending it revokes them.
ALTER TABLE tokens ADD COLUMN sid TEXT;
CREATE INDEX tokens_sid ON tokens (sid);
