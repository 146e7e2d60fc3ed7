from django.db import migrations

from core.roles import apply_roles


class Migration(migrations.Migration):
    """Re-applies the role table: 运营 no longer see django-celery-beat's periodic tasks."""

    dependencies = [
        ("core", "0002_event_states_as_text"),
        ("orders", "0006_shop_secrets_encrypted"),
        ("refunds", "0006_writeback_models_moved_to_sa_sync"),
        ("sa_sync", "0006_writeback_recovery"),
        ("erp_aftersales", "0003_event_moved_to_core"),
        ("django_celery_beat", "0001_initial"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
