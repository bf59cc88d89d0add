-- A client that registered itself and has not completed a flow by this time is
-- deleted (CONTRACT §7: after 24 hours); NULL for every other client.
ALTER TABLE clients ADD COLUMN unused_until BIGINT;
CREATE INDEX clients_unused ON clients (unused_until);
