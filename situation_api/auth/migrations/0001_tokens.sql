-- API tokens (component auth). Only the SHA-256 of a token is stored: the token itself is shown
-- once, when it is created. A token is 32 random bytes, so a fast hash is enough (no guessing).
CREATE TABLE api_tokens (
    id           text        PRIMARY KEY,
    name         text        NOT NULL,
    role         text        NOT NULL
                 CHECK (role IN ('viewer', 'operator', 'staff', 'admin', 'feed')),
    sources      text[]      NOT NULL DEFAULT '{}',
    hash         bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz
);
