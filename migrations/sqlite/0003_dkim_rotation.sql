-- Automatic DKIM rotation: per-domain schedule, and the key a rotated-in key
-- replaces (set while it waits for its DNS record, cleared once active).
ALTER TABLE domains ADD COLUMN dkim_rotation_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE domains ADD COLUMN dkim_rotation_interval INTEGER NOT NULL DEFAULT 0; -- seconds
ALTER TABLE dkim_keys ADD COLUMN replaces TEXT;
