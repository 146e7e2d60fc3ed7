"""Demo data for the two shops of `sa_sync.demo_shops`: ~80 orders, 24 refund applications and 33
after-sales service orders each.

Deterministic: the same seed and the same `now` give the same data (times are relative to `now`, which
defaults to the current second). Both are tied to real order lines (orderId + skuId, quantity ≤
itemTotal) and to order states that make sense: refund applications (JD's refunds before receipt,
取消订单) on orders not yet shipped, or shipped ones JD tried to intercept; service orders (returns,
exchanges, repairs, reissues, refunds keeping the goods: after receipt) on shipped or finished ones."""

from __future__ import annotations

import random
import time
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from platforms.jd.signing import SHANGHAI, jd_timestamp
from sa_sync.demo_shops import DEMO_SHOPS

DEMO_SEED = 20240618
ORDERS_PER_SHOP = 80
REFUND_ID_START = (7_000_000_001, 7_100_000_001)
SERVICE_ID_START = (1_810_000_001, 1_820_000_001)
VENDER_IDS = ("10086001", "10086002")

# (name, specs, price in yuan)
GOODS = [
    ("纯棉短袖T恤", ["白色 M", "白色 L", "黑色 L", "藏青 XL"], "79.00"),
    ("男士休闲牛仔裤", ["浅蓝 30", "深蓝 32", "黑色 34"], "199.00"),
    ("女士针织开衫", ["米白 S", "燕麦色 M", "雾霾蓝 L"], "169.00"),
    ("轻便透气跑步鞋", ["黑白 41", "灰色 42", "白色 39"], "359.00"),
    ("儿童保暖羽绒服", ["粉色 120cm", "蓝色 130cm"], "299.00"),
    ("不锈钢保温杯 500ml", ["曜石黑", "樱花粉"], "89.00"),
    ("无线蓝牙耳机 降噪版", ["白色", "黑色"], "399.00"),
    ("家用电饭煲 4L", ["标准款"], "269.00"),
    ("五常有机大米 5kg", ["袋装"], "69.90"),
    ("洗衣凝珠 52颗", ["薰衣草香"], "49.90"),
    ("婴儿纸尿裤 L码 54片", ["L 54片"], "129.00"),
    ("智能手环 心率血氧监测", ["曜石黑", "月光白"], "199.00"),
    ("乳胶护颈枕", ["标准款 60x40cm"], "159.00"),
    ("每日坚果礼盒 30包", ["750g"], "139.00"),
    ("双肩电脑背包 15.6英寸", ["黑色", "灰色"], "159.00"),
    ("机械键盘 青轴", ["87键 白光", "104键 RGB"], "249.00"),
    ("清爽防晒霜 SPF50+ 50ml", ["清爽型"], "98.00"),
    ("不粘炒锅 32cm", ["带锅盖"], "189.00"),
    ("静音加湿器 4L", ["白色"], "129.00"),
    ("纯棉四件套 1.8m床", ["简约灰", "奶油白"], "329.00"),
    ("羊毛围巾", ["驼色", "酒红"], "119.00"),
    ("陶瓷马克杯 带盖", ["北欧白", "墨绿"], "39.90"),
]
ORDER_STATE_COUNTS = [
    ("WAIT_SELLER_STOCK_OUT", 24),
    ("LOCKED", 8),
    ("WAIT_GOODS_RECEIVE_CONFIRM", 20),
    ("FINISHED_L", 20),
    ("TRADE_CANCELED", 8),
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "洋",
    "艳",
    "勇",
    "军",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "晓东",
    "雨轩",
]
ADDRESSES = [
    "北京市朝阳区望京街道阜通东大街6号院3号楼1802",
    "上海市浦东新区张江镇博云路2号A座1106",
    "广东省深圳市南山区粤海街道科技南十二路18号",
    "浙江省杭州市西湖区文三路478号华星时代广场B座",
    "江苏省南京市鼓楼区中山北路105号602室",
    "四川省成都市高新区天府大道中段1366号",
    "湖北省武汉市洪山区珞喻路1037号",
    "山东省青岛市市南区香港中路76号颐和国际A座",
]
COUPON_TYPES = ["100-店铺优惠", "41-京东券优惠", "30-单品促销优惠"]

