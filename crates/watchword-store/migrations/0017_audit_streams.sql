-- An account's audit log streamed to its own SIEM: each stream's signing secret sealed with the
-- MFA keyring (it signs every POST, so it is kept, encrypted), its delivery state, and a queue
-- of its events written in the event's own transaction and delivered in order, then deleted.
CREATE TABLE audit_streams (
    id                 TEXT    NOT NULL,
    account_id         TEXT    NOT NULL,
    url                TEXT    NOT NULL,
    secret_key_id      TEXT    NOT NULL,
    secret_sealed      BYTEA   NOT NULL,
    created_by         TEXT,
    created_at         BIGINT  NOT NULL,
    delivered          BIGINT  NOT NULL DEFAULT 0,
    last_delivered_at  BIGINT,
    failing_since      BIGINT,
    last_error         TEXT,
    attempts           BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT  NOT NULL,
    locked_until       BIGINT,
    paused_at          BIGINT,
    CONSTRAINT audit_streams_pk PRIMARY KEY (id),
    CONSTRAINT audit_streams_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
);
CREATE INDEX audit_streams_account_idx ON audit_streams (account_id);

CREATE TABLE audit_stream_events (
    stream_id   TEXT    NOT NULL,
    event_id    TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT audit_stream_events_pk PRIMARY KEY (stream_id, event_id),
    CONSTRAINT audit_stream_events_stream_fk FOREIGN KEY (stream_id) REFERENCES audit_streams (id) ON DELETE CASCADE
);
