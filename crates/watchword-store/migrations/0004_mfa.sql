-- Second factors of a person. An authenticator seed is sealed (XChaCha20-Poly1305) under the
-- keyring key named by key_id, bound to the factor's id; confirmed_at is NULL while enrolment
-- waits for the first valid code. last_step is the TOTP time step last accepted (no replay).
CREATE TABLE mfa_factors (
    id            TEXT   NOT NULL,
    person_id     TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    secret_sealed BYTEA,
    key_id        TEXT,
    last_step     BIGINT,
    created_at    BIGINT NOT NULL,
    confirmed_at  BIGINT,
    last_used_at  BIGINT,
    CONSTRAINT mfa_factors_pk PRIMARY KEY (id),
    CONSTRAINT mfa_factors_person_fk FOREIGN KEY (person_id) REFERENCES persons (id),
    CONSTRAINT mfa_factors_kind_check CHECK (kind IN ('totp'))
);
CREATE INDEX mfa_factors_person_idx ON mfa_factors (person_id);

-- Single-use recovery codes; only their SHA-256 is kept. Regeneration deletes the old set.
CREATE TABLE recovery_codes (
    code_hash   BYTEA  NOT NULL,
    person_id   TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    CONSTRAINT recovery_codes_pk PRIMARY KEY (code_hash),
    CONSTRAINT recovery_codes_person_fk FOREIGN KEY (person_id) REFERENCES persons (id)
);
CREATE INDEX recovery_codes_person_idx ON recovery_codes (person_id);

-- A login that passed the password and waits for a second factor; only the challenge id's
-- SHA-256 is kept.
CREATE TABLE mfa_challenges (
    token_hash  BYTEA   NOT NULL,
    person_id   TEXT    NOT NULL,
    mode        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL,
    failures    INTEGER NOT NULL DEFAULT 0,
    used_at     BIGINT,
    CONSTRAINT mfa_challenges_pk PRIMARY KEY (token_hash)
);

-- Failed second-factor codes, counted per person and per IP for throttling.
CREATE TABLE mfa_failures (
    id         TEXT   NOT NULL,
    person_id  TEXT   NOT NULL,
    ip         TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    CONSTRAINT mfa_failures_pk PRIMARY KEY (id)
);
CREATE INDEX mfa_failures_person_idx ON mfa_failures (person_id, at);
CREATE INDEX mfa_failures_ip_idx ON mfa_failures (ip, at);

-- Password reset links; only the token's SHA-256 is kept.
CREATE TABLE password_resets (
    token_hash  BYTEA  NOT NULL,
    person_id   TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    CONSTRAINT password_resets_pk PRIMARY KEY (token_hash)
);
CREATE INDEX password_resets_person_idx ON password_resets (person_id);

-- The factors a session passed besides the password (space-separated) and when.
ALTER TABLE sessions ADD COLUMN mfa_factors TEXT;
ALTER TABLE sessions ADD COLUMN mfa_at BIGINT;

-- "Require MFA" (always in force on paid plans, whatever this says).
ALTER TABLE accounts ADD COLUMN mfa_required INTEGER NOT NULL DEFAULT 0;
