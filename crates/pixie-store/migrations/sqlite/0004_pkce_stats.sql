-- PKCE observations per client and day, for the readiness report. Counts are added in
-- batches (upsert), never a row per request.
CREATE TABLE pkce_stats (
    env_id     TEXT NOT NULL REFERENCES environments(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    day        BIGINT NOT NULL,
    method     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    rule       TEXT NOT NULL,
    count      BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen  BIGINT NOT NULL,
    PRIMARY KEY (env_id, client_id, day, method, outcome, rule)
);
