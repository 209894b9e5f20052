-- Foundation schema. One text for SQLite and PostgreSQL (through sqlx Any):
-- ids are UUID text, instants are BIGINT milliseconds since the epoch, booleans are INTEGER 0/1,
-- digests are BYTEA. Every tenant table carries account_id so data can be distributed by account.

-- A login identity; global, not owned by one account.
CREATE TABLE persons (
    id              TEXT    NOT NULL,
    email           TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    password_hash   TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'active',
    is_staff        INTEGER NOT NULL DEFAULT 0,
    last_login_at   BIGINT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    CONSTRAINT persons_pk PRIMARY KEY (id),
    CONSTRAINT persons_email_unique UNIQUE (email),
    CONSTRAINT persons_status_check CHECK (status IN ('active', 'deactivated'))
);

-- A tenant.
CREATE TABLE accounts (
    id          TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    plan        TEXT   NOT NULL DEFAULT 'free',
    created_at  BIGINT NOT NULL,
    CONSTRAINT accounts_pk PRIMARY KEY (id),
    CONSTRAINT accounts_plan_check CHECK (plan IN ('free', 'paid'))
);

-- Custom roles of an account; built-in roles live in code.
CREATE TABLE roles (
    id           TEXT   NOT NULL,
    account_id   TEXT   NOT NULL,
    name         TEXT   NOT NULL,
    permissions  TEXT   NOT NULL, -- space-separated permission names
    created_by   TEXT,
    created_at   BIGINT NOT NULL,
    CONSTRAINT roles_pk PRIMARY KEY (id),
    CONSTRAINT roles_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT roles_name_unique UNIQUE (account_id, name)
);

-- A person in an account. While invited, person_id may be NULL (the person does not exist yet)
-- and email holds the invited address.
CREATE TABLE memberships (
    id          TEXT   NOT NULL,
    account_id  TEXT   NOT NULL,
    person_id   TEXT,
    email       TEXT   NOT NULL,
    role        TEXT   NOT NULL, -- built-in key or custom role id
    status      TEXT   NOT NULL,
    invited_by  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    CONSTRAINT memberships_pk PRIMARY KEY (id),
    CONSTRAINT memberships_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT memberships_person_fk FOREIGN KEY (person_id) REFERENCES persons (id),
    CONSTRAINT memberships_person_unique UNIQUE (account_id, person_id),
    CONSTRAINT memberships_email_unique UNIQUE (account_id, email),
    CONSTRAINT memberships_status_check CHECK (status IN ('invited', 'active', 'deactivated'))
);
-- Exactly one Owner per account (at most one here; the use cases guarantee at least one).
CREATE UNIQUE INDEX memberships_one_owner ON memberships (account_id) WHERE role = 'owner';
CREATE INDEX memberships_person_idx ON memberships (person_id);

-- The emailed link of an invitation; only the token's SHA-256 is kept.
CREATE TABLE invitations (
    id             TEXT   NOT NULL,
    account_id     TEXT   NOT NULL,
    membership_id  TEXT   NOT NULL,
    token_hash     BYTEA  NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    CONSTRAINT invitations_pk PRIMARY KEY (id),
    CONSTRAINT invitations_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT invitations_token_unique UNIQUE (token_hash)
);
CREATE INDEX invitations_membership_idx ON invitations (membership_id);

-- Login sessions of a person (browser cookie or bearer token); only the token's SHA-256 is kept.
CREATE TABLE sessions (
    id                TEXT   NOT NULL,
    person_id         TEXT   NOT NULL,
    token_hash        BYTEA  NOT NULL,
    mode              TEXT   NOT NULL,
    user_agent        TEXT   NOT NULL,
    ip                TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    last_seen_at      BIGINT NOT NULL,
    authenticated_at  BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL, -- absolute lifetime
    revoked_at        BIGINT,
    CONSTRAINT sessions_pk PRIMARY KEY (id),
    CONSTRAINT sessions_person_fk FOREIGN KEY (person_id) REFERENCES persons (id),
    CONSTRAINT sessions_token_unique UNIQUE (token_hash),
    CONSTRAINT sessions_mode_check CHECK (mode IN ('cookie', 'token'))
);
CREATE INDEX sessions_person_idx ON sessions (person_id);

-- Append-only audit trail. account_id is NULL only for events tied to no account
-- (e.g. a failed login for an unknown email).
CREATE TABLE audit_events (
    id               TEXT   NOT NULL, -- UUIDv7: sorts by time, used as the pagination cursor
    account_id       TEXT,
    actor_kind       TEXT   NOT NULL,
    actor_person_id  TEXT,
    actor_email      TEXT,
    action           TEXT   NOT NULL,
    target_kind      TEXT,
    target_id        TEXT,
    ip               TEXT,
    user_agent       TEXT,
    details          TEXT   NOT NULL, -- JSON object
    created_at       BIGINT NOT NULL,
    CONSTRAINT audit_events_pk PRIMARY KEY (id),
    CONSTRAINT audit_events_actor_check CHECK (actor_kind IN ('person', 'system'))
);
CREATE INDEX audit_events_account_idx ON audit_events (account_id, id);

-- Outbound messages, written in the transaction of the change that causes them.
CREATE TABLE outbox (
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
    CONSTRAINT outbox_pk PRIMARY KEY (id),
    CONSTRAINT outbox_status_check CHECK (status IN ('pending', 'sent', 'failed')),
    CONSTRAINT outbox_channel_check CHECK (channel IN ('email'))
);
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt_at);
