-- The situation history in blocks (component history): one row per history write, not one per
-- change (situation_api/blocks.py says why: at 1,000 reports/s the per-change rows, jsonb with
-- three indexes, were two thirds of PostgreSQL's work and most of the WAL that every report-log
-- commit flushes).
--
-- first_at is the earliest time in the block and its partition key; ats holds every change's
-- time in seq order, so counts per time bucket stay a query (unnest + time_bucket/date_bin);
-- entities holds the distinct 'entity:id' keys, GIN-indexed, for an entity's timeline.
-- changes is already compressed by the writer: stored out of line, not compressed again.
CREATE TABLE situation_change_blocks (
    first_seq bigint        NOT NULL,
    last_seq  bigint        NOT NULL,
    first_at  timestamptz   NOT NULL,
    last_at   timestamptz   NOT NULL,
    ats       timestamptz[] NOT NULL,
    entities  text[]        NOT NULL,
    changes   bytea         NOT NULL,
    PRIMARY KEY (first_seq, first_at),
    CHECK (first_seq <= last_seq AND first_at <= last_at)
)
PARTITION BY RANGE (first_at) -- [native]
;
CREATE TABLE situation_change_blocks_default PARTITION OF situation_change_blocks DEFAULT; -- [native]
CREATE INDEX situation_change_blocks_last_seq ON situation_change_blocks (last_seq);
CREATE INDEX situation_change_blocks_entities ON situation_change_blocks USING gin (entities);
ALTER TABLE situation_change_blocks
    ALTER COLUMN changes SET STORAGE EXTERNAL,
    ALTER COLUMN changes SET STATISTICS 0,  -- never filtered on (see report_log's 0005)
    ALTER COLUMN ats SET STATISTICS 0;

-- Changes stored before move over in blocks of 1,000, as a JSON array behind the marker
-- '\xff' 'json' (SQL cannot compress; the reader takes both forms).
INSERT INTO situation_change_blocks
SELECT min(seq), max(seq), min(at), max(at),
       array_agg(at ORDER BY seq),
       array_agg(DISTINCT entity || ':' || entity_id),
       '\xff6a736f6e'::bytea || convert_to(
           json_agg(json_build_array(seq, at, kind, entity, entity_id, payload) ORDER BY seq)::text,
           'UTF8')
FROM situation_changes
GROUP BY (seq - 1) / 1000;

DROP TABLE situation_changes;
