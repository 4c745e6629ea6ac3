-- Reviews of early-warning alerts by analysts: acknowledge (seen, being followed up) or dismiss
-- (not a real risk), each with who, when and why. Append-only: ClickHouse 18.16 has no UPDATE,
-- so an alert's state is its latest event (argMax by at_ns), or the alerts row's own state
-- ('open') when it has none. Every event is also in the audit chain (action alert.acknowledge or
-- alert.dismiss, subject alert:<id>). A retried insert of the same event is deduplicated by the
-- key.
CREATE TABLE IF NOT EXISTS alert_events (
    alert_id String,
    at DateTime('UTC'),
    at_ns Int64,
    actor String,
    action String,
    state String,
    comment String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (alert_id, at_ns, actor);
