-- Pipeline stage state per run, and the workers that claim tasks.
ALTER TABLE runs ADD COLUMN stage TEXT;

CREATE TABLE run_stages (
    run_id     TEXT NOT NULL REFERENCES runs (id),
    stage      TEXT NOT NULL,
    state      TEXT NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, stage)
);

CREATE TABLE workers (
    id           TEXT PRIMARY KEY,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_ms   INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL
);
