-- The acceptable-use rates count delivered, permanently failed, complained
-- and unsubscribed events per domain over the window: a covering index makes
-- each count a range of small index entries instead of a scan of whole rows
-- (which also holds every accepted event and every deferral).
CREATE INDEX events_rates ON events (domain_id, event, severity, ts, reason);
