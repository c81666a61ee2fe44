-- Key rotation with a grace period: the secret (or SMTP password) that was
-- replaced keeps working until previous_valid_until, and is remembered after
-- that so a late client is told the key was rotated rather than just "wrong".
ALTER TABLE api_keys ADD COLUMN previous_hash BLOB;
ALTER TABLE api_keys ADD COLUMN previous_valid_until INTEGER;
ALTER TABLE api_keys ADD COLUMN rotated_at INTEGER;
ALTER TABLE smtp_credentials ADD COLUMN previous_password_hash TEXT;
ALTER TABLE smtp_credentials ADD COLUMN previous_valid_until INTEGER;

-- Who changed which key when. Never a secret.
CREATE TABLE audit_events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,          -- the API key id that made the change, or 'cli'
    action  TEXT NOT NULL,          -- key.created, key.rotated, credential.deleted, ...
    target  TEXT NOT NULL,          -- a key id, an SMTP login, a DKIM selector
    domain  TEXT,
    detail  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_at ON audit_events (at);
