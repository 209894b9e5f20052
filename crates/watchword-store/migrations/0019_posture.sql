-- Security posture. An exposed key is marked on the key (the overview counts exposed keys still
-- live without reading the audit log); keys reported before this migration are marked from it.
ALTER TABLE api_keys ADD COLUMN exposed_at BIGINT;
UPDATE api_keys SET exposed_at = (
    SELECT MIN(e.created_at) FROM audit_events e
    WHERE e.action = 'api_key.exposed' AND e.target_id = api_keys.id AND e.account_id = api_keys.account_id
) WHERE revoked_at IS NULL;

-- Each person's strongest confirmed factor (0 none, 1 any, 2 a passkey), kept by the store in the
-- transaction that adds, confirms or removes a factor: the overview counts members with MFA
-- without probing every member's factors.
ALTER TABLE persons ADD COLUMN mfa_level INTEGER NOT NULL DEFAULT 0;
UPDATE persons SET mfa_level = COALESCE((
    SELECT MAX(CASE WHEN f.kind = 'passkey' THEN 2 ELSE 1 END) FROM mfa_factors f
    WHERE f.person_id = persons.id AND f.confirmed_at IS NOT NULL
), 0);

-- Each account's score per day, written only when it differs from the account's latest snapshot
-- (a day without a row has the score of the row before it), kept a year.
CREATE TABLE posture_snapshots (
    account_id  TEXT    NOT NULL,
    day         BIGINT  NOT NULL, -- days since 1970-01-01, UTC
    score       INTEGER NOT NULL,
    findings    TEXT    NOT NULL, -- codes of the checks that did not pass, comma-separated
    CONSTRAINT posture_snapshots_pk PRIMARY KEY (account_id, day),
    CONSTRAINT posture_snapshots_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
);
CREATE INDEX posture_snapshots_day_idx ON posture_snapshots (day);

-- The daily run over every account: one row per day, its progress (the last account done) and
-- a lease, so one node runs it and another resumes it where a crash left it.
CREATE TABLE posture_runs (
    day          BIGINT  NOT NULL,
    cursor       TEXT,
    lease_until  BIGINT  NOT NULL,
    accounts     BIGINT  NOT NULL DEFAULT 0,
    written      BIGINT  NOT NULL DEFAULT 0,
    finished_at  BIGINT,
    CONSTRAINT posture_runs_pk PRIMARY KEY (day)
);
