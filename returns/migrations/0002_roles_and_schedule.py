from django.db import migrations

from core.roles import apply_roles
from returns.schedules import ensure_returns_schedule


class Migration(migrations.Migration):
    """Re-applies the role table (客服 create and review return slips, 仓库 audit inbound, 运营 the
    per-shop returns settings) and creates beat's returns tick."""

    dependencies = [
        ("returns", "0001_initial"),
        ("refunds", "0006_writeback_models_moved_to_sa_sync"),
        ("sa_sync", "0004_writeback_models_from_refunds"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(apply_roles, migrations.RunPython.noop),
        migrations.RunPython(ensure_returns_schedule, migrations.RunPython.noop),
    ]
