-- When the account's Owners and Admins were last reminded that an access review is due.
ALTER TABLE accounts ADD COLUMN access_review_reminded_at BIGINT;
