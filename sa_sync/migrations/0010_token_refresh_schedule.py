from django.db import migrations

from sa_sync.schedules import ensure_token_refresh_schedule


class Migration(migrations.Migration):

    dependencies = [
        ('sa_sync', '0009_synccursor_queued_at'),
        ('django_celery_beat', '0019_alter_periodictasks_options'),
    ]

    operations = [
        migrations.RunPython(ensure_token_refresh_schedule, migrations.RunPython.noop),
    ]
