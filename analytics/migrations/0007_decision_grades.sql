-- The importer's enterprise grade 绿黄红黑 as of each decision, so that trends can be grouped and
-- filtered by it (analytics.DimEnterpriseGrade). It is the grade recorded last in grade_changes
-- at or before the decision's decided_at, '' when the enterprise had no grade yet: a trend by the
-- grade an enterprise holds today would credit past inspections to the grade they earned it.
-- The rollup computes it while it builds decision_facts; daily_cube keeps it as a dimension.
ALTER TABLE decision_facts ADD COLUMN enterprise_grade String DEFAULT '';

ALTER TABLE daily_cube ADD COLUMN enterprise_grade String DEFAULT '';

-- A grade change at time t changes the grade as of every decision from t on: mark its day touched
-- (kind 'grade'); the rollup rebuilds that facts day and every later one built before the change.
CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_touched_grades_mv TO rollup_touched AS
SELECT 'grade' AS kind, toDate(changed_at) AS day, max(now()) AS touched_at
FROM grade_changes
GROUP BY day;

-- Facts built before this migration have no grade: mark every decided day touched so that the
-- next rollup rebuilds it with one.
INSERT INTO rollup_touched (kind, day, touched_at)
SELECT 'decision', toDate(decided_at) AS d, now() FROM decisions GROUP BY d;
