-- Snapshots written in chunks (component history).
--
-- At 8,000 open incidents a compressed snapshot is ~10 MB (50 MB at ~5x). Written in one go, its WAL
-- had to be flushed before any report-log commit that came after it: under bench live tens of
-- commits waited 100-200 ms once a minute. The store now writes the two parts in chunks of
-- 256 kB, each in a transaction of its own, so commits interleave with them; the snapshots row,
-- written last, makes the chunks a snapshot (a save interrupted before it leaves chunks that no
-- row names, removed by the next save). Rows written before keep their bytes in the row itself.
CREATE TABLE snapshot_chunks (
    seq  bigint   NOT NULL,
    part smallint NOT NULL,  -- 0: the engine state, 1: the picture
    n    integer  NOT NULL,  -- the chunk's place within its part
    data bytea    NOT NULL,
    PRIMARY KEY (seq, part, n)
);
ALTER TABLE snapshot_chunks ALTER COLUMN data SET STORAGE EXTERNAL;  -- compressed already
ALTER TABLE snapshots ADD COLUMN chunked boolean NOT NULL DEFAULT false;
