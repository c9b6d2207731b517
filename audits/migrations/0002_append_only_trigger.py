"""Make the audit table append-only on PostgreSQL.

A trigger refuses UPDATE and DELETE of any row and TRUNCATE of the table, whoever asks, so a
bug or an injected statement in the application cannot rewrite history. Defence in depth with
privileges: the application's role should hold only INSERT and SELECT on the table and must
not own it, since an owner (or a superuser) can disable triggers. The grants are in
``audits/sql/app_role.sql`` and ``docs/audit.md``:

    REVOKE ALL ON audits_auditevent FROM transferdesk_app;
    GRANT SELECT, INSERT ON audits_auditevent TO transferdesk_app;

Someone who can disable the trigger can change rows, but without the audit key (kept outside
the database) cannot make the chain verify again: ``verify_audit_chain`` names the event.

SQLite (the embedded development default) has no such trigger; its file belongs to whoever
runs the process anyway.
"""

from django.db import migrations

FUNCTION = "audits_auditevent_append_only"
ROW_TRIGGER = "audits_auditevent_no_update_delete"
TRUNCATE_TRIGGER = "audits_auditevent_no_truncate"

CREATE = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events can only be added (audits.services.record_event).';
END;
$$;

CREATE TRIGGER {ROW_TRIGGER}
    BEFORE UPDATE OR DELETE ON audits_auditevent
    FOR EACH ROW EXECUTE FUNCTION {FUNCTION}();

CREATE TRIGGER {TRUNCATE_TRIGGER}
    BEFORE TRUNCATE ON audits_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}();
"""

DROP = f"""
DROP TRIGGER IF EXISTS {TRUNCATE_TRIGGER} ON audits_auditevent;
DROP TRIGGER IF EXISTS {ROW_TRIGGER} ON audits_auditevent;
DROP FUNCTION IF EXISTS {FUNCTION}();
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audits", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
