-- Plans move out of `runs` into their own table. SQLite keeps a large value
-- on overflow pages chained from its row, and reading any column stored
-- after it (mode, state, created_ms, stage) walks the whole chain: with a
-- 10,000-task plan every read of a run cost about 12 ms.
CREATE TABLE run_plans (
    run_id    TEXT PRIMARY KEY REFERENCES runs (id),
    plan_json TEXT NOT NULL
);
INSERT INTO run_plans (run_id, plan_json) SELECT id, plan_json FROM runs;
ALTER TABLE runs DROP COLUMN plan_json;

-- Counting a run's tasks by state (what is left, what is ready) reads this
-- index instead of every task row.
CREATE INDEX tasks_by_state ON tasks (run_id, state);
