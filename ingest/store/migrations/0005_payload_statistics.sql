-- No planner statistics for the payload columns (component report_log). No query filters on a
-- report's JSON or on its raw bytes, and autovacuum's ANALYZE spent 0.3-0.4 s of CPU on them
-- every minute under bench live (sampling 30,000 rows of jsonb): on a small machine every
-- report-log commit waited meanwhile. Monthly partitions made later copy these targets
-- (lz_ensure_month_partition).
ALTER TABLE reports ALTER COLUMN report SET STATISTICS 0, ALTER COLUMN raw SET STATISTICS 0;
