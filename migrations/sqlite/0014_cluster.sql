-- The cluster: each run of a node (its row lives while it beats), leases
-- that name their holder, the node running each singleton job, and the
-- shared state of rate limits.
CREATE TABLE nodes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,     -- [cluster].node_name: the same across restarts
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,  -- the store's clock, not the node's
    stopped_at   INTEGER            -- set by a clean stop
);
CREATE INDEX nodes_name ON nodes (name);

-- A lease is held by a node run (lease_node) and names which of its leases
-- (lease_token): an outcome is recorded only while both still match.
DROP INDEX recipients_lease;
ALTER TABLE recipients DROP COLUMN lease_until;
ALTER TABLE recipients ADD COLUMN lease_node INTEGER;
ALTER TABLE recipients ADD COLUMN lease_token INTEGER;
CREATE INDEX recipients_lease ON recipients (lease_node) WHERE lease_node IS NOT NULL;

CREATE TABLE singletons (
    name    TEXT PRIMARY KEY,
    node_id INTEGER NOT NULL,
    since   INTEGER NOT NULL
);

-- GCRA state of a cluster-wide limit: its theoretical arrival time.
CREATE TABLE rate_buckets (
    name TEXT PRIMARY KEY,
    tat  INTEGER NOT NULL
);
