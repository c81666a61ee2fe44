-- Mailgun's templates: per domain, each with up to 40 versions, one active.
CREATE TABLE templates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    domain_id   INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,            -- lower-cased, as Mailgun
    description TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    UNIQUE (domain_id, name)
);

CREATE TABLE template_versions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    template_id INTEGER NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    body        TEXT NOT NULL,            -- Handlebars source
    comment     TEXT NOT NULL DEFAULT '',
    headers     TEXT NOT NULL DEFAULT '{}', -- JSON: From, Subject, Reply-To
    active      INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    UNIQUE (template_id, tag)
);
