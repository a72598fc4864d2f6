-- The buyer's e-mail on an order (optional): where its confirmation with the
-- tickets is sent (docs/allocation.md §Confirming, docs/mail.md).
ALTER TABLE orders ADD COLUMN email text CHECK (email IS NULL OR length(email) BETWEEN 3 AND 254);
