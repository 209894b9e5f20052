-- The operator's security communications to the Security Contact of every account (or of the
-- accounts chosen): a breach notification, a compliance request, an advisory. Recipients are
-- written set-based ('pending'); each moves to 'queued' (its email in the outbox, its personal
-- acknowledgement link's digest kept) or 'no_contact' in the transaction that writes its email,
-- so a send that stops midway resumes without losing or repeating anyone.
CREATE TABLE advisories (
    id           TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    audience     TEXT    NOT NULL,
    require_ack  BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    CONSTRAINT advisories_pk PRIMARY KEY (id)
);

CREATE TABLE advisory_recipients (
    advisory_id      TEXT    NOT NULL,
    account_id       TEXT    NOT NULL,
    status           TEXT    NOT NULL DEFAULT 'pending',
    email            TEXT,
    token_hash       BYTEA,
    message_id       TEXT,
    queued_at        BIGINT,
    reminded_at      BIGINT,
    acknowledged_at  BIGINT,
    acknowledged_by  TEXT,
    CONSTRAINT advisory_recipients_pk PRIMARY KEY (advisory_id, account_id),
    CONSTRAINT advisory_recipients_advisory_fk FOREIGN KEY (advisory_id) REFERENCES advisories (id),
    CONSTRAINT advisory_recipients_status_check CHECK (status IN ('pending', 'queued', 'no_contact'))
);
CREATE INDEX advisory_recipients_status_idx ON advisory_recipients (status, advisory_id, account_id);
CREATE INDEX advisory_recipients_account_idx ON advisory_recipients (account_id);
CREATE UNIQUE INDEX advisory_recipients_token_idx ON advisory_recipients (token_hash);
