-- Runs, their tasks and dependencies, attempts, and the event log.
-- Times are milliseconds since the Unix epoch; JSON is stored as text.
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    plan_path   TEXT,
    plan_json   TEXT NOT NULL,
    mode        TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    updated_ms  BIGINT NOT NULL
);
CREATE INDEX runs_by_creation ON runs (created_ms, id);

CREATE TABLE tasks (
    run_id           TEXT NOT NULL REFERENCES runs (id),
    key              TEXT NOT NULL,
    spec_json        TEXT NOT NULL,
    state            TEXT NOT NULL,
    priority         BIGINT NOT NULL,
    deps_remaining   BIGINT NOT NULL,
    attempt          BIGINT NOT NULL DEFAULT 0,
    tries            BIGINT NOT NULL DEFAULT 0,
    max_attempts     BIGINT NOT NULL,
    run_after_ms     BIGINT NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    leased_ms        BIGINT,
    lease_expires_ms BIGINT,
    heartbeat_ms     BIGINT,
    result_json      TEXT,
    last_error       TEXT,
    blocked_reason   TEXT,
    updated_ms       BIGINT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE INDEX tasks_ready ON tasks (run_id, priority DESC, key) WHERE state = 'ready';
CREATE INDEX tasks_leased ON tasks (lease_expires_ms) WHERE state = 'leased';

CREATE TABLE task_deps (
    run_id   TEXT NOT NULL,
    task_key TEXT NOT NULL,
    dep_key  TEXT NOT NULL,
    PRIMARY KEY (run_id, task_key, dep_key),
    FOREIGN KEY (run_id, task_key) REFERENCES tasks (run_id, key),
    FOREIGN KEY (run_id, dep_key) REFERENCES tasks (run_id, key)
);
CREATE INDEX task_deps_by_dep ON task_deps (run_id, dep_key);

CREATE TABLE attempts (
    run_id           TEXT NOT NULL,
    task_key         TEXT NOT NULL,
    attempt          BIGINT NOT NULL,
    worker           TEXT NOT NULL,
    started_ms       BIGINT NOT NULL,
    ended_ms         BIGINT,
    outcome          TEXT NOT NULL,
    error            TEXT,
    branch           TEXT,
    agent            TEXT,
    agent_session_id TEXT,
    commit_sha       TEXT,
    summary          TEXT,
    details_json     TEXT,
    PRIMARY KEY (run_id, task_key, attempt),
    FOREIGN KEY (run_id, task_key) REFERENCES tasks (run_id, key)
);

CREATE TABLE events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       TEXT NOT NULL,
    task_key     TEXT,
    attempt      BIGINT,
    kind         TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    at_ms        BIGINT NOT NULL
);
CREATE INDEX events_by_run ON events (run_id, seq);
