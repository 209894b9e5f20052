-- Verified domains are checked again daily: when the TXT record was last seen, and since when it
-- is missing (after 7 days the domain stops routing sign-ins).
ALTER TABLE sso_domains ADD COLUMN checked_at BIGINT;
ALTER TABLE sso_domains ADD COLUMN failing_since BIGINT;
