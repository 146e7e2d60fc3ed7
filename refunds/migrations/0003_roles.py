from django.db import migrations

from core.roles import apply_roles


class Migration(migrations.Migration):
    """Re-applies the role table: 客服 see writeback attempts and jobs, 仓库 confirm interceptions."""

    dependencies = [
        ("refunds", "0002_rawrefund_attention_rawrefund_inbound_num_and_more"),
        ("orders", "0003_pendinginterception_alter_orderline_options_and_more"),
        ("sa_sync", "0003_roles"),
    ]

    operations = [migrations.RunPython(apply_roles, migrations.RunPython.noop)]
