"""The refund amount (refund_slips.amounts): a pure function, tested on plain values.

The seed's examples: A 100, B 60, C 40 with 满150减20; A 60, B 40 with 满100减50."""

from decimal import Decimal

import pytest

from refund_slips.amounts import (
    PROPORTIONAL,
    RECOMPUTE,
    QuoteLine,
    QuoteOrder,
    QuotePromotion,
    allocate,
    quote_refund,
)

D = Decimal


def order(prices, promotion=None, *, freight="0", shipped=True, cod=False, cod_paid=False):
    lines = tuple(
        QuoteLine(line_id=i + 1, oid=f"T-{name}", name=name, num=1, paid=D(price))
        for i, (name, price) in enumerate(prices)
    )
    goods = sum((line.paid for line in lines), D("0"))
    promotions = ()
    if promotion:
        threshold, discount = promotion
        promotions = (QuotePromotion(f"满减（满{threshold}减{discount}）", D(threshold), D(discount)),)
        goods -= D(discount)
    return QuoteOrder(
        paid=goods + D(freight),
        post_amount=D(freight),
        lines=lines,
        promotions=promotions,
        shipped=shipped,
        cod=cod,
        cod_paid=cod_paid,
    )


ABC = [("A", "100.00"), ("B", "60.00"), ("C", "40.00")]


@pytest.mark.parametrize("line_id, expected", [(1, "90.00"), (2, "54.00"), (3, "36.00")])
def test_three_goods_one_full_reduction_proportional(line_id, expected):
    quote = quote_refund(order(ABC, ("150", "20")), {line_id: 1}, strategy=PROPORTIONAL)
    assert quote.refusal is None
    assert quote.amount == D(expected)
    assert "按比例分摊" in quote.text


@pytest.mark.parametrize(
    "line_id, expected, words",
    [
        (3, "40.00", "剩余商品 160.00 元 ≥ 门槛 150.00 元，仍享受优惠，按原价退款"),
        (2, "40.00", "扣除优惠 20.00 元：60.00 − 20.00 = 40.00 元"),
        (1, "80.00", "剩余商品 100.00 元 < 门槛 150.00 元"),
    ],
)
def test_three_goods_one_full_reduction_recompute(line_id, expected, words):
    quote = quote_refund(order(ABC, ("150", "20")), {line_id: 1}, strategy=RECOMPUTE)
    assert quote.refusal is None
    assert quote.amount == D(expected)
    assert words in quote.text


def test_two_goods_one_cannot_be_returned_alone_under_recompute():
    two = order([("A", "60.00"), ("B", "40.00")], ("100", "50"))
    a = quote_refund(two, {1: 1}, strategy=RECOMPUTE)
    assert a.amount == D("10.00") and a.refusal is None
    b = quote_refund(two, {2: 1}, strategy=RECOMPUTE)
    assert b.amount == D("0.00")
    assert "原金额 40.00 元小于优惠金额 50.00 元，不能单独退此商品" in b.refusal
    # Proportional: B may go back alone, with its share of the discount.
    assert quote_refund(two, {2: 1}, strategy=PROPORTIONAL).amount == D("20.00")
    assert quote_refund(two, {1: 1}, strategy=PROPORTIONAL).amount == D("30.00")


def test_recompute_deducts_once_the_refund_that_breaks_the_threshold():
    abc = order(ABC, ("150", "20"))
    # C went back first (full price, 160 still meet 150); now B: 100 left < 150, the discount goes.
    quote = quote_refund(abc, {2: 1}, strategy=RECOMPUTE, already_refunded={3: 1})
    assert quote.amount == D("40.00")
    # B went back first (deducted then); A now refunds its full price.
    later = quote_refund(abc, {1: 1}, strategy=RECOMPUTE, already_refunded={2: 1})
    assert later.amount == D("100.00")
    assert "优惠已在之前的退款中扣除" in later.text


