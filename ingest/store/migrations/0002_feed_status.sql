-- Health of each feed (component report_log): one row per feed, replaced on every poll/push.
CREATE TABLE feed_status (
    feed          text             PRIMARY KEY,
    last_success  timestamptz,
    last_error    timestamptz,
    error         text,
    items         bigint           NOT NULL DEFAULT 0,
    lag_seconds   double precision,
    etag          text,
    last_modified text,
    updated_at    timestamptz      NOT NULL
);
