-- Acceptable use: why a delivery failed, for the bounce rate, and each
-- domain's state (ok | warning | suspended) with its reason.
ALTER TABLE events ADD COLUMN reason TEXT;
CREATE TABLE reputation (
    domain_id     INTEGER PRIMARY KEY REFERENCES domains(id) ON DELETE CASCADE,
    state         TEXT NOT NULL,     -- ok | warning | suspended
    reason        TEXT NOT NULL DEFAULT '',   -- JSON {rate, value, threshold}
    changed_at    INTEGER NOT NULL,
    reinstated_at INTEGER            -- rates count only what came after it
);
