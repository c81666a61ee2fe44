-- Delivery: the DKIM signature computed once per message, and the domain's
-- suppression lists (bounces, unsubscribes, complaints).
ALTER TABLE messages ADD COLUMN dkim_signature BLOB;

CREATE TABLE suppressions (
    id         INTEGER PRIMARY KEY,
    domain_id  INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,   -- bounce | unsubscribe | complaint
    address    TEXT NOT NULL,   -- lower case
    code       TEXT NOT NULL DEFAULT '',
    error      TEXT NOT NULL DEFAULT '',
    tags       TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    UNIQUE (domain_id, kind, address)
);
CREATE INDEX recipients_lease ON recipients (status, lease_until);
