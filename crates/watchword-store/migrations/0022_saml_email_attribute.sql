-- SAML: the attribute a connection reads the email from when the NameID is not an email
-- address (NULL: `email`). A NameID of the emailAddress format always wins.
ALTER TABLE sso_connections ADD COLUMN email_attribute TEXT;