REASONS_BY_TYPE = {
    1: ["不想要了", "拍错/多拍", "未按约定时间发货", "与商家协商一致退款", "缺货"],
    2: ["7天无理由退货", "商品质量问题", "尺码不合适", "收到商品破损", "商品与描述不符"],
    3: ["尺码不合适", "商品质量问题", "收到商品破损"],
    4: ["收到商品破损", "商品与描述不符", "与商家协商一致退款", "商品质量问题"],
}
BUYER_DESC = {
    "不想要了": ["临时不需要了，麻烦尽快退款", "家里已经有了，不需要了"],
    "拍错/多拍": ["多拍了一件，退掉一件", "颜色拍错了，想重新下单"],
    "未按约定时间发货": ["说好48小时发货，到现在还没发", "等了三天还没发货"],
    "商品质量问题": ["用了两天就开线了", "开机就有杂音，质量有问题"],
    "7天无理由退货": ["不太喜欢，吊牌还在，7天无理由退", "实物和想象的不一样，未使用"],
    "与商家协商一致退款": ["已和客服沟通，同意退款", "客服说缺货，协商退款"],
    "尺码不合适": ["偏小一码，穿着紧", "鞋子偏大，想换小一码"],
    "收到商品破损": ["外箱压坏了，杯子有裂痕", "收到时包装破了，商品有划痕"],
    "商品与描述不符": ["颜色和图片差别很大", "材质不是描述里写的纯棉"],
    "缺货": ["客服通知缺货，申请退款", "商家说没货了"],
}

# (status, how many): refund applications in every status 0..11, with enough open ones for
# 取消发货成功 to demo (status 0).
REFUND_SCENARIOS = [
    (0, 10),
    (1, 1),
    (5, 1),
    (10, 1),
    (6, 1),
    (7, 1),
    (8, 1),
    (3, 3),
    (2, 1),
    (4, 1),
    (9, 1),
    (11, 2),
]
# (customerExpect, serviceStatus, shipped back, processResult, how many): service orders of every
# type the ERP keeps, in every state it maps, with 6 returns the buyer sent back for 退货入仓 to demo
# (退货, 10005 待收货, with the waybill).
SERVICE_SCENARIOS = [
    (10, 10001, False, None, 3),
    (10, 10005, False, None, 4),
    (10, 10005, True, None, 6),
    (10, 10007, True, None, 1),
    (10, 10010, True, 40, 2),
    (10, 10010, True, 70, 1),
    (10, 10004, False, None, 1),
    (10, 10011, False, None, 1),
    (20, 10005, False, None, 2),
    (20, 10005, True, None, 1),
    (20, 10010, True, 80, 1),
    (20, 10004, False, None, 1),
    (30, 10005, True, None, 1),
    (30, 10007, True, None, 1),
    (30, 10010, True, 2, 1),
    (80, 10001, False, None, 1),
    (80, 10007, False, None, 1),
    (11, 10001, False, None, 2),
    (11, 10010, False, None, 1),
    (11, 10011, False, None, 1),
]
SERVICE_REASONS = {
    10: ["7天无理由退货", "商品质量问题", "尺码不合适", "收到商品破损", "商品与描述不符"],
    11: ["收到商品破损", "商品与描述不符", "与商家协商一致退款"],
    20: ["尺码不合适", "商品质量问题", "收到商品破损"],
    30: ["商品质量问题"],
    80: ["收到商品破损", "少件/漏发"],
}

HOUR = 3600


