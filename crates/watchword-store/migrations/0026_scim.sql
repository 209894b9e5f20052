-- SCIM 2.0 provisioning per account.
--
-- A SCIM token is a row of `api_keys` of its own kind: found by the same prefix, checksum and
-- scanners, rotated with a grace period, but refused everywhere except the account's SCIM API.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';

-- A membership the account's IdP suspended (`active=false`): refused like a deactivated one,
-- kept apart from an Owner's deactivation so an IdP never undoes what an Owner did.
ALTER TABLE memberships ADD COLUMN suspended_at BIGINT;

-- The SCIM view of a membership the IdP provisioned: its external id, the attributes watchword
-- keeps for the IdP (name, title, department, manager…).
CREATE TABLE scim_users (
    account_id     TEXT    NOT NULL,
    membership_id  TEXT    NOT NULL,
    external_id    TEXT,
    display_name   TEXT,
    attributes     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    CONSTRAINT scim_users_pk PRIMARY KEY (account_id, membership_id),
    CONSTRAINT scim_users_membership_fk FOREIGN KEY (membership_id) REFERENCES memberships (id) ON DELETE CASCADE
);
CREATE INDEX scim_users_external_idx ON scim_users (account_id, external_id);
CREATE INDEX scim_users_updated_idx ON scim_users (account_id, updated_at);

-- Groups the IdP pushes; they grant roles only through the SSO connection's group → role table.
CREATE TABLE scim_groups (
    account_id     TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    display_name   TEXT    NOT NULL,
    external_id    TEXT,
    attributes     TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    CONSTRAINT scim_groups_pk PRIMARY KEY (account_id, id),
    CONSTRAINT scim_groups_name_unique UNIQUE (account_id, display_name)
);

CREATE TABLE scim_group_members (
    account_id     TEXT    NOT NULL,
    group_id       TEXT    NOT NULL,
    membership_id  TEXT    NOT NULL,
    CONSTRAINT scim_group_members_pk PRIMARY KEY (account_id, group_id, membership_id),
    CONSTRAINT scim_group_members_group_fk FOREIGN KEY (account_id, group_id) REFERENCES scim_groups (account_id, id) ON DELETE CASCADE,
    CONSTRAINT scim_group_members_membership_fk FOREIGN KEY (membership_id) REFERENCES memberships (id) ON DELETE CASCADE
);
CREATE INDEX scim_group_members_membership_idx ON scim_group_members (membership_id);

-- Single-use setup links an Owner emails to the customer's IT admin (not a member): opened once,
-- they become a setup session that configures the account's domains, SSO connections and SCIM
-- token, nothing else, until they expire (24 h) or the Owner revokes them.
CREATE TABLE setup_links (
    id            TEXT    NOT NULL,
    account_id    TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    token_hash    BYTEA   NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    expires_at    BIGINT  NOT NULL,
    used_at       BIGINT,
    used_ip       TEXT,
    session_hash  BYTEA,
    revoked_at    BIGINT,
    CONSTRAINT setup_links_pk PRIMARY KEY (id),
    CONSTRAINT setup_links_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT setup_links_token_unique UNIQUE (token_hash),
    CONSTRAINT setup_links_session_unique UNIQUE (session_hash)
);
CREATE INDEX setup_links_account_idx ON setup_links (account_id, created_at);
