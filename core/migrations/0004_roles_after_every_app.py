from django.db import migrations

from core.roles import apply_roles


class Migration(migrations.Migration):
    """Re-applies the role table once every app's permissions exist (returns, the set-aside sync rows,
    the secrets' fields): the last word on what each role may do."""

    dependencies = [
        ("core", "0003_roles_without_periodic_tasks"),
        ("orders", "0006_shop_secrets_encrypted"),
        ("refunds", "0007_rawrefund_auto_decision"),
        ("sa_sync", "0006_writeback_recovery"),
        ("returns", "0002_roles_and_schedule"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
