-- Runs, their tasks and dependencies, attempts, and the event log.
-- Times are milliseconds since the Unix epoch; JSON is stored as text.
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    plan_path   TEXT,
    plan_json   TEXT NOT NULL,
    mode        TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);
CREATE INDEX runs_by_creation ON runs (created_ms, id);

CREATE TABLE tasks (
    run_id           TEXT NOT NULL REFERENCES runs (id),
    key              TEXT NOT NULL,
    spec_json        TEXT NOT NULL,
    state            TEXT NOT NULL,
    priority         INTEGER NOT NULL,
    deps_remaining   INTEGER NOT NULL,
    attempt          INTEGER NOT NULL DEFAULT 0,
    tries            INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_after_ms     INTEGER NOT NULL DEFAULT 0,
    lease_owner      TEXT,
    leased_ms        INTEGER,
    lease_expires_ms INTEGER,
    heartbeat_ms     INTEGER,
    result_json      TEXT,
    last_error       TEXT,
    blocked_reason   TEXT,
    updated_ms       INTEGER NOT NULL,
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
    attempt          INTEGER NOT NULL,
    worker           TEXT NOT NULL,
    started_ms       INTEGER NOT NULL,
    ended_ms         INTEGER,
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
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT NOT NULL,
    task_key     TEXT,
    attempt      INTEGER,
    kind         TEXT NOT NULL,
    payload_json TEXT NOT NULL,
    at_ms        INTEGER NOT NULL
);
CREATE INDEX events_by_run ON events (run_id, seq);