def _order_states_for(status: int) -> tuple[str, ...]:
    """Where a refund application's order is: not shipped, or JD's interception of a shipped one."""
    if status in (3, 9):
        return ("TRADE_CANCELED",)
    if status in (6, 7, 8):  # interception attempts: the parcel had left
        return ("WAIT_GOODS_RECEIVE_CONFIRM",)
    return ("WAIT_SELLER_STOCK_OUT", "LOCKED")


RECEIVED_ORDER_STATES = ("WAIT_GOODS_RECEIVE_CONFIRM", "FINISHED_L")  # service orders: after receipt


def _catalog(rng: random.Random, shop_index: int) -> list[dict]:
    skus = []
    used: set[int] = set()
    for goods_index, (name, specs, price) in enumerate(GOODS):
        ware_id = str(rng.randint(10**10, 10**11 - 1))
        for spec_index, spec in enumerate(specs):
            sku_id = rng.randint(10**11, 10**12 - 1)
            while sku_id in used:
                sku_id = rng.randint(10**11, 10**12 - 1)
            used.add(sku_id)
            skus.append(
                {
                    "skuId": str(sku_id),
                    "outerSkuId": f"S{shop_index + 1}-{goods_index + 1:03d}-{spec_index + 1:02d}",
                    "skuName": f"{name} {spec}",
                    "jdPrice": price,
                    "wareId": ware_id,
                    "productNo": "",
                }
            )
    return skus


def _orders(rng: random.Random, shop_index: int, vender_id: str, now: int) -> list[dict]:
    catalog = _catalog(rng, shop_index)
    states = [state for state, count in ORDER_STATE_COUNTS for _ in range(count)]
    rng.shuffle(states)
    used_ids: set[str] = set()
    orders = []
    for state in states:
        order_id = f"8{shop_index + 1}{rng.randint(0, 10**10 - 1):010d}"
        while order_id in used_ids:
            order_id = f"8{shop_index + 1}{rng.randint(0, 10**10 - 1):010d}"
        used_ids.add(order_id)
        lines = []
        for sku in rng.sample(catalog, rng.choice([1, 1, 1, 2, 2, 3])):
            lines.append({**sku, "itemTotal": str(rng.choice([1, 1, 1, 2, 2, 3]))})
        goods = sum(Decimal(x["jdPrice"]) * int(x["itemTotal"]) for x in lines)
        coupons = []
        if rng.random() < 0.4:
            line = rng.choice(lines)
            coupons.append(
                {
                    "skuId": line["skuId"],
                    "couponType": rng.choice(COUPON_TYPES),
                    "couponPrice": f"{rng.choice([5, 10, 20]):.2f}",
                }
            )
        coupons.extend(_full_reduction(order_id, lines, goods))
        cod = rng.random() < 0.1
        start = now - rng.randint(2 * HOUR, 72 * HOUR)
        paid = start if cod else start + rng.randint(10, 15 * 60)
        later = {
            "WAIT_SELLER_STOCK_OUT": 0,
            "LOCKED": rng.randint(10 * 60, HOUR),
            "WAIT_GOODS_RECEIVE_CONFIRM": rng.randint(2 * HOUR, 20 * HOUR),
            "FINISHED_L": rng.randint(20 * HOUR, 60 * HOUR),
            "TRADE_CANCELED": rng.randint(5 * 60, 3 * HOUR),
        }[state]
        modified = min(paid + later, now - 60)
        buyer = rng.choice(SURNAMES) + rng.choice(GIVEN)
        discount = sum((Decimal(c["couponPrice"]) for c in coupons), Decimal("0"))
        freight = Decimal("0.00") if goods >= 99 else Decimal("6.00")
        orders.append(
            {
                "orderId": order_id,
                "venderId": vender_id,
                "pin": f"jd_{rng.getrandbits(40):010x}",
                "payType": "1-货到付款" if cod else "4-在线支付",
                "orderTotalPrice": f"{goods:.2f}",
                "orderSellerPrice": f"{goods - discount:.2f}",
                "orderPayment": f"{goods - discount + freight:.2f}",
                "freightPrice": f"{freight:.2f}",
                "sellerDiscount": f"{discount:.2f}",
                "orderState": state,
                "orderStartTime": _ts(start),
                "paymentConfirmTime": _ts(paid),
                "modified": _ts(modified),
                "consigneeInfo": {
                    "fullname": buyer,
                    "mobile": f"1{rng.choice('3589')}{rng.randint(0, 9)}****{rng.randint(0, 9999):04d}",
                    "fullAddress": rng.choice(ADDRESSES),
                },
                "itemInfoList": lines,
                "couponDetailList": coupons,
                # kept only to build refunds; stripped below
                "_buyer": buyer,
                "_paid": paid,
            }
        )
    return orders


