from django.db import migrations

from core.roles import apply_roles


class Migration(migrations.Migration):
    dependencies = [
        ("erp_aftersales", "0001_initial"),
        ("orders", "0001_initial"),
        ("refunds", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
