-- OAuth 2.0 for integrations. An app (client) belongs to an account (a private app for its own
-- integrations) or to the operator's catalogue (account_id NULL). A confidential app's secret is
-- kept as its SHA-256 only; after a rotation the previous secret works until its grace ends.
CREATE TABLE oauth_apps (
    id                          TEXT    NOT NULL,
    account_id                  TEXT,
    name                        TEXT    NOT NULL,
    developer                   TEXT    NOT NULL,
    homepage                    TEXT,
    description                 TEXT    NOT NULL DEFAULT '',
    redirect_uris               TEXT    NOT NULL DEFAULT '[]',
    scopes                      TEXT    NOT NULL,
    kind                        TEXT    NOT NULL,
    secret_hash                 BYTEA,
    previous_secret_hash        BYTEA,
    previous_secret_expires_at  BIGINT,
    disabled_at                 BIGINT,
    created_by                  TEXT,
    created_at                  BIGINT  NOT NULL,
    updated_at                  BIGINT  NOT NULL,
    CONSTRAINT oauth_apps_pk PRIMARY KEY (id),
    CONSTRAINT oauth_apps_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT oauth_apps_kind_check CHECK (kind IN ('confidential', 'public'))
);
CREATE INDEX oauth_apps_account_idx ON oauth_apps (account_id, created_at);

-- What an account granted an app: scopes, who installed it (NULL: the client credentials grant of
-- a private app). Revoking a grant ends every token issued under it.
CREATE TABLE oauth_grants (
    id            TEXT    NOT NULL,
    app_id        TEXT    NOT NULL,
    account_id    TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    installed_by  TEXT,
    created_at    BIGINT  NOT NULL,
    revoked_at    BIGINT,
    CONSTRAINT oauth_grants_pk PRIMARY KEY (id),
    CONSTRAINT oauth_grants_app_fk FOREIGN KEY (app_id) REFERENCES oauth_apps (id) ON DELETE CASCADE,
    CONSTRAINT oauth_grants_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
);
CREATE INDEX oauth_grants_account_idx ON oauth_grants (account_id, created_at);
CREATE INDEX oauth_grants_app_idx ON oauth_grants (app_id);

-- Access tokens are rows of api_keys with their grant: the same hot path, cache, batched reads,
-- use records and revocation broadcast as keys. Key lists and key management never show them.
ALTER TABLE api_keys ADD COLUMN grant_id TEXT;
ALTER TABLE api_keys ADD COLUMN client_id TEXT;
CREATE INDEX api_keys_grant_idx ON api_keys (grant_id);

-- Authorization codes (RFC 6749 §4.1 with PKCE S256): found by the hash of the code, 10 minutes,
-- used once; the grant the exchange made is kept so a second use ends its tokens.
CREATE TABLE oauth_codes (
    code_hash       BYTEA   NOT NULL,
    app_id          TEXT    NOT NULL,
    account_id      TEXT    NOT NULL,
    person_id       TEXT    NOT NULL,
    scopes          TEXT    NOT NULL,
    redirect_uri    TEXT    NOT NULL,
    code_challenge  TEXT    NOT NULL,
    grant_id        TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    expires_at      BIGINT  NOT NULL,
    used_at         BIGINT,
    CONSTRAINT oauth_codes_pk PRIMARY KEY (code_hash),
    CONSTRAINT oauth_codes_app_fk FOREIGN KEY (app_id) REFERENCES oauth_apps (id) ON DELETE CASCADE
);
CREATE INDEX oauth_codes_expiry_idx ON oauth_codes (expires_at);

-- Refresh tokens rotate at every use. A used one keeps its successor pair sealed (MFA keyring)
-- for a few seconds, so a client's benign retry gets the same pair; a later second use revokes
-- the whole grant (the family).
CREATE TABLE oauth_refresh_tokens (
    token_hash        BYTEA   NOT NULL,
    grant_id          TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    used_at           BIGINT,
    successor_key_id  TEXT,
    successor_sealed  BYTEA,
    CONSTRAINT oauth_refresh_tokens_pk PRIMARY KEY (token_hash),
    CONSTRAINT oauth_refresh_tokens_grant_fk FOREIGN KEY (grant_id) REFERENCES oauth_grants (id) ON DELETE CASCADE
);
CREATE INDEX oauth_refresh_tokens_grant_idx ON oauth_refresh_tokens (grant_id);
