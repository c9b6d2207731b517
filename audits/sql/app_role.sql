-- Privileges of the role the application connects as (DESIGN.md guarantee 6).
--
-- The application connects as a role that does not own the tables: the owner, which runs the
-- migrations, can disable triggers and drop or truncate tables; the application's role can do
-- none of that. It reads and writes the application's tables, and on the audit table it may
-- only add and read events; the trigger installed by audits/migrations/0002 refuses UPDATE,
-- DELETE and TRUNCATE even to roles that have those privileges. pg_advisory_xact_lock needs no
-- grant. The role itself is created once (docker/initdb/10-app-role.sh does it in the compose
-- stack): LOGIN, no superuser, CREATEDB only for the restore drill's scratch databases.
--
-- Run as the owner after every `manage.py migrate` (docker/migrate.sh does), so that every
-- table a migration added is granted, naming the role of the application's DATABASE_URL:
--
--   psql "$OWNER_DATABASE_URL" -v ON_ERROR_STOP=1 -v app_role=transferdesk_app \
--        -f audits/sql/app_role.sql

\set ON_ERROR_STOP on

-- An owner (or a superuser) as the application's role would undo the point of this file.
SELECT format('DO $$BEGIN RAISE EXCEPTION %L; END$$',
              'app_role ' || :'app_role' || ' owns tables here or is a superuser: the '
              'application must connect as a role that owns nothing')
 WHERE :'app_role' = current_user
    OR EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role' AND rolsuper)
    OR EXISTS (SELECT FROM pg_tables WHERE schemaname = 'public' AND tableowner = :'app_role')
\gexec

SELECT format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO %I', current_database(), :'app_role')
\gexec
GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO :"app_role";

-- The audit trail: add and read, nothing else.
REVOKE ALL ON TABLE audits_auditevent FROM :"app_role";
GRANT SELECT, INSERT ON TABLE audits_auditevent TO :"app_role";
