-- Operators manage users (CONTRACT §5): roles, disabling, and a generation that every
-- credential change (password, disabling) moves on. A flow or session records the
-- generation its user signed on under; a session or grant is only created while that is
-- still the user's, so nothing signed on before a change outlives it.
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE users ADD COLUMN disabled_at BIGINT;
ALTER TABLE users ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE flows ADD COLUMN user_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN user_generation BIGINT NOT NULL DEFAULT 0;
-- Applications are listed oldest first (a stable order for paging).
CREATE INDEX clients_created ON clients (env_id, created_at, client_id);
-- A user's sessions are ended together.
CREATE INDEX sessions_user ON sessions (env_id, user_id);
