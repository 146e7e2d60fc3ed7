from django.db import migrations

from sa_sync.schedules import ensure_platform_sync_schedule


class Migration(migrations.Migration):
    dependencies = [
        ("sa_sync", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(ensure_platform_sync_schedule, migrations.RunPython.noop)]
