from django.db import migrations

from core.roles import apply_roles


class Migration(migrations.Migration):
    """Re-applies the role table now that sync runs exist (运营 see them)."""

    dependencies = [
        ("sa_sync", "0002_platform_sync_schedule"),
        ("erp_aftersales", "0002_roles"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
