-- SMTP submission credentials: a login (full address) per domain, the
-- password only as an Argon2id PHC string.
CREATE TABLE smtp_credentials (
    id            INTEGER PRIMARY KEY,
    domain_id     INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    login         TEXT NOT NULL UNIQUE,   -- lower case, name@domain
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX smtp_credentials_domain ON smtp_credentials (domain_id);
