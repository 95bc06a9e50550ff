-- The journal (component journal): every operator action and every escalation level change,
-- append-only and hash-chained. hash = SHA-256 over the canonical encoding of
-- (seq, at, actor, action, subject, payload, prev_hash); see situation_api/journal/chain.py.
-- Rows are never updated or deleted by the application; the triggers make an accidental UPDATE
-- or DELETE fail loudly (a superuser can still disable them: `journal verify` catches that).
CREATE TABLE journal (
    seq       bigint      PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text        NOT NULL,
    action    text        NOT NULL,
    subject   text        NOT NULL,
    payload   jsonb       NOT NULL,
    prev_hash text        NOT NULL,
    hash      text        NOT NULL
);
CREATE INDEX journal_subject ON journal (subject, seq);

CREATE FUNCTION lz_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only';
END
$$;
CREATE TRIGGER journal_append_only BEFORE UPDATE OR DELETE ON journal
    FOR EACH ROW EXECUTE FUNCTION lz_journal_append_only();
