-- Which repository a run belongs to: `repo_id` is the repository's identity
-- (its root commit, the same in every clone) and `checkout` where its main
-- worktree is (`host:path`). Commands that pick a run by default look only
-- at their own repository's runs. `pipeline_json` is what the pipeline
-- driver keeps per run: the goal, the base commit, the stages selected.
ALTER TABLE runs ADD COLUMN repo_id TEXT;
ALTER TABLE runs ADD COLUMN checkout TEXT;
ALTER TABLE runs ADD COLUMN pipeline_json TEXT;
CREATE INDEX runs_by_repo ON runs (repo_id, created_ms);

-- When each stage last started and finished, why it ended as it did, and
-- how many fix rounds a gate has used.
ALTER TABLE run_stages ADD COLUMN started_ms INTEGER;
ALTER TABLE run_stages ADD COLUMN finished_ms INTEGER;
ALTER TABLE run_stages ADD COLUMN note TEXT;
ALTER TABLE run_stages ADD COLUMN rounds INTEGER NOT NULL DEFAULT 0;
