-- Scale-out (docs/scale-out.md): what each worker process says about
-- itself, so `orca workers` can list them and peers with another protocol
-- refuse to work together. `role` is `worker` (orca worker), `coordinator`
-- (orca run/resume) or `session` (an agent session); `tasks_json` lists
-- what it runs now (`run/task/a<n>`), `stopping` is 1 once it stopped claiming.
ALTER TABLE workers ADD COLUMN role TEXT;
ALTER TABLE workers ADD COLUMN version TEXT;
ALTER TABLE workers ADD COLUMN schema_version BIGINT;
ALTER TABLE workers ADD COLUMN protocol BIGINT;
ALTER TABLE workers ADD COLUMN agents BIGINT;
ALTER TABLE workers ADD COLUMN tasks_json TEXT;
ALTER TABLE workers ADD COLUMN stopping BIGINT NOT NULL DEFAULT 0;

-- The coordinator looks for its run's verified tasks often.
CREATE INDEX tasks_verified ON tasks (run_id, key) WHERE state = 'verified';
