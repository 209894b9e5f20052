-- SAML 2.0 connections keep the IdP's metadata in `saml_metadata` (parsed at every use: entity
-- id, sign-in URL, signing certificates). IdP-initiated sign-ins are off unless turned on. The
-- earliest signing certificate's expiry is kept to warn the Security Contact 30 and 7 days
-- before (`cert_warned` is the last warning sent for it: 0, 30 or 7; a new metadata resets it).
ALTER TABLE sso_connections ADD COLUMN idp_initiated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sso_connections ADD COLUMN cert_expires_at BIGINT;
ALTER TABLE sso_connections ADD COLUMN cert_warned INTEGER NOT NULL DEFAULT 0;

-- Each assertion id is accepted once per connection, on any node, until it expires.
CREATE TABLE saml_assertions (
    connection_id  TEXT    NOT NULL,
    assertion_id   TEXT    NOT NULL,
    expires_at     BIGINT  NOT NULL,
    CONSTRAINT saml_assertions_pk PRIMARY KEY (connection_id, assertion_id),
    CONSTRAINT saml_assertions_connection_fk FOREIGN KEY (connection_id) REFERENCES sso_connections (id) ON DELETE CASCADE
);
CREATE INDEX saml_assertions_expiry_idx ON saml_assertions (expires_at);
