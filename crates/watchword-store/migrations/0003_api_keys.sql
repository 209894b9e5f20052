-- API keys of accounts. The id is the key's public id, derived from the secret by a hash (see
-- domain/src/api_key.rs); only the secret's SHA-256 is kept.
CREATE TABLE api_keys (
    id                TEXT    NOT NULL,
    account_id        TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    secret_hash       BYTEA   NOT NULL,
    scopes            TEXT    NOT NULL, -- space-separated scope names
    created_by        TEXT,             -- person id
    created_by_email  TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    lifetime_secs     BIGINT,           -- expiry policy, kept by clones and rotations
    expires_at        BIGINT,
    replaced_by       TEXT,             -- the key a rotation made
    cloned_from       TEXT,
    last_used_at      BIGINT,
    last_used_ip      TEXT,
    revoked_at        BIGINT,
    revoked_reason    TEXT,
    expiry_recorded   INTEGER NOT NULL DEFAULT 0, -- the api_key.expired event was written
    CONSTRAINT api_keys_pk PRIMARY KEY (id),
    CONSTRAINT api_keys_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT api_keys_secret_unique UNIQUE (secret_hash)
);
CREATE INDEX api_keys_account_idx ON api_keys (account_id, created_at);
CREATE INDEX api_keys_expiry_idx ON api_keys (expiry_recorded, expires_at);

-- Account settings for keys: flag keys older than this many days (NULL: never), and revoke a
-- key at once when a scanning partner reports it exposed.
ALTER TABLE accounts ADD COLUMN api_key_rotation_days INTEGER;
ALTER TABLE accounts ADD COLUMN api_key_auto_revoke INTEGER NOT NULL DEFAULT 0;

-- Audit events may now be caused by an API key. SQLite cannot change a CHECK constraint in place,
-- so the table is rebuilt (same text on both databases).
ALTER TABLE audit_events RENAME TO audit_events_v1;
CREATE TABLE audit_events (
    id               TEXT   NOT NULL,
    account_id       TEXT,
    actor_kind       TEXT   NOT NULL,
    actor_person_id  TEXT,
    actor_email      TEXT,
    actor_key_id     TEXT,
    action           TEXT   NOT NULL,
    target_kind      TEXT,
    target_id        TEXT,
    ip               TEXT,
    user_agent       TEXT,
    details          TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    CONSTRAINT audit_events_id_pk PRIMARY KEY (id),
    CONSTRAINT audit_events_actor_kind_check CHECK (actor_kind IN ('person', 'system', 'api_key'))
);
INSERT INTO audit_events (id, account_id, actor_kind, actor_person_id, actor_email, action, target_kind, target_id, ip, user_agent, details, created_at)
    SELECT id, account_id, actor_kind, actor_person_id, actor_email, action, target_kind, target_id, ip, user_agent, details, created_at
    FROM audit_events_v1;
DROP TABLE audit_events_v1;
CREATE INDEX audit_events_account_idx ON audit_events (account_id, id);
