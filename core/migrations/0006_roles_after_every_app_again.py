from django.db import migrations

from core.roles import apply_roles


class Migration(migrations.Migration):
    """Re-applies the role table once every app's permissions exist (refund slips, the API, order
    processing, exports: their own migrations may run in any order): the last word on each role."""

    dependencies = [
        ("core", "0005_export_jobs_and_order_processing_roles"),
        ("orders", "0008_order_prefix_search_and_processing"),
        ("sa_sync", "0009_synccursor_queued_at"),
        ("refund_slips", "0002_roles_and_sweep"),
        ("api", "0001_api_keys_webhooks_outbox"),
        ("refunds", "0011_write_path_indexes"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
