-- Events older than [events].retention are pruned; their counts are kept
-- here first, by the hour, so the stats keep their totals beyond the events.
CREATE TABLE stats_hourly (
    domain_id BIGINT NOT NULL,
    hour      BIGINT NOT NULL,             -- start of the hour, microseconds
    event     TEXT NOT NULL,
    severity  TEXT NOT NULL DEFAULT '',  -- '' for none (a key column)
    reason    TEXT NOT NULL DEFAULT '',
    method    TEXT NOT NULL DEFAULT '',
    n         BIGINT NOT NULL,
    PRIMARY KEY (domain_id, hour, event, severity, reason, method)
);
