-- Privileges of the application's database role on the audit trail.
--
-- The application connects as a role that does not own the tables (the owner, which runs the
-- migrations, can disable triggers). On the audit table it may only add and read events;
-- the trigger installed by audits/migrations/0002 refuses UPDATE, DELETE and TRUNCATE even
-- to roles that have those privileges. pg_advisory_xact_lock needs no grant.
--
-- Replace transferdesk_app with the role named in DATABASE_URL. Run as the owner, after
-- `manage.py migrate`.

REVOKE ALL ON TABLE audits_auditevent FROM transferdesk_app;
GRANT SELECT, INSERT ON TABLE audits_auditevent TO transferdesk_app;
