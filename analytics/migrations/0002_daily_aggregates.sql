-- Daily decision counts per port, channel, selection and random draw, maintained by a materialized view as
-- decisions arrive. A materialized view sees inserts, not merges, so a re-delivered decision is
-- inserted twice; uniqExact over (declaration_no, version) counts it once all the same.
-- Read with: SELECT day, port, channel, uniqExactMerge(decisions) FROM decisions_daily GROUP BY ...

CREATE TABLE IF NOT EXISTS decisions_daily (
    day Date,
    port String,
    channel String,
    selection String,
    random UInt8,
    decisions AggregateFunction(uniqExact, String, UInt32),
    score_sum AggregateFunction(sum, Float64),
    rows AggregateFunction(count)
) ENGINE = AggregatingMergeTree()
PARTITION BY toYYYYMM(day)
ORDER BY (day, port, channel, selection, random);

CREATE MATERIALIZED VIEW IF NOT EXISTS decisions_daily_mv TO decisions_daily AS
SELECT
    toDate(decided_at) AS day,
    port,
    toString(channel) AS channel,
    selection,
    random,
    uniqExactState(declaration_no, version) AS decisions,
    sumState(score) AS score_sum,
    countState() AS rows
FROM decisions
GROUP BY day, port, channel, selection, random;
