-- Single sign-on. An account claims email domains and proves each with a DNS TXT record; a
-- verified domain belongs to one account only (the partial unique index). Connections are the
-- account's identity providers (OIDC here; SAML keeps its metadata in `saml_metadata`); the
-- client secret is sealed with the MFA keyring, bound to the connection's id.
CREATE TABLE sso_domains (
    id           TEXT    NOT NULL,
    account_id   TEXT    NOT NULL,
    domain       TEXT    NOT NULL,
    token        TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    verified_at  BIGINT,
    CONSTRAINT sso_domains_pk PRIMARY KEY (id),
    CONSTRAINT sso_domains_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
);
CREATE UNIQUE INDEX sso_domains_claim_idx ON sso_domains (account_id, domain);
CREATE UNIQUE INDEX sso_domains_verified_idx ON sso_domains (domain) WHERE verified_at IS NOT NULL;

CREATE TABLE sso_connections (
    id                    TEXT    NOT NULL,
    account_id            TEXT    NOT NULL,
    kind                  TEXT    NOT NULL,
    name                  TEXT    NOT NULL,
    enabled               INTEGER NOT NULL DEFAULT 0,
    issuer                TEXT,
    client_id             TEXT,
    client_secret_sealed  BYTEA,
    key_id                TEXT,
    scopes                TEXT    NOT NULL DEFAULT 'openid email profile',
    groups_claim          TEXT,
    group_mappings        TEXT    NOT NULL DEFAULT '[]',
    saml_metadata         TEXT,
    default_role          TEXT    NOT NULL DEFAULT 'analyst',
    jit                   INTEGER NOT NULL DEFAULT 1,
    trust_idp_mfa         INTEGER NOT NULL DEFAULT 0,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    CONSTRAINT sso_connections_pk PRIMARY KEY (id),
    CONSTRAINT sso_connections_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT sso_connections_kind_check CHECK (kind IN ('oidc', 'saml'))
);
CREATE INDEX sso_connections_account_idx ON sso_connections (account_id);

-- A person is linked to an IdP identity by (connection, subject) at the first SSO login; never
-- by email alone after that.
CREATE TABLE sso_identities (
    connection_id  TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    person_id      TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    last_login_at  BIGINT  NOT NULL,
    CONSTRAINT sso_identities_pk PRIMARY KEY (connection_id, subject),
    CONSTRAINT sso_identities_connection_fk FOREIGN KEY (connection_id) REFERENCES sso_connections (id) ON DELETE CASCADE,
    CONSTRAINT sso_identities_person_fk FOREIGN KEY (person_id) REFERENCES persons (id)
);

-- SP-initiated sign-ins in flight: found by the hash of `state`, used once, short-lived. The
-- PKCE verifier and the nonce go back to the IdP only through this row.
CREATE TABLE sso_requests (
    state_hash     BYTEA   NOT NULL,
    connection_id  TEXT    NOT NULL,
    verifier       TEXT    NOT NULL,
    nonce          TEXT    NOT NULL,
    mode           TEXT    NOT NULL,
    test           INTEGER NOT NULL DEFAULT 0,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    used_at        BIGINT,
    CONSTRAINT sso_requests_pk PRIMARY KEY (state_hash),
    CONSTRAINT sso_requests_connection_fk FOREIGN KEY (connection_id) REFERENCES sso_connections (id) ON DELETE CASCADE
);
CREATE INDEX sso_requests_expiry_idx ON sso_requests (expires_at);

-- Which connection a session came from (NULL: password, passkey or a link).
ALTER TABLE sessions ADD COLUMN sso_connection_id TEXT;
-- A login challenge after an SSO sign-in (the person's own factor is due) passes it on.
ALTER TABLE mfa_challenges ADD COLUMN sso_connection_id TEXT;

-- SSO-only: members with emails in the account's verified domains reach it only with a session
-- from one of its connections; the Owner keeps a password + MFA login while break-glass is on.
ALTER TABLE accounts ADD COLUMN sso_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN sso_break_glass INTEGER NOT NULL DEFAULT 1;
