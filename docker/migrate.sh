#!/bin/sh
# The compose stack's `migrate` step. Here DATABASE_URL names the tables' owner (the web,
# worker and beat services connect as TRANSFERDESK_APP_DB_USER instead): the migrations run as
# the owner, then audits/sql/app_role.sql grants the application's role what it needs, every
# table a migration added included, and leaves the audit table append-only for it.
set -eu
python manage.py migrate --noinput
psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -v app_role="$TRANSFERDESK_APP_DB_USER" \
    -f audits/sql/app_role.sql
