-- What an operator does to the queue and sees of webhooks and credentials
-- (the dashboard, issue 23).
--
-- Destinations held: by an operator until released (`operator`, no end),
-- or by delivery after no MX host took a connection (`unreachable`, until
-- `held_until`). Delivery keeps its own holds in memory and writes them here so
-- that every node's dashboard shows them and "retry now" can lift them.
CREATE TABLE destination_holds (
    destination TEXT NOT NULL,
    kind        TEXT NOT NULL,     -- operator | unreachable
    reason      TEXT NOT NULL,
    held_until  INTEGER,           -- microseconds; NULL: until released
    failures    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (destination, kind)
);
-- Webhook calls that are over (delivered, refused, given up), for their
-- history and replay; pruned with the events.
CREATE TABLE webhook_history (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL,
    kind        TEXT NOT NULL,
    url         TEXT NOT NULL,
    event_row   INTEGER NOT NULL,  -- events.id
    outcome     TEXT NOT NULL,     -- delivered | refused | given_up | event_gone
    attempts    INTEGER NOT NULL,
    answer      TEXT NOT NULL,     -- "HTTP 200", or what the connection met
    finished_at INTEGER NOT NULL
);
CREATE INDEX webhook_history_domain ON webhook_history (domain_id, finished_at);
CREATE INDEX webhook_history_finished ON webhook_history (finished_at);
-- When a credential last logged in (refreshed at most once a minute).
ALTER TABLE smtp_credentials ADD COLUMN last_used_at INTEGER;
-- Dashboard sessions signed out before their end: the cookie (which needs
-- no table to be checked) stops working at sign-out even where a copy of
-- it is left. Kept until the session would have ended anyway (seconds).
CREATE TABLE ui_signed_out (
    nonce   TEXT PRIMARY KEY,
    ends_at INTEGER NOT NULL
);
