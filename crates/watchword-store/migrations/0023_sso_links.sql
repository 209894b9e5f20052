-- An existing login is linked to an account's IdP only by its own person: a sign-in request
-- started from their own session carries them, and only its answer links the IdP's subject.
ALTER TABLE sso_requests ADD COLUMN link_person TEXT;
