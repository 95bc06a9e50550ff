-- Snapshots as compressed bytes (component history).
--
-- At 8,000 open incidents a snapshot is ~50 MB (engine state 31 MB, picture 19 MB), and
-- PostgreSQL spent 1.1 s on each INSERT: parsing the picture as jsonb, compressing both with
-- pglz for TOAST, and 50 MB of WAL that every report-log commit behind it waited for. The store
-- now compresses both columns itself (zlib, in a thread beside the event loop; ~10x smaller) and
-- keeps them as bytea, stored out of line without a second compression. Rows written before keep
-- their plain bytes (the picture's JSON as text); readers tell them apart by the marker that
-- compressed values begin with (situation_api/history.py).
ALTER TABLE snapshots ALTER COLUMN picture TYPE bytea USING convert_to(picture::text, 'UTF8');
ALTER TABLE snapshots
    ALTER COLUMN engine_state SET STORAGE EXTERNAL,
    ALTER COLUMN picture SET STORAGE EXTERNAL;
