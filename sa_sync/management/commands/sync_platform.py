from django.core.management.base import BaseCommand, CommandError

from orders.models import Shop
from sa_sync.models import SyncKind
from sa_sync.platform_sync import shop_sync


class Command(BaseCommand):
    help = "立即从京东同步一个店铺（或全部店铺）的订单、退款单和/或服务单。"

    def add_arguments(self, parser):
        parser.add_argument("--shop", help="店铺编号 shop_no；不填表示全部启用的店铺")
        parser.add_argument("--kind", choices=[*SyncKind.values, "all"], default="all")

    def handle(self, *args, shop=None, kind="all", **options):
        shops = Shop.objects.filter(is_active=True)
        if shop:
            shops = shops.filter(shop_no=shop)
            if not shops.exists():
                raise CommandError(f"找不到启用的店铺：{shop}")
        kinds = list(SyncKind.values) if kind == "all" else [kind]
        failed = False
        for s in shops:
            for k in kinds:
                run = shop_sync(s, kind=k, trigger="命令行")
                label = f"{s.shop_no} {SyncKind(k).label}"
                if run is None:
                    self.stdout.write(f"{label}：另一个同步正在进行，已跳过")
                elif run.error:
                    failed = True
                    self.stderr.write(f"{label}：失败 —— {run.error}")
                else:
                    self.stdout.write(
                        f"{label}：成功，{run.pages} 页，新增 {run.rows_new}，更新 {run.rows_updated}，"
                        f"无变化 {run.rows_unchanged}"
                    )
        if failed:
            raise CommandError("部分同步失败，见上方原因。")
