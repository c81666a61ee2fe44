-- Whether the domain's return-path host (bounce.{domain}) has its MX at
-- envoi, as last verified: then its mail goes out with the return path
-- there, so SPF aligns with the From domain for DMARC.
ALTER TABLE domains ADD COLUMN return_path_mx INTEGER NOT NULL DEFAULT 0;
