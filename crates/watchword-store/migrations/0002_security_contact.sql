-- The Security Contact of each account (seed 002), its history, and operator staff grants.

-- The effective contact is always a membership of the account. source 'default' means "the
-- Owner until someone picks": it follows the Owner through an ownership transfer.
ALTER TABLE accounts ADD COLUMN contact_membership_id TEXT;
ALTER TABLE accounts ADD COLUMN contact_source TEXT NOT NULL DEFAULT 'default';
ALTER TABLE accounts ADD COLUMN contact_since BIGINT;
ALTER TABLE accounts ADD COLUMN contact_set_by TEXT; -- person id; NULL for automatic changes
ALTER TABLE accounts ADD COLUMN contact_warned_at BIGINT; -- last "log in or lapse" warning

-- Accounts created before this feature start with their Owner as the default contact.
UPDATE accounts SET
    contact_membership_id = (SELECT m.id FROM memberships m WHERE m.account_id = accounts.id AND m.role = 'owner'),
    contact_source = 'default',
    contact_since = created_at;

-- Every change of contact, manual or automatic.
CREATE TABLE security_contact_changes (
    id                       TEXT   NOT NULL,
    account_id               TEXT   NOT NULL,
    previous_membership_id   TEXT,
    previous_email           TEXT,
    new_membership_id        TEXT   NOT NULL,
    new_email                TEXT   NOT NULL,
    source                   TEXT   NOT NULL,
    actor_person_id          TEXT,
    actor_email              TEXT,
    reason                   TEXT,
    created_at               BIGINT NOT NULL,
    CONSTRAINT security_contact_changes_pk PRIMARY KEY (id),
    CONSTRAINT security_contact_changes_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT security_contact_changes_source_check CHECK (source IN ('default', 'manual'))
);
CREATE INDEX security_contact_changes_account_idx ON security_contact_changes (account_id, id);

-- Operator staff given access to a customer account: when the grant ends.
ALTER TABLE memberships ADD COLUMN staff_expires_at BIGINT;
