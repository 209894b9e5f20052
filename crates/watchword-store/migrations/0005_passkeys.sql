-- Second factors gain passkeys (WebAuthn) and, next, SMS. The table is rebuilt because its kind CHECK
-- cannot be altered in place on SQLite.
--   passkey: `credential` holds the webauthn-rs credential (public key, counter; no secret) and
--            `credential_id` its base64url id, unique, for passwordless sign-in.
--   sms:     `secret_sealed` holds the sealed phone number; `phone_hint` its last digits.
CREATE TABLE second_factors (
    id            TEXT   NOT NULL,
    person_id     TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    secret_sealed BYTEA,
    key_id        TEXT,
    last_step     BIGINT,
    credential    TEXT,
    credential_id TEXT,
    phone_hint    TEXT,
    created_at    BIGINT NOT NULL,
    confirmed_at  BIGINT,
    last_used_at  BIGINT,
    CONSTRAINT second_factors_pk PRIMARY KEY (id),
    CONSTRAINT second_factors_person_fk FOREIGN KEY (person_id) REFERENCES persons (id),
    CONSTRAINT second_factors_kind_check CHECK (kind IN ('totp', 'passkey', 'sms'))
);
INSERT INTO second_factors (id, person_id, kind, name, secret_sealed, key_id, last_step, created_at, confirmed_at, last_used_at)
    SELECT id, person_id, kind, name, secret_sealed, key_id, last_step, created_at, confirmed_at, last_used_at FROM mfa_factors;
DROP TABLE mfa_factors;
ALTER TABLE second_factors RENAME TO mfa_factors;
CREATE INDEX mfa_factors_person_idx ON mfa_factors (person_id);
CREATE UNIQUE INDEX mfa_factors_credential_idx ON mfa_factors (credential_id);

-- A WebAuthn ceremony in progress (registration, second factor, passwordless, step-up): the
-- server-side state webauthn-rs hands back between its start and finish, for 5 minutes, once.
-- Only the ceremony id's SHA-256 is kept.
CREATE TABLE webauthn_ceremonies (
    token_hash  BYTEA  NOT NULL,
    person_id   TEXT,
    purpose     TEXT   NOT NULL,
    state       TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    CONSTRAINT webauthn_ceremonies_pk PRIMARY KEY (token_hash)
);
