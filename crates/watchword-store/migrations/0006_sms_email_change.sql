-- SMS codes and email changes; the outbox gains a second channel, `sms`. The table is rebuilt because its channel CHECK cannot
-- be altered in place on SQLite. An SMS carries a one-time code: once delivered (or given up on),
-- its body and recipient are blanked, so no code or phone number stays behind in plain text.
CREATE TABLE outbox_v2 (
    id               TEXT    NOT NULL, -- also the Message-ID, so a retried delivery can be deduplicated
    account_id       TEXT,
    channel          TEXT    NOT NULL,
    recipient        TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    body_text        TEXT    NOT NULL,
    body_html        TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending',
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    locked_until     BIGINT,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    sent_at          BIGINT,
    CONSTRAINT outbox_v2_pk PRIMARY KEY (id),
    CONSTRAINT outbox_v2_status_check CHECK (status IN ('pending', 'sent', 'failed')),
    CONSTRAINT outbox_v2_channel_check CHECK (channel IN ('email', 'sms'))
);
INSERT INTO outbox_v2 SELECT id, account_id, channel, recipient, subject, body_text, body_html, status,
    attempts, next_attempt_at, locked_until, last_error, created_at, sent_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);

-- One-time codes sent by SMS: to confirm a new phone number (`enrol`) or to answer a login
-- challenge or a step-up (`verify`). Only SHA-256(id ":" code) is kept; a code lives 5 minutes,
-- works once, and dies after 5 wrong tries or when a newer code of the same purpose is sent.
-- `ip` and `created_at` count sends for the rate limits.
CREATE TABLE sms_codes (
    id          TEXT    NOT NULL,
    person_id   TEXT    NOT NULL,
    factor_id   TEXT    NOT NULL,
    purpose     TEXT    NOT NULL,
    code_hash   BYTEA   NOT NULL,
    ip          TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0,
    used_at     BIGINT,
    CONSTRAINT sms_codes_pk PRIMARY KEY (id),
    CONSTRAINT sms_codes_person_fk FOREIGN KEY (person_id) REFERENCES persons (id),
    CONSTRAINT sms_codes_purpose_check CHECK (purpose IN ('enrol', 'verify'))
);
CREATE INDEX sms_codes_person_idx ON sms_codes (person_id, created_at);
CREATE INDEX sms_codes_ip_idx ON sms_codes (ip, created_at);

-- A requested change of a person's login email, waiting for the link sent to the new address.
-- Only the token's SHA-256 is kept; a newer request voids older ones.
CREATE TABLE email_changes (
    token_hash  BYTEA  NOT NULL,
    person_id   TEXT   NOT NULL,
    new_email   TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    CONSTRAINT email_changes_pk PRIMARY KEY (token_hash),
    CONSTRAINT email_changes_person_fk FOREIGN KEY (person_id) REFERENCES persons (id)
);
CREATE INDEX email_changes_person_idx ON email_changes (person_id);

-- Passwordless sign-in ceremonies are started by anyone: the asking IP is kept so that one IP
-- can start only a few at a time.
ALTER TABLE webauthn_ceremonies ADD COLUMN ip TEXT;
CREATE INDEX webauthn_ceremonies_ip_idx ON webauthn_ceremonies (ip, created_at);
