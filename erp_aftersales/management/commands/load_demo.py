from django.core.management.base import BaseCommand, CommandError

from erp_aftersales.demo import DEMO_PASSWORD, DEMO_USERS, load_demo


class Command(BaseCommand):
    help = "加载演示数据（2 个店铺、数百个订单、各类型原始退款单、演示账号）。可重复执行，结果相同。"

    def handle(self, *args, **options):
        try:
            counts = load_demo()
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            "演示数据就绪：店铺 {shops}，系统订单 {orders}，子订单 {order_lines}，原始退款单 {raw_refunds}".format(
                **counts
            )
        )
        names = "、".join(u for u, _, _ in DEMO_USERS)
        self.stdout.write(f"演示账号：{names}，密码 {DEMO_PASSWORD}")
