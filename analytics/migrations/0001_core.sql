-- portguard core tables. Runs on ClickHouse 18.16 (dev, CI) and current releases (production):
-- no LowCardinality, DateTime64, Map, TTL or JSON functions. Rows that must exist exactly once
-- live in ReplacingMergeTree tables whose sorting key is the identity of the row; read them with
-- FINAL (or argMax / LIMIT 1 BY) to see one row per identity even before background merges.

CREATE TABLE IF NOT EXISTS declarations (
    declaration_no String,
    version UInt32,
    direction String,
    declared_at DateTime('UTC'),
    port String,
    trade_mode String,
    transport_mode String,
    importer String,
    consignee_uscc String,
    consignee_code String,
    consignee_name String,
    consignor_uscc String,
    consignor_code String,
    consignor_name String,
    declarant String,
    trading_country String,
    departure_country String,
    loading_port String,
    bill_of_lading String,
    vessel_voyage String,
    containers Array(String),
    item_count UInt32,
    hs2 Array(String),
    hs4 Array(String),
    origins Array(String),
    total_value_base Float64,
    total_net_weight_kg Float64,
    attr_keys Array(String),
    attr_values Array(String),
    measure_keys Array(String),
    measure_values Array(Float64),
    manifest_joined UInt8,
    weight_deviation Float64,
    origin_route_mismatch UInt8,
    undeclared_containers UInt32,
    received_at DateTime('UTC'),
    raw String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(declared_at)
ORDER BY (declaration_no, version);

CREATE TABLE IF NOT EXISTS declaration_items (
    declaration_no String,
    version UInt32,
    seq UInt32,
    declared_at DateTime('UTC'),
    port String,
    importer String,
    hs10 String,
    hs2 String,
    hs4 String,
    hs6 String,
    hs8 String,
    ciq_code String,
    description String,
    origin String,
    quantity Float64,
    unit String,
    net_weight_kg Float64,
    gross_weight_kg Float64,
    declared_value Float64,
    currency String,
    value_base Float64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(declared_at)
ORDER BY (declaration_no, version, seq);

CREATE TABLE IF NOT EXISTS manifests (
    bill_of_lading String,
    carrier String,
    vessel_imo String,
    voyage String,
    loading_port String,
    transshipment_ports Array(String),
    containers Array(String),
    gross_weight_kg Float64,
    packages UInt32,
    arrival_at DateTime('UTC'),
    received_at DateTime('UTC'),
    raw String
) ENGINE = ReplacingMergeTree(received_at)
PARTITION BY toYYYYMM(arrival_at)
ORDER BY bill_of_lading;

CREATE TABLE IF NOT EXISTS decisions (
    declaration_no String,
    version UInt32,
    decided_at DateTime('UTC'),
    port String,
    importer String,
    channel Enum8('RED' = 1, 'YELLOW' = 2, 'GREEN' = 3),
    action String,
    selection String,
    score Float64,
    probability Float64,
    random UInt8,
    propensity Float64,
    model_version String,
    rules_fired Array(String),
    rules_selected Array(String),
    reasons String,
    feature_names Array(String),
    feature_values Array(String),
    hs2 Array(String),
    hs4 Array(String),
    origins Array(String),
    trade_mode String,
    degraded UInt8,
    raw String
) ENGINE = ReplacingMergeTree(decided_at)
PARTITION BY toYYYYMM(decided_at)
ORDER BY (declaration_no, version);

CREATE TABLE IF NOT EXISTS inspection_results (
    declaration_no String,
    decl_version UInt32,
    result_version UInt32,
    task_id String,
    officer String,
    port String,
    outcome Enum8('CONFORMING' = 1, 'NON_CONFORMING' = 2, 'PENDING_LAB' = 3),
    hit UInt8,
    severity UInt8,
    findings Array(String),
    finding_severities Array(UInt8),
    adjustment Float64,
    revenue Float64,
    disposition String,
    note String,
    inspected_at DateTime('UTC'),
    channel String,
    selection String,
    random UInt8,
    propensity Float64,
    model_version String,
    rules_fired Array(String),
    decided_at DateTime('UTC'),
    label String,
    raw String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(inspected_at)
ORDER BY (declaration_no, decl_version, result_version);

CREATE TABLE IF NOT EXISTS releases (
    declaration_no String,
    decl_version UInt32,
    port String,
    channel String,
    disposition String,
    released_by String,
    released_at DateTime('UTC'),
    raw String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(released_at)
ORDER BY (declaration_no, decl_version);

CREATE TABLE IF NOT EXISTS dead_letters (
    source_topic String,
    partition Int32,
    offset Int64,
    key String,
    value String,
    reason String,
    errors String,
    at DateTime('UTC')
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY (source_topic, partition, offset);

CREATE TABLE IF NOT EXISTS tasks (
    id String,
    version UInt32,
    declaration_no String,
    decl_version UInt32,
    port String,
    channel String,
    action String,
    priority Int32,
    state String,
    final UInt8,
    officer String,
    created_at DateTime('UTC'),
    updated_at DateTime('UTC'),
    due_at DateTime('UTC'),
    body String
) ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(created_at)
ORDER BY id;

CREATE TABLE IF NOT EXISTS audit (
    seq UInt64,
    at DateTime('UTC'),
    at_ns Int64,
    actor String,
    action String,
    subject String,
    detail String,
    prev_hash String,
    hash String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(at)
ORDER BY seq;

CREATE TABLE IF NOT EXISTS rule_versions (
    id String,
    version UInt32,
    state String,
    body String,
    actor String,
    changed_at DateTime('UTC'),
    changed_ns UInt64
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(changed_at)
ORDER BY (id, version, changed_ns);

CREATE TABLE IF NOT EXISTS rules (
    id String,
    version UInt32,
    state String,
    body String,
    actor String,
    changed_at DateTime('UTC'),
    changed_ns UInt64
) ENGINE = ReplacingMergeTree(changed_ns)
ORDER BY id;

CREATE TABLE IF NOT EXISTS alerts (
    id String,
    kind String,
    subject_kind String,
    subject String,
    port String,
    detected_at DateTime('UTC'),
    window_from DateTime('UTC'),
    window_to DateTime('UTC'),
    observed Float64,
    expected Float64,
    p_value Float64,
    q_value Float64,
    state String,
    evidence String
) ENGINE = ReplacingMergeTree(detected_at)
PARTITION BY toYYYYMM(detected_at)
ORDER BY id;
