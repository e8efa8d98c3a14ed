from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("claims", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="hospitalbatch",
            name="advance_working_days",
            # Existing batches predate the field; 10 is the SPEC's advance allowance they were received under.
            field=models.PositiveSmallIntegerField(default=10, verbose_name="advance allowed working days"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalhospitalbatch",
            name="advance_working_days",
            field=models.PositiveSmallIntegerField(default=10, verbose_name="advance allowed working days"),
            preserve_default=False,
        ),
    ]
