-- Who a domain's mail may say it is from (policy::sender): "aligned" (the
-- domain or a subdomain) or "any" (except another tenant's domain).
ALTER TABLE domains ADD COLUMN from_policy TEXT NOT NULL DEFAULT 'aligned';
