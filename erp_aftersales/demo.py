"""Demo data: two shops, a few hundred orders in every status, raw refund slips of every type and
platform status, and the four demo users. Deterministic and idempotent: a second run finds every row
already there and changes nothing."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from core.audit import record_event
from orders.models import Order, OrderLine, OrderPromotion, OrderStatus, PayType, Shop
from platforms.jd.demo import OBJECT_FOR_TYPE, default_waybill, jd_item, jd_state_code
from refund_slips.models import RefundSlip, RefundStrategy, ShopRefundSettings
from refund_slips.services import (
    RefundSlipRefused,
    raw_refunds_keyword_check,
    refund_slip_approve,
    refund_slip_cancel,
    refund_slip_create,
    refund_slip_mark_refunded,
    refund_slip_reject,
    refund_slips_follow_platform,
)
from refunds.models import (
    PlatformObject,
    PlatformStatus,
    RawRefund,
    RefundType,
    WritebackKind,
    WritebackStatus,
)
from refunds.reasons import COMMON_REASONS
from refunds.services import raw_refund_intercept
from returns.models import ReturnSlip, ShopReturnSettings
from returns.services import (
    return_inbound_audit,
    return_inbound_record,
    return_slip_create,
    return_slip_transition,
)
from sa_sync.demo_shops import DEMO_SHOPS

DEMO_PASSWORD = "erp-demo"
DEMO_USERS = [
    ("admin", None, "管理员"),
    ("cs", "客服", "客服"),
    ("ops", "运营", "运营"),
    ("warehouse", "仓库", "仓库"),
    ("finance", "财务", "财务"),
]
ORDERS_PER_SHOP = 150
DEMO_ACTOR = "系统：演示数据"

GOODS = [
    ("TS-001", "纯棉短袖T恤", ["白色 M", "白色 L", "黑色 XL"], Decimal("79.00")),
    ("JK-210", "轻薄羽绒服", ["藏青 L", "米白 M"], Decimal("399.00")),
    ("SH-330", "男士休闲运动鞋", ["42码", "43码", "41码"], Decimal("259.00")),
    ("BG-045", "双肩电脑背包", ["灰色", "黑色"], Decimal("189.00")),
    ("CP-888", "保温杯 500ml", ["星空蓝", "樱花粉"], Decimal("99.00")),
    ("EB-120", "蓝牙耳机 降噪版", ["白色"], Decimal("329.00")),
    ("TW-066", "纯棉毛巾 三条装", ["浅灰"], Decimal("49.90")),
    ("PH-512", "手机壳 防摔款", ["透明 iPhone 16", "黑色 Mate 70"], Decimal("39.00")),
]
BUYER_DESCS = {
    RefundType.REFUND: [
        "还没发货就不要了",
        "拍错了颜色，麻烦取消",
        "等太久了，不想要了",
        "地址填错了，重新下单",
    ],
    RefundType.RETURN: [
        "衣服有线头，质量不好",
        "尺码偏小，穿不上",
        "收到时包装破损",
        "和图片颜色差别很大",
        "尺码偏小，想换个大一码的",  # reads like 换货: the keyword check flags it (需关注)
    ],
    RefundType.EXCHANGE: ["想换大一码", "想换个颜色", "质量太差，不换了，我要退货退钱"],
    RefundType.REFUND_KEEP_GOODS: ["少发了一个配件，商家同意退部分款", "有轻微瑕疵，协商补偿"],
    RefundType.REPAIR: ["耳机左边没声音了，麻烦修一下", "开机键失灵，申请维修", "坏了，不修了，直接退货退钱"],
    RefundType.REISSUE: ["少发了一个杯盖，请补发", "配件漏发了"],
}
# JD's service orders: what each type can be at (goods come back for 退货/换货/维修 only; money goes
# back for 退货/退款不退货 only; 售后完成 is a service finished without a refund).
SERVICE_ORDER_STATUSES = {
    # weighted towards returns on their way or back: the warehouse's demo (扫描、入库审核、退货入仓)
    RefundType.RETURN: [PlatformStatus.AWAITING_RECEIPT] * 3
    + [PlatformStatus.AWAITING_RETURN] * 2
    + list(PlatformStatus),
    RefundType.EXCHANGE: [s for s in PlatformStatus if s != PlatformStatus.REFUNDED],
    RefundType.REPAIR: [s for s in PlatformStatus if s != PlatformStatus.REFUNDED],
    RefundType.REISSUE: [
        PlatformStatus.APPLIED,
        PlatformStatus.SERVICE_COMPLETED,
        PlatformStatus.SELLER_REFUSED,
        PlatformStatus.CANCELLED,
    ],
    RefundType.REFUND_KEEP_GOODS: [
        PlatformStatus.APPLIED,
        PlatformStatus.REFUNDED,
        PlatformStatus.SELLER_REFUSED,
        PlatformStatus.CANCELLED,
    ],
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
# Every status, weighted towards what a real list looks like (most orders already shipped).
STATUS_WEIGHTS = [
    (OrderStatus.CANCELLED, 6),
    (OrderStatus.AWAITING_PAYMENT, 6),
    (OrderStatus.AWAITING_CS_REVIEW, 14),
    (OrderStatus.AWAITING_FINANCE_REVIEW, 10),
    (OrderStatus.IN_WAREHOUSE, 14),
    (OrderStatus.SHIPPED, 30),
    (OrderStatus.COMPLETED, 20),
]


def refuse_in_production():
    if settings.PRODUCTION:
        raise RuntimeError("生产模式（ERP_ENV=production）下不能加载演示数据和演示账号。")


def load_demo(now=None) -> dict:
    refuse_in_production()
    now = now or timezone.now()
    with transaction.atomic():
        users = _users()
        shops = [_shop(spec) for spec in DEMO_SHOPS]
        for shop_index, shop in enumerate(shops):
            rng = random.Random(20261111 + shop_index)
            for n in range(ORDERS_PER_SHOP):
                order, planned_status = _order(rng, shop, shop_index, n, now)
                _refunds(rng, order, planned_status, now)
        # Refund-only slips stop their lines, as when they arrive from JD: the demo then shows
        # cancelled lines, pending interceptions for the warehouse and slips flagged for CS.
        raw_refund_intercept(RawRefund.objects.values_list("pk", flat=True), by=DEMO_ACTOR)
        _returns(shops, users)
        _refund_slips(shops, users)
    return {
        "users": len(users),
        "shops": Shop.objects.count(),
        "orders": Order.objects.count(),
        "order_lines": OrderLine.objects.count(),
        "raw_refunds": RawRefund.objects.count(),
        "return_slips": ReturnSlip.objects.count(),
        "refund_slips": RefundSlip.objects.count(),
    }


def _users():
    User = get_user_model()
    users = []
    for username, group_name, first_name in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"is_staff": True, "is_superuser": group_name is None, "first_name": first_name},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        if group_name:
            user.groups.add(Group.objects.get(name=group_name))
        users.append(user)
    return users


def _shop(spec):
    shop, created = Shop.objects.get_or_create(
        shop_no=spec["shop_no"],
        defaults={k: spec[k] for k in ("name", "app_key", "app_secret", "access_token", "vender_id")},
    )
    if created:
        record_event(shop, action="新建店铺", by=DEMO_ACTOR)
    return shop


def _order(rng, shop, shop_index, n, now):
    tid = f"3{shop_index + 1}{n + 1:09d}"
    status = rng.choices([s for s, _ in STATUS_WEIGHTS], weights=[w for _, w in STATUS_WEIGHTS])[0]
    trade_time = now - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 1439))
    picks = rng.sample(GOODS, k=rng.choice([1, 1, 2, 3]))
    lines = []
    for goods_no, name, specs, price in picks:
        spec = rng.choice(specs)
        num = rng.choice([1, 1, 1, 2, 3])
        discount = (price * num * Decimal(rng.choice(["0", "0", "0.05", "0.1"]))).quantize(Decimal("0.01"))
        lines.append((goods_no, name, spec, num, price, discount))
    goods_amount = sum(p * n for _, _, _, n, p, _ in lines)
    discount_total = sum(d for *_, d in lines)
    order, created = Order.objects.get_or_create(
        shop=shop,
        tid=tid,
        defaults={
            "status": status,
            "pay_type": PayType.COD if rng.random() < 0.1 else PayType.ONLINE,
            "buyer_nick": f"jd_{rng.randint(10**7, 10**8 - 1)}",
            "receiver_name": rng.choice(SURNAMES) + rng.choice(["先生", "女士", "小姐", "伟", "芳", "强"]),
            "receiver_mobile": f"1{rng.choice('3578')}{rng.randint(0, 9)}****{rng.randint(1000, 9999)}",
            "receiver_address": rng.choice(
                ["北京市朝阳区", "上海市浦东新区", "广东省深圳市南山区", "浙江省杭州市西湖区"]
            )
            + f"某某路{rng.randint(1, 999)}号",
            "goods_amount": goods_amount,
            "discount": discount_total,
            "paid": goods_amount - discount_total,
            "trade_time": trade_time,
            "pay_time": trade_time + timedelta(minutes=2) if status != OrderStatus.AWAITING_PAYMENT else None,
        },
    )
    if created:
        for i, (goods_no, name, spec, num, price, discount) in enumerate(lines):
            OrderLine.objects.create(
                order=order,
                shop=shop,
                oid=f"{tid}-{goods_no}-{i + 1}",
                goods_no=goods_no,
                spec_no=f"{goods_no}-{i + 1:02d}",
                goods_name=name,
                spec_name=spec,
                num=num,
                price=price,
                discount=discount,
                paid=price * num - discount,
                is_cancelled=status == OrderStatus.CANCELLED,
            )
    return order, status


def _refund_kind(rng, status):
    """A type and platform status that make sense for where the order is.

    Uses the generated status, not the row's: a rerun after someone moved an order must draw the same
    random numbers to stay idempotent."""
    if status in (OrderStatus.CANCELLED, OrderStatus.AWAITING_PAYMENT):
        return None
    if status < OrderStatus.SHIPPED:
        # Mostly refunds before shipment; a few at 55 show the interception case.
        return RefundType.REFUND, rng.choice(
            [PlatformStatus.APPLIED] * 4
            + [PlatformStatus.CANCELLED, PlatformStatus.REFUNDED, PlatformStatus.SELLER_REFUSED]
        )
    refund_type = rng.choice(
        [RefundType.RETURN] * 4
        + [
            RefundType.REFUND,
            RefundType.EXCHANGE,
            RefundType.REFUND_KEEP_GOODS,
            RefundType.REPAIR,
            RefundType.REISSUE,
        ]
    )
    if refund_type == RefundType.REFUND:
        # Refund-only after shipment: the 未发货仅退款 trap this product exists for.
        return refund_type, PlatformStatus.APPLIED
    # After receipt: one of JD's service orders, in a state its type can be in.
    return refund_type, rng.choice(SERVICE_ORDER_STATUSES[refund_type])


def _refunds(rng, order, planned_status, now):
    if rng.random() > 0.7:
        return
    kind = _refund_kind(rng, planned_status)
    if kind is None:
        return
    refund_type, platform_status = kind
    lines = list(order.lines.all())
    for line in rng.sample(lines, k=1 if len(lines) == 1 or rng.random() < 0.7 else 2):
        platform_object = OBJECT_FOR_TYPE[refund_type]
        # numeric, as JD's ids: refund applications start with 6, service orders with 5
        first = "5" if platform_object == PlatformObject.SERVICE_ORDER else "6"
        refund_no = f"{first}{order.tid[1:]}{line.oid[-1]}"
        apply_time = (order.trade_time or now) + timedelta(hours=rng.randint(1, 48))
        num = rng.randint(1, line.num)
        history_roll = rng.random()  # drawn whether or not the slip exists, so reruns stay in step
        # A service order shipped back shows the buyer's waybill; only 退货/退款不退货 refund money.
        shipped = platform_object == PlatformObject.SERVICE_ORDER and platform_status in (
            PlatformStatus.AWAITING_RECEIPT,
        )
        money = refund_type in (RefundType.REFUND, RefundType.RETURN, RefundType.REFUND_KEEP_GOODS)
        slip, created = RawRefund.objects.get_or_create(
            shop=order.shop,
            refund_no=refund_no,
            defaults={
                "tid": order.tid,
                "oid": line.oid,
                "order": order,
                "order_line": line,
                "refund_type": refund_type,
                "platform_status": platform_status,
                "reason": rng.choice(COMMON_REASONS),
                "description": rng.choice(BUYER_DESCS[refund_type]),
                "refund_amount": (line.paid / line.num * num).quantize(Decimal("0.01"))
                if money
                else Decimal("0"),
                "num": num,
                "buyer_nick": order.buyer_nick,
                "apply_time": min(apply_time, now).replace(microsecond=0),  # JD's times have whole seconds
                "platform_status_code": jd_state_code(refund_type, platform_status),
                "platform_object": platform_object,
                "platform_id": refund_no,
                "return_logistics_no": default_waybill(refund_no) if shipped else "",
            },
        )
        if created and slip.writeback_kind is not None:
            _writeback_history(history_roll, slip)


def _writeback_history(roll, slip):
    """Some eligible slips already went through a writeback, so the list shows every badge. Only
    where the precondition holds: even demo history never shows JD told something false."""
    if slip.writeback_kind == WritebackKind.GOODS_IN_WAREHOUSE and roll < 0.5:
        slip.inbound_num = slip.num  # the parcel is back: these can be written back (退货入仓)
        slip.save(update_fields=["inbound_num"])
    if roll > 0.25 or slip.writeback_refusal() is not None:
        return
    slip.start_writeback(by=DEMO_ACTOR, reason="演示数据")
    if roll < 0.15:
        slip.mark_writeback_succeeded(by=DEMO_ACTOR)
    else:
        slip.mark_writeback_failed(by=DEMO_ACTOR, reason="京东返回：接口调用超时，请稍后重试")
    slip.save()


# Waybills of the return slips waiting for the warehouse: type one into 退货入库（扫描） and audit it.
DEMO_WAYBILLS = ["SF0000000001", "SF0000000002", "SF0000000003"]
DEMO_RETURN_REMARK = "演示数据"


def _returns(shops, users):
    """Return slips in every state, through the services (so the 操作日志 reads as in real use).

    Nothing here calls JD: the audited demo slip's raw refund is still 等待退货, so it is not sent
    (its page says why); the three slips waiting for the warehouse are 等待收货 slips the sandbox
    knows, so a new user's audit sends 退货入仓 to the sandbox. Idempotent: skipped once made."""
    if ReturnSlip.objects.filter(remark=DEMO_RETURN_REMARK).exists():
        return
    cs = next(u for u in users if u.username == "cs")
    warehouse = next(u for u in users if u.username == "warehouse")
    candidates = RawRefund.objects.filter(
        refund_type=RefundType.RETURN,
        writeback_status=WritebackStatus.NOT_SENT,
        inbound_num=0,
        order_line__isnull=False,
    ).order_by("refund_no")
    receipt = list(candidates.filter(platform_status=PlatformStatus.AWAITING_RECEIPT)[:3])
    waiting_return = list(candidates.filter(platform_status=PlatformStatus.AWAITING_RETURN)[:3])
    # Rejected and cancelled returns: the buyer gave up or the seller refused on JD's side too.
    closed = list(
        candidates.filter(platform_status__in=[PlatformStatus.SELLER_REFUSED, PlatformStatus.CANCELLED])[:2]
    )

    def make(raw, waybill="", approve=False):
        slip = return_slip_create(
            by=cs,
            raw_refund=raw,
            logistics_company="顺丰速运" if waybill else "",
            logistics_no=waybill,
            remark=DEMO_RETURN_REMARK,
        )
        if approve:
            return_slip_transition(slip.pk, "approve", by=cs)
        return slip

    for raw, waybill in zip(receipt[:3], DEMO_WAYBILLS, strict=False):
        make(raw, waybill, approve=True)  # 待入库: for the warehouse
    if closed:
        slip = make(closed[0], approve=True)
        return_slip_transition(slip.pk, "reject", by=cs, reason="买家超时未寄回")  # 驳回
    if len(closed) > 1:
        slip = make(closed[1])
        return_slip_transition(slip.pk, "cancel", by=cs, reason="买家撤销退货申请")  # 已取消
    if waiting_return:
        make(waiting_return[0])  # 待审核
    if len(waiting_return) > 1:
        slip = make(waiting_return[1], waybill="YT0000000101", approve=True)  # 入库完成, not sent
        received = {line.pk: (line.quantity, 0) for line in slip.lines.all()}
        return_inbound_audit(slip.pk, by=warehouse, received=received)
    if len(waiting_return) > 2:
        slip = make(waiting_return[2], waybill="YT0000000102", approve=True)  # 待客服确认
        line = slip.lines.first()
        return_inbound_record(slip.pk, {line.pk: (line.quantity - 1, 0)}, by=warehouse)
        return_inbound_audit(slip.pk, by=warehouse)
    # The second shop creates its return slips by itself (beat's returns tick).
    if len(shops) > 1:
        ShopReturnSettings.objects.get_or_create(shop=shops[1], defaults={"auto_create_from_refunds": True})


