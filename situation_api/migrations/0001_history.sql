-- Situation history (component history): every change the engine emitted, so the picture at
-- any past time can be rebuilt (latest snapshot at or before that time + the changes after it).
-- seq is unique (the engine's change counter); it cannot be a table-wide unique constraint on a
-- time-partitioned table, so the writer keeps it unique (it appends only above the stored head).
CREATE TABLE situation_changes (
    seq       bigint      NOT NULL,
    at        timestamptz NOT NULL,
    kind      text        NOT NULL,
    entity    text        NOT NULL,
    entity_id text        NOT NULL,
    payload   jsonb       NOT NULL,
    PRIMARY KEY (seq, at)
)
PARTITION BY RANGE (at) -- [native]
;
CREATE TABLE situation_changes_default PARTITION OF situation_changes DEFAULT; -- [native]
CREATE INDEX situation_changes_at ON situation_changes (at, seq);
CREATE INDEX situation_changes_entity ON situation_changes (entity, entity_id, seq);

-- Engine state + picture at a change seq; only the latest few are kept.
CREATE TABLE snapshots (
    seq          bigint      PRIMARY KEY,
    at           timestamptz NOT NULL,
    engine_state bytea       NOT NULL,
    picture      jsonb       NOT NULL
);
CREATE INDEX snapshots_at ON snapshots (at, seq);
