-- The security tips' policies: trusted networks, the factor policy, assisted recovery, the
-- anti-phishing phrase and expiry reminders.

-- Trusted networks: CIDR ranges separated by spaces (NULL: used from anywhere); Owners' own
-- password + MFA sessions may be exempted (break-glass).
ALTER TABLE accounts ADD COLUMN trusted_networks TEXT;
ALTER TABLE accounts ADD COLUMN networks_owner_exempt INTEGER NOT NULL DEFAULT 0;

-- Factor policy: the second factors members may use (space separated; NULL: any), whether
-- administrators must use a passkey, and the grace period from when it was set.
ALTER TABLE accounts ADD COLUMN factor_methods TEXT;
ALTER TABLE accounts ADD COLUMN admin_passkey INTEGER NOT NULL DEFAULT 0;
ALTER TABLE accounts ADD COLUMN factor_grace_days BIGINT NOT NULL DEFAULT 7;
ALTER TABLE accounts ADD COLUMN factor_policy_at BIGINT;

-- Assisted recovery: how long an approved request waits before it can be used.
ALTER TABLE accounts ADD COLUMN recovery_delay_hours BIGINT NOT NULL DEFAULT 24;

-- A person's anti-phishing phrase, sealed with the MFA key (shown at the top of their mails).
ALTER TABLE persons ADD COLUMN phrase_sealed TEXT;

-- Reminders sent once each, claimed by inserting their row (expiry reminders, factor policy
-- notices): several nodes may run the job at once.
CREATE TABLE reminders (
    kind        TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    stage       TEXT    NOT NULL,
    sent_at     BIGINT  NOT NULL,
    CONSTRAINT reminders_pk PRIMARY KEY (kind, subject, stage)
);

-- A person who lost every factor asks to be let back in; an account's Security Contact or
-- another Owner approves; it becomes usable after the account's delay, unless cancelled.
CREATE TABLE recovery_requests (
    id              TEXT    NOT NULL PRIMARY KEY,
    person_id       TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    ip              TEXT    NOT NULL,
    cancel_hash     TEXT    NOT NULL,
    approved_at     BIGINT,
    approved_by     TEXT,
    approved_in     TEXT,
    usable_at       BIGINT,
    cancelled_at    BIGINT,
    cancelled_by    TEXT,
    used_at         BIGINT,
    CONSTRAINT recovery_requests_person_fk FOREIGN KEY (person_id) REFERENCES persons (id) ON DELETE CASCADE
);
CREATE INDEX recovery_requests_person_idx ON recovery_requests (person_id, created_at);
