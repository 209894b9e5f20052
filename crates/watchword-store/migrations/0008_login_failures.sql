-- Failed password logins, counted per attempted email (its SHA-256, so that unknown emails count
-- the same way and a refusal reveals nothing about which emails have a login) and per IP: for
-- throttling password guessing and alerting on abnormal login attempts.
CREATE TABLE login_failures (
    id          TEXT   NOT NULL,
    email_hash  BYTEA  NOT NULL,
    ip          TEXT   NOT NULL,
    at          BIGINT NOT NULL,
    CONSTRAINT login_failures_pk PRIMARY KEY (id)
);
CREATE INDEX login_failures_email_idx ON login_failures (email_hash, at);
CREATE INDEX login_failures_ip_idx ON login_failures (ip, at);
