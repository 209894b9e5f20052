-- Completed access reviews of accounts: who reviewed, what they saw (members, flagged members)
-- and their note. The latest says when the next one is due.
CREATE TABLE access_reviews (
    id              TEXT    NOT NULL,
    account_id      TEXT    NOT NULL,
    reviewer_id     TEXT    NOT NULL, -- person id
    reviewer_email  TEXT    NOT NULL,
    members         INTEGER NOT NULL,
    flagged         INTEGER NOT NULL,
    note            TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    CONSTRAINT access_reviews_pk PRIMARY KEY (id),
    CONSTRAINT access_reviews_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
);
CREATE INDEX access_reviews_account_idx ON access_reviews (account_id, created_at);
