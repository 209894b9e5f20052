-- Reports of suspicious activity by members of an account. Raw email headers and attachments are
-- sealed (XChaCha20-Poly1305) under the keyring key named by key_id, bound to the report's or
-- the attachment's id; the description and sender stay readable for the list.
CREATE TABLE security_reports (
    id                  TEXT    NOT NULL,
    account_id          TEXT    NOT NULL,
    reporter_person_id  TEXT    NOT NULL,
    reporter_email      TEXT    NOT NULL,
    kind                TEXT    NOT NULL,
    description         TEXT    NOT NULL,
    sender              TEXT,
    headers_sealed      BYTEA,
    key_id              TEXT,
    status              TEXT    NOT NULL DEFAULT 'open',
    note                TEXT    NOT NULL DEFAULT '',
    updated_by_email    TEXT,
    updated_at          BIGINT,
    created_at          BIGINT  NOT NULL,
    CONSTRAINT security_reports_pk PRIMARY KEY (id),
    CONSTRAINT security_reports_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT security_reports_kind_check CHECK (kind IN ('phishing_email', 'unexpected_password_prompt', 'odd_account_behaviour', 'other')),
    CONSTRAINT security_reports_status_check CHECK (status IN ('open', 'acknowledged', 'resolved'))
);
CREATE INDEX security_reports_account_idx ON security_reports (account_id, created_at);

CREATE TABLE security_report_attachments (
    id              TEXT    NOT NULL,
    report_id       TEXT    NOT NULL,
    account_id      TEXT    NOT NULL,
    filename        TEXT    NOT NULL,
    content_type    TEXT    NOT NULL, -- what the content was found to be (image/png, message/rfc822, …)
    size            BIGINT  NOT NULL,
    sha256          TEXT    NOT NULL,
    content_sealed  BYTEA   NOT NULL,
    key_id          TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    CONSTRAINT security_report_attachments_pk PRIMARY KEY (id),
    CONSTRAINT security_report_attachments_report_fk FOREIGN KEY (report_id) REFERENCES security_reports (id)
);
CREATE INDEX security_report_attachments_report_idx ON security_report_attachments (report_id);
