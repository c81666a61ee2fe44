-- envoi schema, SQLite flavour. Times are microseconds since the epoch;
-- booleans are 0/1 integers (the same queries run on PostgreSQL).

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE domains (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    state             TEXT NOT NULL DEFAULT 'unverified',
    require_tls       INTEGER NOT NULL DEFAULT 0,
    skip_verification INTEGER NOT NULL DEFAULT 0,
    spam_action       TEXT NOT NULL DEFAULT 'disabled',
    wildcard          INTEGER NOT NULL DEFAULT 0,
    web_scheme        TEXT NOT NULL DEFAULT 'https',
    web_prefix        TEXT NOT NULL DEFAULT 'email',
    dkim_selector     TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);

CREATE TABLE dkim_keys (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    selector    TEXT NOT NULL,
    algorithm   TEXT NOT NULL,
    bits        INTEGER NOT NULL,
    private_key BLOB NOT NULL,      -- AES-256-GCM under the master key
    dns_value   TEXT NOT NULL,
    active      INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    UNIQUE (domain_id, selector)
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    secret_hash     BLOB NOT NULL,  -- SHA-256 of a 128-bit random secret
    role            TEXT NOT NULL,
    kind            TEXT NOT NULL,
    domain_name     TEXT,
    description     TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    last_used_at    INTEGER
);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    storage_key TEXT NOT NULL UNIQUE,
    message_id  TEXT NOT NULL,
    sender      TEXT NOT NULL,
    body        BLOB NOT NULL,      -- AES-256-GCM under the master key
    size        INTEGER NOT NULL,
    options     TEXT NOT NULL,      -- JSON: tags, variables, o: overrides
    method      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE recipients (
    id              INTEGER PRIMARY KEY,
    message_id      INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    address         TEXT NOT NULL,
    domain          TEXT NOT NULL,
    status          TEXT NOT NULL,  -- queued | delivered | failed | testmode
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX recipients_due ON recipients (status, next_attempt_at);
CREATE INDEX recipients_message ON recipients (message_id);

CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    domain_id  INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    event      TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    recipient  TEXT,
    message_id TEXT,
    severity   TEXT,
    tags       TEXT NOT NULL DEFAULT '[]',
    data       TEXT NOT NULL
);
CREATE INDEX events_domain_ts ON events (domain_id, ts);
