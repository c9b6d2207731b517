#!/bin/sh
# Creates the role the application connects as. The postgres image runs this once, when the
# database volume is first initialised, as POSTGRES_USER: the role that owns the database and
# runs the migrations (docker/migrate.sh). The application's role logs in, owns nothing, is no
# superuser, and may create databases only for the restore drill's scratch copies; its
# privileges on the tables are granted after each migration (audits/sql/app_role.sql).
#
# A volume initialised before this script existed: run it once by hand,
#   docker compose exec db sh /docker-entrypoint-initdb.d/10-app-role.sh
# then `docker compose up migrate`.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_role="$TRANSFERDESK_APP_DB_USER" -v app_password="$TRANSFERDESK_APP_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'app_role')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role')
\gexec
SELECT format('ALTER ROLE %I LOGIN PASSWORD %L NOSUPERUSER NOCREATEROLE CREATEDB '
              'NOREPLICATION NOBYPASSRLS', :'app_role', :'app_password')
\gexec
SQL