DEMO_REFUND_REASON = "演示数据"
# (threshold, discount) of the demo's 满减, the largest an order's goods meet
DEMO_FULL_REDUCTIONS = [
    (Decimal("500"), Decimal("50")),
    (Decimal("300"), Decimal("30")),
    (Decimal("150"), Decimal("20")),
]


def _refund_slips(shops, users):
    """满减 on a few orders of several goods, each shop's refund rules (shop 1 按比例分摊, shop 2
    重算优惠), the keyword check, and refund slips in every state, through the services.
    Idempotent: skipped once made."""
    if ShopRefundSettings.objects.filter(shop__in=shops).exists():
        return
    cs = next(u for u in users if u.username == "cs")
    finance = next(u for u in users if u.username == "finance")
    for index, shop in enumerate(shops):
        ShopRefundSettings.objects.create(
            shop=shop,
            strategy=RefundStrategy.PROPORTIONAL if index == 0 else RefundStrategy.RECOMPUTE,
            level1_limit=Decimal("200.00"),
            level2_limit=Decimal("5000.00"),
        )
        _promotions(shop)
        raw_refunds_keyword_check(shop_id=shop.pk)

    def first_created(candidates, **kwargs):
        for raw in candidates:
            try:
                return refund_slip_create(raw_refund_id=raw.pk, by=cs, **kwargs)
            except RefundSlipRefused:
                continue  # the line already has an after-sales case, or nothing to refund
        return None

    kinds = [RefundType.RETURN, RefundType.REFUND_KEEP_GOODS]
    open_raws = RawRefund.objects.filter(
        refund_type__in=kinds,
        platform_status__in=[
            PlatformStatus.APPLIED,
            PlatformStatus.AWAITING_RETURN,
            PlatformStatus.AWAITING_RECEIPT,
        ],
        order_line__isnull=False,
    ).order_by("refund_no")
    first_created(open_raws.exclude(keyword_warning=""))  # 待审核, 需关注
    first_created(open_raws.filter(order__promotions__isnull=False))  # 待审核, with its 满减 arithmetic
    slip = first_created(open_raws.filter(refund_amount__lte=200))
    if slip:
        refund_slip_approve(slip.pk, by=cs)  # 待退款
    slip = first_created(open_raws.filter(refund_amount__gt=200))
    if slip:
        refund_slip_approve(slip.pk, by=cs)  # 待审核, level 1 done: waits for finance (二级审核)
    slip = first_created(open_raws.filter(refund_type=RefundType.REFUND_KEEP_GOODS))
    if slip:
        refund_slip_reject(slip.pk, by=cs, reason="买家已同意换货，不退款")  # 驳回
    slip = first_created(open_raws)
    if slip:
        refund_slip_cancel(slip.pk, by=cs, reason="重复建单")  # 已取消
    # 退款完成 by JD: the platform already reported 退款成功 for these slips.
    refunded = RawRefund.objects.filter(
        refund_type__in=kinds, platform_status=PlatformStatus.REFUNDED, order_line__isnull=False
    ).order_by("refund_no")
    for _ in range(2):
        slip = first_created(refunded)
        if slip:
            refund_slip_approve(slip.pk, by=cs)
    refund_slips_follow_platform()
    # 退款完成 by finance: a compensation without goods (超时赔付) on a completed order.
    order = (
        Order.objects.filter(status=OrderStatus.COMPLETED, pay_type=PayType.ONLINE).order_by("tid").first()
    )
    if order is not None:
        slip = refund_slip_create(order_id=order.pk, compensation=Decimal("10.00"), reason="超时赔付", by=cs)
        refund_slip_approve(slip.pk, by=cs)
        refund_slip_mark_refunded(slip.pk, by=finance, reason="已通过支付宝转账")


