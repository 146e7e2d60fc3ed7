from django.db import migrations

from core.roles import apply_roles
from refund_slips.schedules import ensure_sweep_schedule


class Migration(migrations.Migration):
    """Re-applies the role table now that refund slips' permissions exist (客服 level 1, 财务 level 2),
    and creates beat's sweep that completes slips a failed signal receiver missed."""

    dependencies = [
        ("refund_slips", "0001_initial"),
        ("core", "0004_roles_after_every_app"),
        ("orders", "0007_order_promotions"),
        ("refunds", "0008_rawrefund_keyword_warning"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(apply_roles, migrations.RunPython.noop),
        migrations.RunPython(ensure_sweep_schedule, migrations.RunPython.noop),
    ]
