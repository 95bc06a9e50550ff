-- lz_append_reports without its key lookup (component report_log).
--
-- 0003 looked the batch's keys up with a join of report_keys and the arrays before inserting.
-- Inside PL/pgSQL that plan is made once per connection, when the table may still be small, and
-- then kept: under `bench live` the lookup was a hash join over all of report_keys, 2.4 ms per
-- call after 15,000 reports and growing with the log. The primary key of report_keys already
-- checks every key on insert through its index, whatever the table's size, so the function now
-- just inserts: a key in the log already fails the statement with unique_violation (23505), the
-- whole call is undone (the head too: it is one statement in its own transaction), and the
-- writer takes the locking path, which acknowledges duplicates.
CREATE OR REPLACE FUNCTION lz_append_reports(
    expected_head bigint, new_head bigint, received timestamptz,
    offsets bigint[], observed timestamptz[], sources text[], source_ids text[],
    sequences bigint[], msg_types text[], statuses text[], categories text[],
    reports jsonb[], raws bytea[]
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE report_log_head SET last_offset = new_head WHERE id AND last_offset = expected_head;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO report_keys (source, source_id, sequence, log_offset, received_at)
    SELECT n.source, n.source_id, n.sequence, n.log_offset, received
    FROM unnest(sources, source_ids, sequences, offsets)
        AS n(source, source_id, sequence, log_offset);
    INSERT INTO reports (log_offset, received_at, observed_at, source, source_id, sequence,
                         msg_type, status, category, report, raw)
    SELECT n.log_offset, received, n.observed_at, n.source, n.source_id, n.sequence,
           n.msg_type, n.status, n.category, n.report, n.raw
    FROM unnest(offsets, observed, sources, source_ids, sequences, msg_types, statuses,
                categories, reports, raws)
        AS n(log_offset, observed_at, source, source_id, sequence, msg_type, status, category,
             report, raw);
    PERFORM pg_notify('lz_report_log', new_head::text);
    RETURN true;
END
$$;
