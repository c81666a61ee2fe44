-- Per-domain IP allowlist: clients from these networks may submit over SMTP
-- without AUTH, as addresses of that domain only.
CREATE TABLE ip_allowlist (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    network     TEXT NOT NULL,      -- CIDR, normalised (10.0.0.0/8, 192.0.2.1/32)
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    UNIQUE (domain_id, network)
);
