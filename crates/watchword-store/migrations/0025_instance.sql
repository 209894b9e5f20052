-- Facts about the running installation that every process on the database shares: the public URL
-- the server announced (the CLI renders mails with it).
CREATE TABLE instance_settings (
    name        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    CONSTRAINT instance_settings_pk PRIMARY KEY (name)
);
