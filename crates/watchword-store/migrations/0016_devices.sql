-- Browsers people sign in from. A browser that signs in holds a long-lived random cookie, kept
-- here as its SHA-256, one row per person and browser: what it is (browser and OS, read from the
-- user agent), first and last seen, last IP, and when its person was last told of a new sign-in.
CREATE TABLE devices (
    id             TEXT    NOT NULL,
    person_id      TEXT    NOT NULL,
    token_hash     BYTEA   NOT NULL,
    label          TEXT    NOT NULL,
    user_agent     TEXT    NOT NULL,
    first_seen_at  BIGINT  NOT NULL,
    last_seen_at   BIGINT  NOT NULL,
    last_ip        TEXT    NOT NULL,
    notified_at    BIGINT,
    CONSTRAINT devices_pk PRIMARY KEY (id),
    CONSTRAINT devices_person_fk FOREIGN KEY (person_id) REFERENCES persons (id),
    CONSTRAINT devices_person_token_unique UNIQUE (person_id, token_hash)
);
CREATE INDEX devices_person_idx ON devices (person_id, last_seen_at);

ALTER TABLE sessions ADD COLUMN device_id TEXT;
CREATE INDEX sessions_device_idx ON sessions (device_id);

-- The "This wasn't me" link of a new sign-in email: used once, within 7 days.
CREATE TABLE sign_in_reports (
    token_hash  BYTEA   NOT NULL,
    person_id   TEXT    NOT NULL,
    session_id  TEXT    NOT NULL,
    device_id   TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    used_at     BIGINT,
    CONSTRAINT sign_in_reports_pk PRIMARY KEY (token_hash),
    CONSTRAINT sign_in_reports_person_fk FOREIGN KEY (person_id) REFERENCES persons (id)
);

-- Set when the person reported a sign-in that was not theirs: password logins are refused until
-- the password is reset.
ALTER TABLE persons ADD COLUMN password_reset_required_at BIGINT;
