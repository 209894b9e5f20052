-- Rate limits: one row per slot taken in a bucket (`login-email:<sha256>`, `login-ip:<ip>`,
-- `signup-ip:<ip>`, `password-check:<person>`, …). A slot is taken before the work it limits (a
-- password check, a mail), under a lock on the bucket, so parallel requests cannot overrun the
-- limit; a successful login gives its slot back. Failed logins now count here.
CREATE TABLE rate_slots (
    bucket  TEXT   NOT NULL,
    id      TEXT   NOT NULL,
    at      BIGINT NOT NULL,
    CONSTRAINT rate_slots_pk PRIMARY KEY (bucket, id)
);
CREATE INDEX rate_slots_at_idx ON rate_slots (bucket, at);
DROP TABLE login_failures;

-- A signup waiting for its email to be proven: the link's token (SHA-256 only), what was typed
-- and the password's Argon2 hash. Nothing else exists until the link is followed.
CREATE TABLE signup_requests (
    token_hash     BYTEA  NOT NULL,
    email          TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    account_name   TEXT   NOT NULL,
    password_hash  TEXT   NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    CONSTRAINT signup_requests_pk PRIMARY KEY (token_hash)
);
CREATE INDEX signup_requests_email_idx ON signup_requests (email);

-- Wrong second-factor answers now count in rate_slots (`code-person:…`, `code-ip:…`), taken
-- before each answer is checked; a login challenge's `failures` column counts its answers.
DROP TABLE mfa_failures;

-- An invitation says nothing about the invited person until they accept it: the membership is
-- bound to a login only at acceptance (by that login, signed in).
UPDATE memberships SET person_id = NULL WHERE status = 'invited';
