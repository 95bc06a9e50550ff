-- The report log (component report_log).
--
-- Offsets: handed out by the writer while it holds the row lock of report_log_head, and
-- committed with that lock still held. Two writers (even in two processes) therefore commit in
-- offset order, and offsets are gap-free: a reader paging with "log_offset > n" never misses a
-- row committed later with a lower offset, which a bigserial default would allow.
--
-- Deduplication: report_keys is a small unpartitioned table holding the unique key
-- (source, source_id, sequence) and the unique log_offset. A unique constraint on the
-- time-partitioned reports table would have to include the partition column (received_at),
-- which would make the dedupe key useless; keeping the keys apart also means dropping or
-- compressing old partitions never lets an old report in again as new.
CREATE TABLE report_log_head (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_offset bigint  NOT NULL CHECK (last_offset >= 0)
);
INSERT INTO report_log_head (id, last_offset) VALUES (true, 0);

CREATE TABLE report_keys (
    source      text        NOT NULL,
    source_id   text        NOT NULL,
    sequence    bigint      NOT NULL,
    log_offset  bigint      NOT NULL UNIQUE,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (source, source_id, sequence)
);

-- report: the canonical report (with received_at and offset); raw: the payload as received.
CREATE TABLE reports (
    log_offset  bigint      NOT NULL,
    received_at timestamptz NOT NULL,
    observed_at timestamptz NOT NULL,
    source      text        NOT NULL,
    source_id   text        NOT NULL,
    sequence    bigint      NOT NULL,
    msg_type    text        NOT NULL,
    status      text        NOT NULL,
    category    text        NOT NULL,
    report      jsonb       NOT NULL,
    raw         bytea       NOT NULL,
    PRIMARY KEY (log_offset, received_at)
)
PARTITION BY RANGE (received_at) -- [native]
;
CREATE TABLE reports_default PARTITION OF reports DEFAULT; -- [native]
CREATE INDEX reports_thread ON reports (source, source_id, sequence);
CREATE INDEX reports_observed ON reports (observed_at);