def test_rounded_shares_add_up_exactly_to_the_discount():
    shares = allocate(D("10.00"), {1: D("10.00"), 2: D("10.00"), 3: D("10.00")})
    assert shares == {1: D("3.34"), 2: D("3.33"), 3: D("3.33")}
    assert sum(shares.values()) == D("10.00")
    shares = allocate(D("20.00"), {1: D("33.33"), 2: D("33.33"), 3: D("33.34")})
    assert sum(shares.values()) == D("20.00")
    three = order([("A", "10.00"), ("B", "10.00"), ("C", "10.00")], ("30", "10"))
    refunds = [quote_refund(three, {i: 1}, strategy=PROPORTIONAL).amount for i in (1, 2, 3)]
    assert refunds == [D("6.66"), D("6.67"), D("6.67")]
    assert sum(refunds) == three.paid


def test_whole_order_before_shipment_refunds_what_was_paid_freight_included():
    quote = quote_refund(order(ABC, ("150", "20"), freight="8.00", shipped=False), None, strategy=RECOMPUTE)
    assert quote.whole_order
    assert quote.amount == D("188.00")
    assert "含运费 8.00 元" in quote.text


def test_whole_order_after_shipment_keeps_the_freight():
    quote = quote_refund(order(ABC, ("150", "20"), freight="8.00"), {1: 1, 2: 1, 3: 1}, strategy=PROPORTIONAL)
    assert quote.whole_order
    assert quote.amount == D("180.00")
    assert "订单实付 188.00 元 − 运费 8.00 元 = 180.00 元" in quote.text


def test_cash_on_delivery_before_payment_refunds_nothing_and_after_payment_refunds():
    unpaid = quote_refund(order(ABC, freight="6.00", cod=True), {1: 1}, strategy=PROPORTIONAL)
    assert unpaid.amount == D("0.00")
    assert "货到付款订单尚未付款" in unpaid.refusal
    paid = quote_refund(order(ABC, freight="6.00", cod=True, cod_paid=True), {1: 1}, strategy=PROPORTIONAL)
    assert paid.refusal is None and paid.amount == D("100.00")


def test_partial_quantity_and_out_of_range_quantity():
    two_pairs = QuoteOrder(
        paid=D("99.99"),
        post_amount=D("0"),
        lines=(QuoteLine(line_id=1, oid="X", name="袜子", num=3, paid=D("99.99")),),
    )
    assert quote_refund(two_pairs, {1: 2}, strategy=PROPORTIONAL).amount == D("66.66")
    refused = quote_refund(two_pairs, {1: 2}, strategy=PROPORTIONAL, already_refunded={1: 2})
    assert "退款数量 2 不在 1–1 之内" in refused.refusal


def test_money_is_never_a_float():
    for value in (
        quote_refund(order(ABC, ("150", "20")), {1: 1}, strategy=RECOMPUTE).amount,
        *allocate(D("20"), {1: D("1"), 2: D("2")}).values(),
    ):
        assert isinstance(value, Decimal) and value.as_tuple().exponent == -2


# --- the keyword check (pure) ----------------------------------------------------------------------------
def test_keyword_lists_accept_full_width_commas_and_drop_blanks():
    from refund_slips.keywords import parse_keywords

    assert parse_keywords("换货，换一个, 换个、换码\n\n换货") == ["换货", "换一个", "换个", "换码"]


@pytest.mark.parametrize(
    "description, refund_type, expected",
    [
        ("鞋小了想换个大码", 2, "描述像换货（“换个”），类型为退货"),
        ("质量差，要退货", 3, "描述像退货（“退货”），类型为换货"),
        ("屏幕坏了，需要维修", 4, "描述像维修（“维修”），类型为退款不退货"),
        ("退货或者换个都行", 2, ""),  # its own type's words too: the buyer hesitates, not a wrong type
        ("发错颜色了", 2, ""),  # nothing recognised
        ("", 3, ""),
    ],
)
def test_keyword_warning(description, refund_type, expected):
    from refund_slips.keywords import keyword_warning

    keywords = {"退货": ["退货", "退钱"], "换货": ["换货", "换个"], "维修": ["维修"]}
    assert keyword_warning(description, refund_type, keywords) == expected
