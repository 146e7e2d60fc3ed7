from django.db import migrations

from core.roles import apply_roles


class Migration(migrations.Migration):
    """Re-applies the role table: 运营 configure the auto-writeback rules and see the runs, 客服 see the runs."""

    dependencies = [
        ("refunds", "0004_auto_writeback"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
