from django.db import migrations, models
from django.db.models import F


def name_the_object(apps, schema_editor):
    # Every slip downloaded so far came from a JD refund application whose id is its refund number.
    RawRefund = apps.get_model("refunds", "RawRefund")
    RawRefund.objects.filter(platform_id="").update(platform_id=F("refund_no"))


class Migration(migrations.Migration):
    dependencies = [("refunds", "0011_write_path_indexes")]

    operations = [
        migrations.AddField(
            model_name="rawrefund",
            name="platform_object",
            field=models.CharField(
                choices=[("refund_apply", "退款申请单"), ("service_order", "服务单")],
                default="refund_apply",
                max_length=16,
                verbose_name="平台单据类型",
            ),
        ),
        migrations.AddField(
            model_name="rawrefund",
            name="platform_id",
            field=models.CharField(blank=True, max_length=64, verbose_name="平台单据号"),
        ),
        migrations.AddField(
            model_name="rawrefund",
            name="needs_manual_interception",
            field=models.BooleanField(default=False, verbose_name="需人工拦截"),
        ),
        migrations.RunPython(name_the_object, migrations.RunPython.noop),
    ]
