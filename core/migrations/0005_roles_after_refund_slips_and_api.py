from django.db import migrations

from core.roles import apply_roles


class Migration(migrations.Migration):
    """Re-applies the role table once the refund slips' and the API's permissions exist (their own
    migrations may run in either order): the last word on what each role may do."""

    dependencies = [
        ("core", "0004_roles_after_every_app"),
        ("refund_slips", "0002_roles_and_sweep"),
        ("api", "0001_api_keys_webhooks_outbox"),
        ("refunds", "0009_rawrefund_return_parcel"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
