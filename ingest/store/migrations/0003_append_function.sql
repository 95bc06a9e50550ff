-- The whole append of a batch in one statement (component report_log).
--
-- Under load every POST waits for its group commit, and the locking append of 0001 costs about
-- nine round trips (BEGIN, lock, key lookup, two COPYs, head, COMMIT), each also waiting its turn
-- in a busy event loop. The writer knows the head it last committed or heard of, so it computes
-- the offsets itself and sends the batch here, executed in one round trip and one commit:
-- - the head's row lock is taken by an UPDATE that only matches the head the writer expected, so
--   a batch never commits over another writer's (false: the writer takes the locking path);
-- - then, seeing everything committed before the lock, a batch with a key that is in the log
--   already is refused with SQLSTATE LZ001 (nothing stays: the statement is its own transaction)
--   and the writer takes the locking path, which acknowledges duplicates.
-- Offsets stay gap-free and in commit order, as in 0001.
CREATE FUNCTION lz_append_reports(
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
    IF EXISTS (
        SELECT 1 FROM report_keys k
        JOIN unnest(sources, source_ids, sequences) AS n(source, source_id, sequence)
        USING (source, source_id, sequence)
    ) THEN
        RAISE EXCEPTION 'a report of the batch is in the log already' USING ERRCODE = 'LZ001';
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
