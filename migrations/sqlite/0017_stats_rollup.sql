-- Events up to this id are counted in stats_hourly already: once an hour
-- is over, its events are counted there (store::rollup), and the stats read
-- a month as hourly rows instead of counting every event again (at a
-- million events the overview took 1.5 s counting them).
CREATE TABLE stats_rollup (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    upto INTEGER NOT NULL
);
-- Nothing counted yet: below every id (benchmarks copy rows to negative ids).
INSERT INTO stats_rollup (id, upto) VALUES (1, -9223372036854775807 - 1);
