-- A client identified by its metadata document (a URL as client_id, CONTRACT §7) is
-- stored when its document is fetched; the document is fetched again after this time.
-- NULL for every other client.
ALTER TABLE clients ADD COLUMN document_expires_at BIGINT;
