-- Withdrawals (撤单) as ingest received them: one row per declaration number and withdrawal time.
-- The intake stores them like declarations (spooled while ClickHouse is down) and inserts only
-- the rows not stored yet, so a redelivered message adds no row; ReplacingMergeTree collapses
-- the rare duplicate a race could still leave.
CREATE TABLE IF NOT EXISTS withdrawals (
    declaration_no String,
    withdrawn_at DateTime('UTC'),
    reason String,
    received_at DateTime('UTC'),
    raw String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(withdrawn_at)
ORDER BY (declaration_no, withdrawn_at);
