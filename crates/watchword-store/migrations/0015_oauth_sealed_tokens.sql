-- OAuth access tokens are sealed (grant, scopes, expiry) and have no row: a grant keeps the last
-- use of any of its tokens and why it was revoked. Access-token rows written to api_keys before
-- this are removed (they lived an hour; their clients refresh); api_keys.grant_id and client_id
-- stay, unused.
ALTER TABLE oauth_grants ADD COLUMN last_used_at BIGINT;
ALTER TABLE oauth_grants ADD COLUMN last_used_ip TEXT;
ALTER TABLE oauth_grants ADD COLUMN revoked_reason TEXT;
DELETE FROM api_key_uses WHERE key_id IN (SELECT id FROM api_keys WHERE grant_id IS NOT NULL);
DELETE FROM api_keys WHERE grant_id IS NOT NULL;
