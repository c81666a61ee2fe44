-- Webhooks: the URLs each domain wants told of each kind of event, and the
-- calls still to make (retried with backoff). `events.method` (http | smtp)
-- is how the message came in, for the stats' delivered split.
ALTER TABLE events ADD COLUMN method TEXT;
CREATE TABLE webhooks (
    domain_id  INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,     -- delivered | permanent_fail | ...
    urls       TEXT NOT NULL,     -- JSON array, at most 3
    created_at INTEGER NOT NULL,
    PRIMARY KEY (domain_id, kind)
);
CREATE TABLE webhook_calls (
    id        INTEGER PRIMARY KEY,
    domain_id INTEGER NOT NULL,
    kind      TEXT NOT NULL,
    url       TEXT NOT NULL,
    event_row INTEGER NOT NULL,   -- events.id
    attempts  INTEGER NOT NULL DEFAULT 0,
    next_at   INTEGER NOT NULL,   -- due time, or the end of a node's lease
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_calls_due ON webhook_calls (next_at);
-- Calls are made for events after this one (events.id): none for history.
INSERT INTO settings (name, value)
    SELECT 'webhook_cursor', CAST(COALESCE(MAX(id), 0) AS TEXT) FROM events;