def _promotions(shop):
    """满减 on about one in four orders of several goods (their paid amount drops by the discount)."""
    orders = (
        Order.objects.filter(shop=shop, status__gte=OrderStatus.SHIPPED)
        .prefetch_related("lines")
        .order_by("tid")
    )
    for n, order in enumerate(orders):
        lines = list(order.lines.all())
        if len(lines) < 2 or n % 4:
            continue
        goods = sum((line.paid for line in lines), Decimal("0"))
        for threshold, discount in DEMO_FULL_REDUCTIONS:
            if goods >= threshold:
                OrderPromotion.objects.create(
                    order=order,
                    name="满减优惠",
                    promotion_no=f"MJ{threshold:.0f}-{discount:.0f}",
                    threshold=threshold,
                    discount=discount,
                    oids=[line.oid for line in lines],
                )
                order.discount += discount
                order.paid -= discount
                order.save(update_fields=["discount", "paid"])
                break


def share_with_sandbox(sandbox) -> int:
    """Give the SA sandbox (a `SandboxClient`) the local demo slips as the JD objects they came from
    (refund applications, and service orders for returns, exchanges, repairs and reissues), so that
    writing them back reaches a JD that knows them and its SA policy can refund them."""
    count = 0
    for spec in DEMO_SHOPS:
        slips = RawRefund.objects.filter(shop__shop_no=spec["shop_no"]).order_by("pk")
        by_object: dict[str, list] = {}
        for slip in slips:
            platform_object, item = jd_item(slip)
            by_object.setdefault(platform_object, []).append(item)
        seed = {
            PlatformObject.REFUND_APPLY: sandbox.seed_refunds,
            PlatformObject.SERVICE_ORDER: sandbox.seed_service_orders,
        }
        for platform_object, items in by_object.items():
            for start in range(0, len(items), 500):
                count += seed[platform_object](spec["app_key"], items[start : start + 500])
    return count
