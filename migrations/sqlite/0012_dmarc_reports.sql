-- DMARC aggregate reports received at envoi's rua address: one row per
-- report (a reporter's report id is stored once per domain), with the rows
-- it gives per source; SMTP TLS reports (RFC 8460), one row per policy; and
-- the spoofing warnings given.
CREATE TABLE dmarc_reports (
    id          INTEGER PRIMARY KEY,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    org         TEXT NOT NULL,
    report_id   TEXT NOT NULL,
    begin_at    INTEGER NOT NULL,   -- seconds since the epoch
    end_at      INTEGER NOT NULL,
    policy      TEXT NOT NULL,      -- p as the reporter found it published
    pct         INTEGER NOT NULL,
    messages    INTEGER NOT NULL,
    dmarc_pass  INTEGER NOT NULL,
    received_at INTEGER NOT NULL,   -- microseconds
    UNIQUE (domain_id, org, report_id)
);
CREATE INDEX dmarc_reports_by_end ON dmarc_reports (domain_id, end_at);
CREATE TABLE dmarc_rows (
    report       INTEGER NOT NULL REFERENCES dmarc_reports(id) ON DELETE CASCADE,
    source_ip    TEXT NOT NULL,
    count        INTEGER NOT NULL,
    header_from  TEXT NOT NULL,
    disposition  TEXT NOT NULL,
    dkim_aligned INTEGER NOT NULL,
    spf_aligned  INTEGER NOT NULL
);
CREATE INDEX dmarc_rows_by_report ON dmarc_rows (report);
CREATE TABLE tls_reports (
    org           TEXT NOT NULL,
    report_id     TEXT NOT NULL,
    policy_domain TEXT NOT NULL,
    policy_type   TEXT NOT NULL,
    successful    INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    PRIMARY KEY (org, report_id, policy_domain, policy_type)
);
-- Spoofing warnings already given: one per domain, source and day.
CREATE TABLE dmarc_alarms (
    domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    source_ip TEXT NOT NULL,
    day       INTEGER NOT NULL,   -- days since the epoch (UTC)
    PRIMARY KEY (domain_id, source_ip, day)
);
