-- Rollups that make the dashboards fast at tens of millions of declarations without giving up
-- exactness. Raw tables receive at-least-once deliveries and corrections; reading them with FINAL
-- and a join on every dashboard query costs seconds. Instead, Store.Rollup (run before each
-- dashboard query, and by a background loop) rebuilds the changed days of two derived tables from
-- the raw tables — deduplicated with FINAL and LIMIT 1 BY, joined with the latest result — and
-- swaps the partitions holding them in atomically with ALTER TABLE … REPLACE PARTITION. A materialized view cannot do
-- this: it sees inserts, not merges, so a re-delivered or corrected row would be counted twice.
-- Materialized views only mark which days were touched, so that rollups rebuild just those.

-- decision_facts: one row per declaration version (the latest decision of it) with its latest
-- concluded inspection result. Partitioned by the week (Monday) of the day in the configured time
-- zone: few enough parts for a year's query to open quickly, small enough to rebuild often.
CREATE TABLE IF NOT EXISTS decision_facts (
    day Date,
    decided_at DateTime('UTC'),
    declaration_no String,
    version UInt32,
    port String,
    importer String,
    declarant String,
    channel Enum8('RED' = 1, 'YELLOW' = 2, 'GREEN' = 3),
    selection String,
    random UInt8,
    propensity Float64,
    probability Float64,
    score Float64,
    model_version String,
    rules_fired Array(String),
    rules_selected Array(String),
    hs2 Array(String),
    hs4 Array(String),
    origins Array(String),
    trade_mode String,
    has_result UInt8,
    hit UInt8,
    severity UInt8,
    revenue Float64,
    inspected_at DateTime('UTC')
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(toMonday(day))
ORDER BY (port, channel, importer, declaration_no, version);

-- daily_cube: decision_facts summed per day and the low-cardinality dimensions dashboards filter
-- and group by. Rebuilt with decision_facts; partitioned by month (a month is a few thousand rows).
CREATE TABLE IF NOT EXISTS daily_cube (
    day Date,
    port String,
    channel String,
    selection String,
    random UInt8,
    trade_mode String,
    model_version String,
    declarations UInt64,
    inspected UInt64,
    results UInt64,
    hits UInt64,
    revenue Float64,
    w_hit Float64,
    w_sum Float64,
    w_sq Float64,
    no_propensity UInt64
) ENGINE = MergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, port, channel, selection, random, trade_mode, model_version);

-- rollup_touched: the latest insert time per UTC day of decided_at (kind 'decision') or
-- inspected_at (kind 'result'); rollup_state: when a rollup last rebuilt a facts day ('facts',
-- local day, with the time zone it used) or took in the results of a UTC day ('result').
CREATE TABLE IF NOT EXISTS rollup_touched (
    kind String,
    day Date,
    touched_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(touched_at)
ORDER BY (kind, day);

CREATE TABLE IF NOT EXISTS rollup_state (
    kind String,
    day Date,
    computed_at DateTime('UTC'),
    tz String
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY (kind, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_touched_decisions_mv TO rollup_touched AS
SELECT 'decision' AS kind, toDate(decided_at) AS day, max(now()) AS touched_at
FROM decisions
GROUP BY day;

CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_touched_results_mv TO rollup_touched AS
SELECT 'result' AS kind, toDate(inspected_at) AS day, max(now()) AS touched_at
FROM inspection_results
GROUP BY day;

-- History recorded before this migration: mark every day touched so that the first rollup builds it.
INSERT INTO rollup_touched (kind, day, touched_at)
SELECT 'decision', toDate(decided_at) AS d, now() FROM decisions GROUP BY d;

INSERT INTO rollup_touched (kind, day, touched_at)
SELECT 'result', toDate(inspected_at) AS d, now() FROM inspection_results GROUP BY d;
