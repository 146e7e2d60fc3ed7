"""The refund amount: a pure function (no database, no Django), so the slip page, the service and an
API quote all compute it the same way and it is tested on plain values.

Rules (docs/refund_slips.md):
- 货到付款 not yet paid: nothing to refund.
- The whole order before shipment: what the buyer paid, freight included. After shipment: the goods
  (what the buyer paid minus freight); freight only if CS adds it (an adjustment, not here).
- Part of an order: each line's paid amount (after its own item coupons) for the quantity refunded,
  then each order-level promotion covering a refunded line, by the shop's strategy:
  按比例分摊: the discount spread over the covered lines in proportion to their paid amounts, rounded
  to the cent so the shares add up exactly to the discount; the refund loses the line's share.
  重算优惠: if the covered goods left after this refund still meet the threshold, the full price is
  refunded; if not, the discount is deducted once (by the refund that breaks the threshold); if the
  refunded goods are worth less than the discount, they cannot be refunded alone.
Money is Decimal with two places throughout; nothing here ever touches a float.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
PROPORTIONAL = "proportional"
RECOMPUTE = "recompute"


def money(value) -> Decimal:
    if isinstance(value, float):
        raise TypeError("金额不能是浮点数")
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class QuoteLine:
    line_id: int
    oid: str
    name: str
    num: int
    paid: Decimal  # the line's paid amount for all `num` units, after its own item coupons


@dataclass(frozen=True)
class QuotePromotion:
    label: str  # e.g. 满减（满150.00减20.00）
    threshold: Decimal
    discount: Decimal
    line_ids: tuple[int, ...] = ()  # empty: every line of the order


@dataclass(frozen=True)
class QuoteOrder:
    paid: Decimal  # what the buyer paid for the order, freight included
    post_amount: Decimal
    lines: tuple[QuoteLine, ...]
    promotions: tuple[QuotePromotion, ...] = ()
    shipped: bool = False
    cod: bool = False
    cod_paid: bool = False  # 货到付款: the buyer paid the courier (order signed for)


@dataclass
class Quote:
    amount: Decimal
    steps: list[str]
    refusal: str | None = None
    whole_order: bool = False
    line_amounts: dict[int, Decimal] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n".join(self.steps)


def allocate(total: Decimal, weights: Mapping[int, Decimal]) -> dict[int, Decimal]:
    """`total` split over `weights` in proportion, in cents that add up exactly to `total`
    (largest remainder: the cents left after rounding down go to the largest fractions, ties to
    the first line)."""
    total = money(total)
    weight_sum = sum(weights.values(), ZERO)
    if not weights:
        return {}
    if weight_sum <= 0:
        # Nothing to weigh by: equal shares.
        weights = {key: Decimal(1) for key in weights}
        weight_sum = Decimal(len(weights))
    exact = {key: total * w / weight_sum for key, w in weights.items()}
    shares = {key: value.quantize(CENT, rounding=ROUND_DOWN) for key, value in exact.items()}
    left = int(((total - sum(shares.values(), ZERO)) / CENT).to_integral_value())
    order = sorted(weights, key=lambda key: (-(exact[key] - shares[key]), list(weights).index(key)))
    for key in order[:left]:
        shares[key] += CENT
    return shares


def _part(amount: Decimal, quantity: int, num: int) -> Decimal:
    return money(amount * quantity / num) if quantity != num else money(amount)


def quote_refund(
    order: QuoteOrder,
    requested: Mapping[int, int] | None,
    *,
    strategy: str,
    already_refunded: Mapping[int, int] | None = None,
) -> Quote:
    """The amount to refund for `requested` ({line id: quantity}; None = the whole order), with every
    step of the arithmetic in Chinese. `already_refunded` is what earlier after-sales of this order
    took back ({line id: quantity}); under 重算优惠 it decides whether the promotion still stands."""
    already = dict(already_refunded or {})
    if order.cod and not order.cod_paid:
        reason = "货到付款订单尚未付款（买家签收时付款），无需退款"
        return Quote(ZERO, [reason], refusal=reason)
    lines = {line.line_id: line for line in order.lines}
    if requested is None:
        requested = {line.line_id: line.num for line in order.lines}
    unknown = [line_id for line_id in requested if line_id not in lines]
    if unknown:
        return Quote(ZERO, [], refusal=f"子订单 {unknown} 不属于该订单")
    for line_id, quantity in requested.items():
        line = lines[line_id]
        left = line.num - already.get(line_id, 0)
        if quantity <= 0 or quantity > left:
            return Quote(
                ZERO,
                [],
                refusal=f"子订单 {line.oid}（{line.name}）：退款数量 {quantity} 不在 1–{max(left, 0)} 之内"
                f"（购买 {line.num}，已售后 {already.get(line_id, 0)}）",
            )
    whole = not any(already.values()) and all(requested.get(line.line_id) == line.num for line in order.lines)
    if whole:
        return _whole_order(order)
    return _partial(order, lines, requested, strategy, already)


def _whole_order(order: QuoteOrder) -> Quote:
    shares = _proportional_line_amounts(order)
    if not order.shipped:
        steps = [
            f"整单退款（未发货）：按订单实付金额退款 {money(order.paid)} 元（含运费 {money(order.post_amount)} 元）"
        ]
        return Quote(money(order.paid), steps, whole_order=True, line_amounts=shares)
    goods = money(order.paid - order.post_amount)
    steps = [
        f"整单退货（已发货）：订单实付 {money(order.paid)} 元 − 运费 {money(order.post_amount)} 元 = {goods} 元",
        "发货后运费不退；如需退运费，由客服在退款单上加上（运费调整）",
    ]
    return Quote(goods, steps, whole_order=True, line_amounts=shares)


def _proportional_line_amounts(order: QuoteOrder) -> dict[int, Decimal]:
    amounts = {line.line_id: money(line.paid) for line in order.lines}
    for promotion in order.promotions:
        covered = _covered(order, promotion)
        for line_id, share in allocate(promotion.discount, {i: amounts[i] for i in covered}).items():
            amounts[line_id] -= share
    return amounts


def _covered(order: QuoteOrder, promotion: QuotePromotion) -> list[int]:
    ids = [line.line_id for line in order.lines]
    return [i for i in ids if i in promotion.line_ids] if promotion.line_ids else ids


def _partial(order, lines, requested, strategy, already) -> Quote:
    steps = ["部分退款：按商品实付金额"]
    goods = {}
    for line_id, quantity in requested.items():
        line = lines[line_id]
        goods[line_id] = _part(line.paid, quantity, line.num)
        if quantity == line.num:
            steps.append(f"{line.name}（{line.oid}）×{quantity}：实付 {goods[line_id]} 元")
        else:
            steps.append(
                f"{line.name}（{line.oid}）×{quantity}：实付 {money(line.paid)} 元 × {quantity}/{line.num} = {goods[line_id]} 元"
            )
    amounts = dict(goods)
    refusal = None
    for promotion in order.promotions:
        covered = [i for i in _covered(order, promotion) if i in lines]
        refunded_here = [i for i in covered if i in requested]
        if not refunded_here:
            continue
        if strategy == RECOMPUTE:
            refusal = _recompute(
                promotion, covered, refunded_here, lines, requested, already, goods, amounts, steps
            )
            if refusal:
                break
        else:
            _proportional(promotion, covered, refunded_here, lines, requested, amounts, steps)
    if refusal:
        return Quote(ZERO, steps + [refusal], refusal=refusal)
    total = money(sum(amounts.values(), ZERO))
    if order.post_amount and order.shipped:
        steps.append(f"运费 {money(order.post_amount)} 元：部分退款不退运费（如需退，由客服加上）")
    steps.append(f"应退金额 = {total} 元")
    return Quote(total, steps, line_amounts=amounts)


def _proportional(promotion, covered, refunded_here, lines, requested, amounts, steps):
    weights = {i: money(lines[i].paid) for i in covered}
    shares = allocate(promotion.discount, weights)
    covered_total = money(sum(weights.values(), ZERO))
    steps.append(
        f"{promotion.label}：按比例分摊，优惠 {money(promotion.discount)} 元按参与商品实付 {covered_total} 元分摊"
        f"（{'，'.join(f'{lines[i].name} {shares[i]}' for i in covered)}）"
    )
    for line_id in refunded_here:
        line = lines[line_id]
        share = _part(shares[line_id], requested[line_id], line.num)
        amounts[line_id] -= share
        steps.append(f"{line.name}：扣除分摊优惠 {share} 元，退 {amounts[line_id]} 元")


def _recompute(promotion, covered, refunded_here, lines, requested, already, goods, amounts, steps):
    threshold, discount = money(promotion.threshold), money(promotion.discount)
    covered_total = money(sum((money(lines[i].paid) for i in covered), ZERO))
    earlier = money(
        sum((_part(lines[i].paid, already.get(i, 0), lines[i].num) for i in covered if already.get(i)), ZERO)
    )
    before = covered_total - earlier
    this = money(sum((goods[i] for i in refunded_here), ZERO))
    after = before - this
    names = "、".join(lines[i].name for i in refunded_here)
    condition = f"门槛 {threshold} 元" if threshold else "优惠"
    if earlier and not (before > 0 and before >= threshold):
        steps.append(
            f"{promotion.label}：重算优惠，之前的售后后剩余商品 {before} 元已不满足{condition}，"
            "优惠已在之前的退款中扣除，本次按原价退款"
        )
        return None
    if after > 0 and after >= threshold:
        steps.append(
            f"{promotion.label}：重算优惠，剩余商品 {after} 元 ≥ {condition}，仍享受优惠，按原价退款"
        )
        return None
    if this < discount:
        return (
            f"{promotion.label}：重算优惠，剩余商品 {after} 元不再满足{condition}，需扣除优惠 {discount} 元，"
            f"但退款商品（{names}）原金额 {this} 元小于优惠金额 {discount} 元，不能单独退此商品"
        )
    steps.append(
        f"{promotion.label}：重算优惠，剩余商品 {after} 元 < {condition}，不再满足优惠，"
        f"扣除优惠 {discount} 元：{this} − {discount} = {this - discount} 元"
    )
    # The deduction is spread over the refunded lines in proportion (so line amounts add up).
    for line_id, share in allocate(discount, {i: goods[i] for i in refunded_here}).items():
        amounts[line_id] -= share
    return None
