-- What the security overview counts of each live member, kept on the membership itself: the
-- person's strongest confirmed factor (0 none, 1 any, 2 a passkey; moved here from persons) and
-- last interactive login (a copy of persons.last_login_at), written by the store in the
-- transaction that records a login or adds, confirms or removes a factor. With the index below
-- the overview reads an account's members from one index, without joining 10,000 persons.
-- (A person's own status is not copied: nothing sets it to anything but 'active'.)
ALTER TABLE memberships ADD COLUMN mfa_level INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memberships ADD COLUMN last_login_at BIGINT;
UPDATE memberships SET
    mfa_level = COALESCE((SELECT p.mfa_level FROM persons p WHERE p.id = memberships.person_id), 0),
    last_login_at = (SELECT p.last_login_at FROM persons p WHERE p.id = memberships.person_id)
WHERE person_id IS NOT NULL;
ALTER TABLE persons DROP COLUMN mfa_level;
CREATE INDEX memberships_posture_idx
    ON memberships (account_id, status, role, staff_expires_at, mfa_level, last_login_at);
