-- Plans move out of `runs` into their own table (one logical schema with
-- SQLite, where reading a run past a large plan walked its overflow pages).
CREATE TABLE run_plans (
    run_id    TEXT PRIMARY KEY REFERENCES runs (id),
    plan_json TEXT NOT NULL
);
INSERT INTO run_plans (run_id, plan_json) SELECT id, plan_json FROM runs;
ALTER TABLE runs DROP COLUMN plan_json;

-- Counting a run's tasks by state (what is left, what is ready) reads this
-- index instead of every task row.
CREATE INDEX tasks_by_state ON tasks (run_id, state);
