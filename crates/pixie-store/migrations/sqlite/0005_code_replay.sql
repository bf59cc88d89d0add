-- A replay of a used code: the tokens of its grant are revoked, even those issued after.
ALTER TABLE codes ADD COLUMN replayed_at BIGINT;
