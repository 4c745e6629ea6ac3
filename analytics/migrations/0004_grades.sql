-- Enterprise risk grades 绿黄红黑 (green, yellow, red, black), computed by Store.RecomputeGrades
-- from decision_facts and the declared credit class, and fed to targeting through grade_changes.

-- enterprise_credit: the customs credit class an enterprise holds (advanced 高级认证, general 一般信用,
-- dishonest 失信), as the credit registry publishes it; latest update wins.
CREATE TABLE IF NOT EXISTS enterprise_credit (
    enterprise String,
    credit_class String,
    updated_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY enterprise;

-- enterprise_grades: the current grade of each enterprise with its evidence; latest computation wins.
CREATE TABLE IF NOT EXISTS enterprise_grades (
    enterprise String,
    grade String,
    credit_class String,
    declarations UInt64,
    results UInt64,
    hits UInt64,
    severe_hits UInt64,
    weighted_results Float64,
    weighted_hits Float64,
    posterior_mean Float64,
    posterior_lo Float64,
    posterior_hi Float64,
    baseline Float64,
    computed_at DateTime('UTC')
) ENGINE = ReplacingMergeTree(computed_at)
ORDER BY enterprise;

-- grade_changes: one row per change of an enterprise's grade, for targeting and the console.
CREATE TABLE IF NOT EXISTS grade_changes (
    enterprise String,
    from_grade String,
    to_grade String,
    changed_at DateTime('UTC'),
    posterior_mean Float64,
    posterior_lo Float64,
    posterior_hi Float64,
    results UInt64,
    hits UInt64,
    reason String
) ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(changed_at)
ORDER BY (changed_at, enterprise);
