"""Notices, links, consents and requests keep their customer's id without a database
constraint (erasure deletes customer rows with raw SQL); requests name the customer's data key
directly, so their encrypted fields stay tied to it after the customer row is gone."""

import django.db.models.deletion
from django.db import migrations, models


def copy_data_keys(apps, schema_editor):
    Request = apps.get_model("transfers", "DataSubjectRequest")
    Customer = apps.get_model("customers", "Customer")
    for request in Request.objects.filter(data_key__isnull=True):
        key_id = (
            Customer.objects.filter(pk=request.customer_id)
            .values_list("data_key_id", flat=True)
            .first()
        )
        Request.objects.filter(pk=request.pk).update(data_key_id=key_id)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_import_upload"),
        ("transferdesk", "0002_job"),
        ("transfers", "0003_notices"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasubjectrequest",
            name="data_key",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="transferdesk.datakey",
                verbose_name="data key",
            ),
        ),
        migrations.RunPython(copy_data_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="datasubjectrequest",
            name="data_key",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="transferdesk.datakey",
                verbose_name="data key",
            ),
        ),
        migrations.AlterField(
            model_name="consentrecord",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="customers.customer",
            ),
        ),
        migrations.AlterField(
            model_name="datasubjectrequest",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="customers.customer",
                verbose_name="customer",
            ),
        ),
        migrations.AlterField(
            model_name="notice",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="customers.customer",
            ),
        ),
        migrations.AlterField(
            model_name="noticelink",
            name="customer",
            field=models.ForeignKey(
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="customers.customer",
            ),
        ),
    ]
