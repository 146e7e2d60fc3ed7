from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from orders.models import Shop

from ...keys import KeyRefused, api_key_create


class Command(BaseCommand):
    help = "为店铺创建 API 密钥并打印一次（系统只保存其哈希）"

    def add_arguments(self, parser):
        parser.add_argument("--shop", required=True, help="店铺编号，例如 JD-FLAGSHIP")
        parser.add_argument("--name", required=True, help="密钥名称，例如 wms（操作日志中以此记录）")
        parser.add_argument(
            "--review-level",
            type=int,
            choices=[0, 1, 2],
            default=0,
            help="退款单审核级别：0 不可审核（默认），1 一级审核（同客服），2 二级审核（同财务）",
        )
        parser.add_argument("--expires-days", type=int, default=None, help="多少天后过期；不填表示不过期")

    def handle(self, *args, **options):
        shop = Shop.objects.filter(shop_no=options["shop"]).first()
        if shop is None:
            raise CommandError(f"店铺 {options['shop']} 不存在")
        days = options["expires_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-days 须为正整数")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            key, raw = api_key_create(
                shop=shop,
                name=options["name"],
                by="命令行：create_api_key",
                expires_at=expires_at,
                review_level=options["review_level"],
            )
        except KeyRefused as refused:
            raise CommandError(refused.message) from None
        self.stderr.write(f"已为店铺 {shop.shop_no} 创建密钥“{key.name}”（只显示这一次，请妥善保存）：")
        self.stdout.write(raw)
