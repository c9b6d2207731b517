"""Fewer indexes on customers: every lookup is per organisation, so composite indexes and the
unique constraints serve them, and each index dropped here cost every insert of the import.

The blind-index columns were indexed by a default the field no longer has, and their earlier
migrations did not record it: the state is first told they are indexed, then the ordinary
AlterField drops the index (and PostgreSQL's ``_like`` twin) under the names Django gave them.
"""

from django.db import migrations, models

import transferdesk.crypto.fields

BLIND_INDEXES = {
    "email_bidx": {"verbose_name": "e-mail index", "source": "email", "kind": "email"},
    "phone_bidx": {
        "verbose_name": "phone index",
        "source": "phone",
        "kind": "phone",
        "region_path": "organization.country",
    },
    "national_id_bidx": {
        "verbose_name": "national id index",
        "source": "national_id",
        "kind": "national_id",
    },
}
STATUS_CHOICES = [
    ("active", "Active"),
    ("objected", "Objected to the transfer"),
    ("erased", "Erased"),
    ("legal_hold", "On legal hold"),
]


def blind_index(name: str, **extra: bool) -> transferdesk.crypto.fields.BlindIndexField:
    return transferdesk.crypto.fields.BlindIndexField(**BLIND_INDEXES[name], **extra)


def status() -> models.CharField:
    return models.CharField(
        choices=STATUS_CHOICES, default="active", max_length=16, verbose_name="status"
    )


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_import_upload"),
        ("transferdesk", "0002_job"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="customer", name=name, field=blind_index(name, db_index=True)
                )
                for name in BLIND_INDEXES
            ]
        ),
        *(
            migrations.AlterField(model_name="customer", name=name, field=blind_index(name))
            for name in BLIND_INDEXES
        ),
        migrations.AlterField(
            model_name="customer",
            name="organization",
            field=models.ForeignKey(
                db_index=False,
                on_delete=models.deletion.PROTECT,
                related_name="customers",
                to="customers.organization",
                verbose_name="seller organisation",
            ),
        ),
        migrations.AlterField(model_name="customer", name="status", field=status()),
        migrations.AlterField(model_name="historicalcustomer", name="status", field=status()),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                fields=["organization", "phone_bidx"], name="customer_org_phone_bidx"
            ),
        ),
    ]