# 满减 tiers (threshold, discount) in yuan: an order of several goods meeting one may carry it.
FULL_REDUCTIONS = [
    (Decimal("300"), Decimal("40")),
    (Decimal("150"), Decimal("20")),
    (Decimal("100"), Decimal("10")),
]


def _full_reduction(order_id: str, lines: list[dict], goods: Decimal) -> list[dict]:
    """An order-level 满减 for about a third of the orders with two goods or more. Its own random
    stream (seeded by the order id), so the rest of the demo stays as it was. The entry has no skuId
    (it is the order's, not a line's); thresholdPrice and skuIds are the sandbox's extension."""
    if len(lines) < 2 or random.Random(order_id).random() >= 0.35:
        return []
    for threshold, discount in FULL_REDUCTIONS:
        if goods >= threshold:
            return [
                {
                    "skuId": None,
                    "couponType": "29-满减优惠",
                    "couponPrice": f"{discount:.2f}",
                    "thresholdPrice": f"{threshold:.2f}",
                    "promotionId": f"MJ{threshold:.0f}-{discount:.0f}",
                    "skuIds": [line["skuId"] for line in lines],
                }
            ]
    return []


def _refund_sum_fen(order: dict, line: dict, num: int) -> int:
    """The line's paid share for `num` units: price × quantity minus the line's coupons, pro rata."""
    line_total = Decimal(line["jdPrice"]) * int(line["itemTotal"])
    coupons = sum(
        (Decimal(c["couponPrice"]) for c in order["couponDetailList"] if c["skuId"] == line["skuId"]),
        Decimal("0"),
    )
    share = (line_total - coupons) * num / int(line["itemTotal"])
    return int((share * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def _pick_line(rng, orders, states, free_lines):
    eligible = [o for o in orders if o["orderState"] in states]
    candidates = [
        (o, x) for o in eligible for x in o["itemInfoList"] if (o["orderId"], x["skuId"]) in free_lines
    ]
    if not candidates:  # more cases than lines in that state: share a line
        candidates = [(o, x) for o in eligible or orders for x in o["itemInfoList"]]
    order, line = rng.choice(candidates)
    free_lines.discard((order["orderId"], line["skuId"]))
    return order, line


def _refunds(rng: random.Random, orders: list[dict], first_id: int, now: int, free_lines: set) -> list[dict]:
    scenarios = [status for status, count in REFUND_SCENARIOS for _ in range(count)]
    rng.shuffle(scenarios)
    refunds = []
    for offset, status in enumerate(scenarios):
        order, line = _pick_line(rng, orders, _order_states_for(status), free_lines)
        num = rng.randint(1, int(line["itemTotal"]))
        applied = rng.randint(min(order["_paid"] + 10 * 60, now - 10 * 60), now - 5 * 60)
        checked = None if status == 0 else min(applied + rng.randint(5 * 60, 20 * HOUR), now - 60)
        refunds.append(
            {
                "id": first_id + offset,
                "orderId": int(order["orderId"]),
                "buyerId": order["pin"],
                "buyerName": order["_buyer"],
                "applyTime": _ts(applied),
                "checkTime": _ts(checked) if checked else None,
                "applyRefundSum": _refund_sum_fen(order, line, num),
                "status": status,
                "reason": rng.choice(REASONS_BY_TYPE[1]),
                "skuVoList": [{"skuId": line["skuId"], "skuName": line["skuName"], "skuCount": num}],
                "modified": _ts(checked or applied),
            }
        )
    return refunds


def _service_orders(
    rng: random.Random, orders: list[dict], first_id: int, now: int, free_lines: set
) -> list[dict]:
    scenarios = [(e, st, sh, pr) for e, st, sh, pr, count in SERVICE_SCENARIOS for _ in range(count)]
    rng.shuffle(scenarios)
    rows = []
    for offset, (expect, status, shipped, process_result) in enumerate(scenarios):
        order, line = _pick_line(rng, orders, RECEIVED_ORDER_STATES, free_lines)
        count = rng.randint(1, int(line["itemTotal"]))
        applied = rng.randint(min(order["_paid"] + HOUR, now - 20 * 60), now - 15 * 60)
        approved = (
            None if status in (10001, 10011) else min(applied + rng.randint(5 * 60, 6 * HOUR), now - 10 * 60)
        )
        shipped_at = (
            min((approved or applied) + rng.randint(HOUR, 20 * HOUR), now - 5 * 60) if shipped else None
        )
        finished = min((shipped_at or approved or applied) + rng.randint(HOUR, 30 * HOUR), now - 60)
        changed = finished if status in (10004, 10010, 10011) else shipped_at or approved or applied
        service_id = first_id + offset
        reason = rng.choice(SERVICE_REASONS[expect])
        money = expect in (10, 11)
        row = {
            "serviceId": service_id,
            "applyId": service_id - 100_000_000,
            "orderId": int(order["orderId"]),
            "skuId": int(line["skuId"]),
            "wareName": line["skuName"],
            "serviceCount": count,
            "customerExpect": expect,
            "serviceStatus": status,
            "customerPin": order["pin"],
            "customerName": order["_buyer"],
            "questionTypeCid2Name": reason,
            "questionDesc": rng.choice(BUYER_DESC.get(reason, ["少发了一件，请补发"])),
            "actualPayPrice": f"{_refund_sum_fen(order, line, count) / 100:.2f}"
            if money
            else line["jdPrice"],
            "applyTime": _ts(applied),
            "updateTime": _ts(changed),
        }
        if approved:
            row["approveTime"] = _ts(approved)
        if shipped:
            row["expressCode"] = f"JDVA{service_id:014d}"
            row["expressCompany"] = "京东快递"
            row["freightUpdateDate"] = _ts(shipped_at)
        if process_result is not None or status == 10010:
            row["processTime"] = row["finishTime"] = _ts(finished)
            if process_result is not None:
                row["processResult"] = process_result
        rows.append(row)
    return rows


def _ts(epoch: int) -> str:
    return jd_timestamp(datetime.fromtimestamp(epoch, tz=SHANGHAI))


def build_demo(now: float | None = None, seed: int = DEMO_SEED) -> list[dict]:
    """[{"shop": {...DEMO_SHOPS entry, vender_id}, "orders": [...], "refunds": [...],
    "service_orders": [...]}, ...]"""
    now_s = int(time.time() if now is None else now)
    result = []
    for index, shop in enumerate(DEMO_SHOPS):
        rng = random.Random(f"{seed}:{shop['app_key']}")
        orders = _orders(rng, index, VENDER_IDS[index], now_s)
        free_lines = {(o["orderId"], x["skuId"]) for o in orders for x in o["itemInfoList"]}
        refunds = _refunds(rng, orders, REFUND_ID_START[index], now_s, free_lines)
        service_orders = _service_orders(rng, orders, SERVICE_ID_START[index], now_s, free_lines)
        for order in orders:
            del order["_buyer"], order["_paid"]
        result.append(
            {
                "shop": {**shop, "vender_id": VENDER_IDS[index]},
                "orders": orders,
                "refunds": refunds,
                "service_orders": service_orders,
            }
        )
    return result
