"""What the API reads and writes. Field names are the back office's own (refund_no, tid, oid…);
amounts are decimal strings with two places; unknown fields are refused.

Every input field takes exactly the JSON type its schema names (a string for a string, an integer for
an integer, true/false for a boolean) and every pattern the schema shows is the one checked here: what
the schema lets through, the API accepts, and the other way round. Two kinds of refusal follow:
- the request does not match the schema (type, length, pattern, enum, unknown field): 400;
- it matches, but the data breaks a rule the schema cannot say (a `modified` in the future, a
  refund_no that the shop does not have, two ways of creating a slip at once): 422, raised with
  `rule(...)` (ErrorDetail code "rule"). api/errors.py tells them apart."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import RegexValidator
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from orders.models import Order, OrderLine, OrderStatus, PayType, PromotionKind
from refund_slips.models import RefundSlip, RefundSlipStatus, RefundSource, RefundStrategy
from refunds.models import PlatformObject, PlatformStatus, RawRefund, RefundType, WritebackStatus
from returns.models import ReturnSlip, ReturnStatus
from sa_sync.models import AutoWritebackRun, WritebackJob, WritebackOutcome

from .errors import RULE, ErrorCode
from .filters import RETURN_SLIP_NUMBER

MAX_BULK_ITEMS = 500
MAX_LINES_PER_ORDER = 200
MAX_WRITEBACK_SLIPS = 5000
MAX_AMOUNT = Decimal("9999999999.99")
MAX_QUANTITY = 2**31 - 1

# Exactly the characters str.strip() and str.isspace() treat as white space (all below U+3001), named
# one by one: Python's and the schema validators' `\s` differ at the edges (U+001C–U+001F, U+FEFF).
# Written as \uXXXX escapes, which every regex dialect reads alike and generators can quote.
WHITESPACE = "".join(f"\\u{ord(ch):04x}" for ch in map(chr, range(0x3001)) if ch.isspace())
NO_WHITESPACE = f"^[^{WHITESPACE}]+$"
NOT_BLANK = f"[^{WHITESPACE}]"
AMOUNT_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
AMOUNT_RE = re.compile(AMOUNT_PATTERN)


def rule(message, code=RULE) -> serializers.ValidationError:
    """A refusal the schema cannot express: answered 422 (api/errors.py), not 400."""
    return serializers.ValidationError(message, code=code)


class Pattern(RegexValidator):
    """A pattern checked as JSON Schema checks it: anchored ones against the whole value (Python's `$`
    also matches before a final newline, a schema validator's does not), others anywhere in it."""

    def __call__(self, value):
        text = str(value)
        found = self.regex.fullmatch(text) if self.regex.pattern.startswith("^") else self.regex.search(text)
        if not found:
            raise serializers.ValidationError(self.message, code=self.code)


class StrictMixin:
    """Unknown fields are an error, not silently dropped: a typo must not lose data."""

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {name: ["未知字段"] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            raise serializers.ValidationError({**detail, **errors}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


# --- fields that take their schema's JSON type only ----------------------------------------------
class Str(serializers.CharField):
    default_error_messages = {"not_string": "须为字符串"}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_string")
        return super().to_internal_value(data)


class Int(serializers.IntegerField):
    """A JSON integer (1.0 is one, as JSON Schema counts it); "1" and true are not."""

    default_error_messages = {"not_integer": "须为整数"}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not (
            isinstance(data, int) or (isinstance(data, float) and data.is_integer())
        ):
            self.fail("not_integer")
        return super().to_internal_value(int(data))


class Bool(serializers.BooleanField):
    default_error_messages = {"not_boolean": "须为 true 或 false"}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("not_boolean")
        return data


class Choice(serializers.ChoiceField):
    """One of the enum's values, in the enum's JSON type: 1 for an integer enum, never "1"."""

    def to_internal_value(self, data):
        numeric = all(isinstance(key, int) for key in self.choices)
        if numeric:
            if isinstance(data, bool) or not (
                isinstance(data, int) or (isinstance(data, float) and data.is_integer())
            ):
                self.fail("invalid_choice", input=data)
            data = int(data)
        elif not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class Moment(serializers.DateTimeField):
    default_error_messages = {"not_string": "须为 ISO 8601 时间字符串，例如 2026-11-28T10:00:00+08:00"}

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("not_string")
        return super().to_internal_value(value)


class Amount(serializers.DecimalField):
    """A decimal string ("12.30"); a JSON number is refused (a float cannot hold cents exactly). The
    pattern is the schema's: digits, at most two decimals, no sign, no exponent, no spaces."""

    default_error_messages = {
        "not_string": '金额须为字符串形式的小数，例如 "12.30"',
        "not_amount": '金额须为不带符号的小数，最多 10 位整数、2 位小数，例如 "12.30"',
        "below": "金额不能小于 {minimum}",
    }

    def __init__(self, *, minimum=Decimal("0"), **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("coerce_to_string", True)
        self.minimum = minimum
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_string")
        if not AMOUNT_RE.fullmatch(data):
            self.fail("not_amount")
        value = super().to_internal_value(data)
        if value < self.minimum:
            # The schema's pattern admits 0; a minimum above it is the field's own rule.
            raise rule(self.error_messages["below"].format(minimum=self.minimum))
        return value


def text(max_length: int, label: str, **kwargs):
    """Free text: may be empty, kept exactly as sent."""
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    kwargs.setdefault("default", "")
    return Str(max_length=max_length, help_text=label, trim_whitespace=False, **kwargs)


def ident(max_length: int, label: str, **kwargs):
    """A required name or number read from the caller (surrounding white space is trimmed): it must
    hold something other than white space."""
    validators = [Pattern(NOT_BLANK, "不能为空或只有空白字符", code="blank"), *kwargs.pop("validators", [])]
    return Str(max_length=max_length, help_text=label, validators=validators, **kwargs)


def no_whitespace() -> Pattern:
    # Refused, not stripped: "9000012345\n" is not JD's 9000012345, and quietly fixing one copy-paste
    # slip would hide the next one that a strip cannot fix.
    return Pattern(
        NO_WHITESPACE,
        "不能含有空格、换行等空白字符（平台单号中没有空白，请检查是否多复制了字符）",
        code="whitespace",
    )


def platform_id(max_length: int, label: str, **kwargs):
    """A platform's id in a push (refund_no, tid, oid…): kept exactly as sent, whitespace refused."""
    validators = [no_whitespace(), *kwargs.pop("validators", [])]
    return Str(max_length=max_length, help_text=label, trim_whitespace=False, validators=validators, **kwargs)


class PlatformModified(Moment):
    """The platform's `modified`: newer wins, so one from the future would win every later push. A
    little ahead is a clock difference (PLATFORM_CLOCK_TOLERANCE_SECONDS); more is refused."""

    def to_internal_value(self, value):
        value = super().to_internal_value(value)
        tolerance = settings.PLATFORM_CLOCK_TOLERANCE_SECONDS
        latest = timezone.now() + timedelta(seconds=tolerance)
        if value > latest:
            try:
                received = f"{timezone.localtime(value):%Y-%m-%d %H:%M:%S}"
            except OverflowError:  # 9999-12-31T23:00Z has no local (+08:00) time
                received = value.isoformat()
            raise rule(
                f"不能晚于当前时间（允许 {tolerance} 秒误差）：收到 {received}，"
                f"现在是 {timezone.localtime():%Y-%m-%d %H:%M:%S}；请检查推送方的时钟或时区"
            )
        return value


# --- raw refund slips --------------------------------------------------------------------------
RAW_REFUND_EXAMPLE = {
    "refund_no": "9000012345",
    "tid": "3000012345",
    "oid": "3000012345-100001",
    "refund_type": 1,
    "platform_status": 2,
    "reason": "不想要了",
    "refund_amount": "158.00",
    "num": 1,
    "buyer_nick": "jd_buyer01",
    "apply_time": "2026-11-28T10:00:00+08:00",
    "modified": "2026-11-28T10:05:00+08:00",
}


class RawRefundIn(StrictMixin, serializers.Serializer):
    refund_no = platform_id(64, "平台退款单号（店铺内唯一）")
    tid = platform_id(64, "平台订单号")
    oid = platform_id(96, "原始子单号（京东为 订单号-SKU）", required=False, allow_blank=True, default="")
    refund_type = Choice(
        choices=RefundType.choices, help_text="退款类型：1 退款，2 退货，3 换货，4 退款不退货，5 维修，6 补发"
    )
    platform_status = Choice(
        choices=PlatformStatus.choices,
        help_text="平台状态：1 取消退款，2 申请退款，3 等待退货，4 等待收货，5 退款成功，7 卖家拒绝退款，8 售后完成",
    )
    # Which of the platform's after-sales objects the slip is: the writeback goes to that object
    # (JD: a refund application's updateWarehouseStatus, a service order's 收货登记).
    platform_object = Choice(
        choices=PlatformObject.choices,
        required=False,
        help_text="平台售后对象（可选）：refund_apply 退款申请单（京东确认收货前的退款），service_order "
        "服务单（确认收货后的退货、换货、维修、补发）；新单不提供时为 refund_apply，已有的单保留原值",
    )
    platform_status_code = Str(
        max_length=8,
        required=False,
        allow_blank=True,
        validators=[Pattern(r"^[0-9]+$", "须为数字", code="invalid")],
        help_text="京东退款申请状态码（可选）；不提供时保留系统中已有的值",
    )
    reason = text(128, "退款原因")
    description = text(2000, "买家描述")
    refund_amount = Amount(help_text="退款金额（元，字符串，两位小数）")
    num = Int(min_value=1, max_value=MAX_QUANTITY, default=1, help_text="退款数量")
    buyer_nick = text(128, "买家账号")
    apply_time = Moment(required=False, allow_null=True, default=None, help_text="申请时间")
    check_time = Moment(required=False, allow_null=True, default=None, help_text="平台审核时间")
    modified = PlatformModified(
        help_text="平台更新时间：更新的版本覆盖旧的，更旧的版本被忽略；不能晚于当前时间（允许几分钟误差，否则 422）"
    )


@extend_schema_serializer(examples=[OpenApiExample("推送两条退款单", value={"items": [RAW_REFUND_EXAMPLE]})])
class RawRefundBulkIn(StrictMixin, serializers.Serializer):
    items = RawRefundIn(many=True, min_length=1, max_length=MAX_BULK_ITEMS, help_text="最多 500 条")


class RawRefundOut(serializers.ModelSerializer):
    shop_no = serializers.CharField(source="shop.shop_no", read_only=True, help_text="店铺编号")
    refund_amount = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    modified = serializers.DateTimeField(source="platform_modified", allow_null=True)
    refund_type_label = serializers.CharField(source="get_refund_type_display", help_text="退款类型（中文）")
    platform_status_label = serializers.CharField(source="get_platform_status_display")
    writeback_status_label = serializers.CharField(source="get_writeback_status_display")

    class Meta:
        model = RawRefund
        fields = [
            "shop_no",
            "refund_no",
            "tid",
            "oid",
            "refund_type",
            "refund_type_label",
            "platform_status",
            "platform_status_label",
            "platform_status_code",
            "reason",
            "description",
            "refund_amount",
            "num",
            "buyer_nick",
            "apply_time",
            "check_time",
            "modified",
            "attention",
            "inbound_num",
            "writeback_status",
            "writeback_status_label",
            "writeback_message",
            "writeback_attempts",
            "last_writeback_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- orders ------------------------------------------------------------------------------------
class OrderLineIn(StrictMixin, serializers.Serializer):
    oid = platform_id(96, "原始子单号（店铺内唯一）")
    goods_no = text(64, "货品编号")
    spec_no = text(64, "规格编号(SKU)")
    goods_name = ident(255, "货品名称")
    spec_name = text(128, "规格名称")
    num = Int(min_value=1, max_value=MAX_QUANTITY, default=1, help_text="数量")
    price = Amount(required=False, default=Decimal("0.00"), help_text="单价")
    discount = Amount(required=False, default=Decimal("0.00"), help_text="优惠分摊")
    paid = Amount(required=False, default=Decimal("0.00"), help_text="实付分摊")


class OrderPromotionIn(StrictMixin, serializers.Serializer):
    promotion_no = platform_id(64, "平台优惠编号", required=False, allow_blank=True, default="")
    kind = Choice(choices=PromotionKind.choices, default=PromotionKind.FULL_REDUCTION, help_text="优惠类型")
    name = text(128, "优惠名称，例如 满150减20")
    threshold = Amount(required=False, default=Decimal("0.00"), help_text="门槛金额（满），无门槛填 0")
    discount = Amount(help_text="优惠金额（减）")
    oids = serializers.ListField(
        child=platform_id(96, "原始子单号"),
        default=list,
        max_length=MAX_LINES_PER_ORDER,
        help_text="参与优惠的原始子单号；空表示整单所有子订单",
    )


ORDER_EXAMPLE = {
    "tid": "3000012345",
    "status": 30,
    "pay_type": "online",
    "buyer_nick": "jd_buyer01",
    "goods_amount": "158.00",
    "paid": "158.00",
    "trade_time": "2026-11-28T09:00:00+08:00",
    "modified": "2026-11-28T09:05:00+08:00",
    "lines": [
        {
            "oid": "3000012345-100001",
            "goods_name": "跑步鞋 42码",
            "num": 1,
            "price": "158.00",
            "paid": "158.00",
        }
    ],
    "promotions": [
        {
            "kind": "full_reduction",
            "name": "满150减20",
            "threshold": "150.00",
            "discount": "20.00",
            "oids": [],
        }
    ],
}


class OrderIn(StrictMixin, serializers.Serializer):
    tid = platform_id(64, "平台订单号（店铺内唯一）")
    status = Choice(
        choices=OrderStatus.choices,
        default=OrderStatus.AWAITING_CS_REVIEW,
        help_text="订单状态（旺店通编码）：5 已取消，10 待付款，30 待客审，35 待财审，55 仓库处理中，95 已发货，110 已完成；已有订单只前进不后退",
    )
    pay_type = Choice(choices=PayType.choices, default=PayType.ONLINE, help_text="支付方式")
    platform_status = text(64, "平台订单状态（文字）")
    buyer_nick = text(128, "买家账号")
    receiver_name = text(64, "收件人")
    receiver_mobile = text(32, "收件人手机")
    receiver_address = text(255, "收件地址")
    goods_amount = Amount(required=False, default=Decimal("0.00"), help_text="货品总额")
    discount = Amount(required=False, default=Decimal("0.00"), help_text="优惠")
    post_amount = Amount(required=False, default=Decimal("0.00"), help_text="运费")
    paid = Amount(required=False, default=Decimal("0.00"), help_text="实付金额")
    trade_time = Moment(required=False, allow_null=True, default=None, help_text="下单时间")
    pay_time = Moment(required=False, allow_null=True, default=None, help_text="付款时间")
    modified = PlatformModified(
        help_text="平台更新时间：更新的版本覆盖旧的，更旧的版本被忽略；不能晚于当前时间（允许几分钟误差，否则 422）"
    )
    lines = OrderLineIn(
        many=True,
        max_length=MAX_LINES_PER_ORDER,
        default=list,
        help_text="子订单；同一订单中 oid 不能重复（否则 422）",
    )
    promotions = OrderPromotionIn(
        many=True,
        required=False,
        max_length=50,
        help_text="订单级优惠（满减等），部分退款时据此计算可退金额；提供时整体替换已有优惠，不提供则保持不变；"
        "oids 须是本订单 lines 中的子订单（否则 422）",
    )

    def validate(self, data):
        oids = {line["oid"] for line in data["lines"]}
        for position, promotion in enumerate(data.get("promotions") or []):
            unknown = [oid for oid in promotion["oids"] if oid not in oids]
            if unknown:
                raise rule(
                    {f"promotions.{position}.oids": [f"子订单 {'、'.join(unknown)} 不在本订单的 lines 中"]}
                )
        return data

    def validate_lines(self, lines):
        seen = set()
        for line in lines:
            if line["oid"] in seen:
                raise rule(f"原始子单号 {line['oid']} 在同一订单中重复")
            seen.add(line["oid"])
        return lines


@extend_schema_serializer(examples=[OpenApiExample("推送一张订单", value={"items": [ORDER_EXAMPLE]})])
class OrderBulkIn(StrictMixin, serializers.Serializer):
    items = OrderIn(many=True, min_length=1, max_length=MAX_BULK_ITEMS, help_text="最多 500 条")


class OrderLineOut(serializers.ModelSerializer):
    interception_status_label = serializers.CharField(source="get_interception_status_display")

    class Meta:
        model = OrderLine
        fields = [
            "oid",
            "goods_no",
            "spec_no",
            "goods_name",
            "spec_name",
            "num",
            "price",
            "discount",
            "paid",
            "is_cancelled",
            "interception_status",
            "interception_status_label",
        ]
        read_only_fields = fields


class OrderOut(serializers.ModelSerializer):
    shop_no = serializers.CharField(source="shop.shop_no", read_only=True)
    status_label = serializers.CharField(source="get_status_display")
    modified = serializers.DateTimeField(source="platform_modified", allow_null=True)
    lines = OrderLineOut(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "shop_no",
            "tid",
            "status",
            "status_label",
            "pay_type",
            "platform_status",
            "buyer_nick",
            "receiver_name",
            "receiver_mobile",
            "receiver_address",
            "goods_amount",
            "discount",
            "post_amount",
            "paid",
            "trade_time",
            "pay_time",
            "modified",
            "lines",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- bulk results ------------------------------------------------------------------------------
PUSH_RESULTS = [
    ("created", "新建"),
    ("updated", "已更新"),
    ("unchanged", "无变化"),
    ("ignored_older", "已忽略（版本更旧）"),
]


class PushItemResult(serializers.Serializer):
    index = serializers.IntegerField(help_text="在请求 items 中的位置（从 0 开始）")
    key = serializers.CharField(help_text="refund_no 或 tid")
    result = serializers.ChoiceField(choices=PUSH_RESULTS)
    message = serializers.CharField(help_text="说明")


class PushResult(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    ignored_older = serializers.IntegerField()
    results = PushItemResult(many=True)


def push_answer(counts: dict) -> dict:
    """The push services' summary as the API answers it: items are named by their key (refund_no or
    tid), the back office's row ids are not part of the API."""
    results = [{k: v for k, v in row.items() if k != "id"} for row in counts["results"]]
    return {**counts, "results": results}


# --- writeback ---------------------------------------------------------------------------------
@extend_schema_serializer(
    examples=[OpenApiExample("回传两条", value={"refund_nos": ["9000012345", "9000012346"]})]
)
class WritebackIn(StrictMixin, serializers.Serializer):
    refund_nos = serializers.ListField(
        child=ident(64, "平台退款单号"),
        min_length=1,
        max_length=MAX_WRITEBACK_SLIPS,
        help_text="要回传的平台退款单号（最多 5000 条；超过后台阈值时转为后台任务，返回 202）",
    )


class WritebackItemResult(serializers.Serializer):
    refund_no = serializers.CharField()
    outcome = serializers.ChoiceField(choices=WritebackOutcome.choices)
    outcome_label = serializers.CharField()
    message = serializers.CharField(help_text="与后台右键“退款回传”相同的说明")


class ReasonCount(serializers.Serializer):
    reason = serializers.CharField(help_text="未发送的原因（与每条结果的 message 相同）")
    count = serializers.IntegerField()


class WritebackCounts(serializers.Serializer):
    """Counts that add up: succeeded + refused + failed + unknown (+ pending, for a job) = total."""

    total = serializers.IntegerField(help_text="退款单数（去重后）")
    succeeded = serializers.IntegerField(help_text="回传成功")
    refused = serializers.IntegerField(help_text="未发送：不满足条件、已回传或回传中、退款单不存在")
    refused_by_reason = ReasonCount(many=True, help_text="未发送的条数，按原因，多的在前")
    failed = serializers.IntegerField(help_text="已发送，京东返回失败或调用失败（可重新回传）")
    unknown = serializers.IntegerField(help_text="没有得到结果（任务结束时仍无回传记录的退款单）")


def writeback_counts(results: list[dict], total: int, unknown: int = 0) -> dict:
    refused = [
        r["message"] for r in results if r["outcome"] in (WritebackOutcome.REFUSED, WritebackOutcome.SKIPPED)
    ]
    reasons: dict[str, int] = {}
    for message in refused:
        reasons[message] = reasons.get(message, 0) + 1
    return {
        "total": total,
        "succeeded": sum(r["outcome"] == WritebackOutcome.SUCCEEDED for r in results),
        "refused": len(refused),
        "refused_by_reason": [
            {"reason": reason, "count": count}
            for reason, count in sorted(reasons.items(), key=lambda pair: (-pair[1], pair[0]))
        ],
        "failed": sum(r["outcome"] == WritebackOutcome.FAILED for r in results),
        "unknown": unknown,
    }


class WritebackOut(WritebackCounts):
    results = WritebackItemResult(many=True)


def writeback_result(refund_no: str, outcome: str, message: str) -> dict:
    return {
        "refund_no": refund_no,
        "outcome": outcome,
        "outcome_label": WritebackOutcome(outcome).label,
        "message": message,
    }


class WritebackJobOut(WritebackCounts):
    """A background writeback: its counts come from the attempts it recorded, one per slip."""

    id = serializers.IntegerField(help_text="任务编号（轮询地址见 url）")
    status = serializers.ChoiceField(choices=WritebackJob.Status.choices)
    status_label = serializers.CharField()
    done = serializers.IntegerField(help_text="已有结果的条数：succeeded + refused + failed")
    pending = serializers.IntegerField(help_text="尚未处理的条数（任务进行中）")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(help_text="轮询本任务的地址")
    results = WritebackItemResult(many=True, help_text="已处理的每条退款单的结果")

    def to_representation(self, job):
        attempts = {}
        if job.pk:
            for attempt in job.attempts.select_related("slip").order_by("pk"):
                attempts[attempt.slip_id] = attempt  # the latest per slip
        results = [
            writeback_result(a.slip.refund_no, a.outcome, a.message)
            for _, a in sorted(attempts.items(), key=lambda pair: pair[1].pk)
        ]
        total = len(job.slip_ids) if job.slip_ids else job.total
        open_ = job.status != WritebackJob.Status.DONE
        missing = max(0, total - len(results))
        body = {
            "id": job.pk,
            "status": job.status,
            "status_label": job.get_status_display(),
            **writeback_counts(results, total, unknown=0 if open_ else missing),
            "done": len(results),
            "pending": missing if open_ else 0,
            "created_at": job.created_at,
            "finished_at": job.finished_at,
            "url": f"/api/v1/writeback-jobs/{job.pk}/",
            "results": results,
        }
        return super().to_representation(body)


class WritebackAccepted(serializers.Serializer):
    message = serializers.CharField()
    job = WritebackJobOut()


# --- return slips ------------------------------------------------------------------------------


class ReturnLineIn(StrictMixin, serializers.Serializer):
    oid = ident(96, "原始子单号")
    quantity = Int(min_value=1, max_value=MAX_QUANTITY, help_text="退货数量")


@extend_schema_serializer(
    examples=[
        OpenApiExample("按原始退款单建", value={"refund_no": "9000012345", "logistics_no": "SF0000000001"}),
        OpenApiExample(
            "按订单手工建",
            value={"tid": "3000012345", "lines": [{"oid": "3000012345-100001", "quantity": 1}]},
        ),
    ]
)
class ReturnSlipIn(StrictMixin, serializers.Serializer):
    """Either `refund_no` (from a 退货 raw refund slip) or `tid` with `lines` (by hand): giving both,
    neither, or lines without tid is a 422."""

    refund_no = ident(64, "按原始退款单（退货类型）建单：平台退款单号", required=False)
    quantity = Int(
        min_value=1, max_value=MAX_QUANTITY, required=False, help_text="按退款单建时的数量，默认剩余可退数量"
    )
    tid = ident(64, "手工建单：平台订单号", required=False)
    lines = ReturnLineIn(
        many=True, required=False, max_length=MAX_LINES_PER_ORDER, help_text="手工建单的子订单及数量"
    )
    logistics_company = text(64, "物流公司")
    logistics_no = text(64, "买家退回的物流单号")
    remark = text(300, "备注")
    approve = Bool(default=False, help_text="创建后直接审核通过（待入库）")

    def validate(self, data):
        if bool(data.get("refund_no")) == bool(data.get("tid")):
            raise rule("refund_no（按原始退款单）与 tid（手工建单）须且只能填写一个")
        if data.get("tid") and not data.get("lines"):
            raise rule({"lines": ["手工建单须填写子订单及数量"]})
        if data.get("refund_no") and data.get("lines") is not None:
            raise rule({"lines": ["按原始退款单建单时不填写 lines"]})
        if data.get("tid") and data.get("quantity") is not None:
            raise rule({"quantity": ["手工建单时数量写在 lines 中"]})
        return data


class ReturnLineOut(serializers.Serializer):
    oid = serializers.CharField()
    goods_name = serializers.CharField()
    quantity = serializers.IntegerField()
    good_quantity = serializers.IntegerField(allow_null=True)
    damaged_quantity = serializers.IntegerField(allow_null=True)


class ReturnSlipOut(serializers.ModelSerializer):
    number = serializers.CharField(help_text="退货单号（地址中用它：/api/v1/return-slips/{number}/）")
    status_label = serializers.CharField(source="get_status_display")
    tid = serializers.CharField(source="order.tid")
    refund_no = serializers.CharField(source="raw_refund.refund_no", allow_null=True, default=None)
    lines = serializers.SerializerMethodField()
    inbound_audited = serializers.SerializerMethodField()

    class Meta:
        model = ReturnSlip
        fields = [
            "number",
            "status",
            "status_label",
            "tid",
            "refund_no",
            "logistics_company",
            "logistics_no",
            "remark",
            "cs_message",
            "created_by_name",
            "approved_at",
            "created_at",
            "updated_at",
            "lines",
            "inbound_audited",
        ]
        read_only_fields = fields

    @extend_schema_field(ReturnLineOut(many=True))
    def get_lines(self, slip):
        received = {}
        inbound = getattr(slip, "inbound", None)
        if inbound is not None:
            received = {r.return_line_id: r for r in inbound.lines.all()}
        out = []
        for line in slip.lines.all():
            row = received.get(line.pk)
            out.append(
                {
                    "oid": line.order_line.oid,
                    "goods_name": line.order_line.goods_name,
                    "quantity": line.quantity,
                    "good_quantity": row.good_quantity if row else None,
                    "damaged_quantity": row.damaged_quantity if row else None,
                }
            )
        return out

    def get_inbound_audited(self, slip) -> bool:
        inbound = getattr(slip, "inbound", None)
        return bool(inbound and inbound.audited)


class InboundLineIn(StrictMixin, serializers.Serializer):
    oid = ident(96, "原始子单号（退货单明细）")
    good_quantity = Int(min_value=0, max_value=MAX_QUANTITY, default=0, help_text="良品数量")
    damaged_quantity = Int(min_value=0, max_value=MAX_QUANTITY, default=0, help_text="残次数量")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "登记并审核",
            value={
                "lines": [{"oid": "3000012345-100001", "good_quantity": 1, "damaged_quantity": 0}],
                "audit": True,
            },
        )
    ]
)
class InboundIn(StrictMixin, serializers.Serializer):
    lines = InboundLineIn(
        many=True,
        min_length=1,
        max_length=MAX_LINES_PER_ORDER,
        help_text="实收数量；未列出的明细按 0 计；oid 须是本退货单的明细且不重复（否则 422）",
    )
    audit = Bool(default=False, help_text="登记后立即入库审核（实收与申请不符时转客服确认）")


class InboundOut(serializers.Serializer):
    return_slip = ReturnSlipOut()
    audited = serializers.BooleanField(help_text="本次是否做了入库审核")
    completed = serializers.BooleanField(help_text="入库完成（实收与申请一致）")
    message = serializers.CharField()
    writebacks = WritebackItemResult(many=True, help_text="审核后触发的退货入仓回传结果")


# --- auto-writeback runs -----------------------------------------------------------------------
class RunFailureOut(serializers.Serializer):
    refund_no = serializers.CharField()
    message = serializers.CharField(help_text="京东返回或调用失败的说明")


class AutoWritebackRunOut(serializers.ModelSerializer):
    id = serializers.IntegerField(help_text="运行编号（地址中用它）")
    status_label = serializers.CharField(source="get_status_display")
    skipped = serializers.DictField(child=serializers.IntegerField(), help_text="未发送的条数，按原因")
    failures = serializers.SerializerMethodField()

    @extend_schema_field(RunFailureOut(many=True))
    def get_failures(self, run):
        # The run keeps its slips' row ids too: the API names them by refund_no only.
        return [
            {"refund_no": f.get("refund_no", ""), "message": f.get("message", "")} for f in run.failures or []
        ]

    class Meta:
        model = AutoWritebackRun
        fields = [
            "id",
            "status",
            "status_label",
            "started_at",
            "finished_at",
            "matched",
            "sent",
            "succeeded",
            "failed",
            "skipped",
            "failures",
            "note",
        ]
        read_only_fields = fields


# --- errors ------------------------------------------------------------------------------------
class ErrorItem(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="批量请求中出错条目的位置；非批量为 null")
    field = serializers.CharField(
        help_text="出错字段（嵌套用点号，如 lines.0.num；查询参数为其名称）；整条出错为空"
    )
    message = serializers.CharField()


class ErrorOut(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=ErrorCode.choices, help_text="错误类别；每个 HTTP 状态一个（见 docs/api.md 的错误表）"
    )
    message = serializers.CharField()
    errors = ErrorItem(many=True)


# --- refund slips ------------------------------------------------------------------------------
REFUND_LINES_HELP = "退款的子订单及数量：{原始子单号: 数量}；原始子单号须是该订单的子订单（否则 422）"


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
        "minProperties": 1,
        "maxProperties": MAX_LINES_PER_ORDER,
    }
)
class RefundLinesField(serializers.DictField):
    """{原始子单号: 数量}: at least one entry, at most as many as an order may have lines."""

    def __init__(self, **kwargs):
        super().__init__(child=Int(min_value=1, max_value=MAX_QUANTITY), **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, dict) and not data:
            self.fail("empty")
        if isinstance(data, dict) and len(data) > MAX_LINES_PER_ORDER:
            raise serializers.ValidationError(f"最多 {MAX_LINES_PER_ORDER} 个子订单，本次 {len(data)} 个")
        return super().to_internal_value(data)


def refund_lines_field(**kwargs):
    return RefundLinesField(required=False, help_text=REFUND_LINES_HELP, **kwargs)


class CompensationIn(StrictMixin, serializers.Serializer):
    amount = Amount(minimum=Decimal("0.01"), help_text="补偿金额（字符串形式的小数，至少 0.01，否则 422）")
    reason = ident(200, "补偿原因，例如：超时赔付")


@extend_schema_serializer(
    examples=[
        OpenApiExample("按原始退款单建", value={"raw_refund_no": "8000000001"}),
        OpenApiExample("按退货单建（入库完成）", value={"return_slip_number": "TH00000012"}),
        OpenApiExample(
            "手工：部分子订单", value={"tid": "3000000002", "lines": {"3000000002-2": 1}, "reason": "少件"}
        ),
        OpenApiExample("手工：整单", value={"tid": "3000000002", "whole_order": True}),
        OpenApiExample(
            "手工：超时赔付",
            value={"tid": "3000000002", "compensation": {"amount": "5.00", "reason": "超时赔付"}},
        ),
    ]
)
class RefundSlipIn(StrictMixin, serializers.Serializer):
    """Exactly one of raw_refund_no, return_slip_number and tid; by hand (tid) lines, whole_order
    and/or compensation. Another combination is a 422 naming the fields."""

    raw_refund_no = ident(64, "按原始退款单建：平台退款单号", required=False)
    return_slip_number = Str(
        required=False,
        validators=[Pattern(f"^{RETURN_SLIP_NUMBER}$", "退货单号格式为 TH 加 8 位以上数字", code="invalid")],
        help_text="按退货单建（须入库完成）：退货单号，例如 TH00000012",
    )
    tid = ident(64, "手工建单：平台订单号", required=False)
    lines = refund_lines_field()
    whole_order = Bool(default=False, help_text="手工建单：整单退款")
    compensation = CompensationIn(required=False, help_text="手工建单：补偿（无退货商品的赔付）")
    reason = text(200, "退款原因")

    def validate(self, data):
        given = [k for k in ("raw_refund_no", "return_slip_number", "tid") if data.get(k) is not None]
        if len(given) != 1:
            raise rule("raw_refund_no、return_slip_number、tid 须且只能填写一个")
        manual = ("lines", "compensation")
        if given[0] != "tid":
            extra = [k for k in manual if data.get(k) is not None] + (
                ["whole_order"] if data["whole_order"] else []
            )
            if extra:
                raise rule({k: ["只有手工建单（tid）时填写"] for k in extra})
        elif data.get("lines") and data["whole_order"]:
            raise rule({"whole_order": ["整单退款时不填写 lines"]})
        elif not data.get("lines") and not data["whole_order"] and data.get("compensation") is None:
            raise rule({"lines": ["手工建单须填写子订单及数量、整单退款或补偿"]})
        return data


class RefundSlipLineOut(serializers.Serializer):
    oid = serializers.CharField(help_text="原始子单号")
    goods_name = serializers.CharField()
    quantity = serializers.IntegerField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)


class RefundAdjustmentOut(serializers.Serializer):
    kind = serializers.CharField()
    kind_label = serializers.CharField(source="get_kind_display")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    reason = serializers.CharField()
    by_name = serializers.CharField()
    created_at = serializers.DateTimeField()


class RefundSlipOut(serializers.ModelSerializer):
    number = serializers.CharField(help_text="退款单号（地址中用它：/api/v1/refund-slips/{number}/）")
    status_label = serializers.CharField(source="get_status_display", help_text="状态（中文）")
    source_label = serializers.CharField(source="get_source_display", help_text="来源（中文）")
    strategy_label = serializers.CharField(source="get_strategy_display")
    tid = serializers.CharField(source="order.tid", help_text="平台订单号")
    raw_refund_no = serializers.CharField(
        source="raw_refund.refund_no", allow_null=True, default=None, help_text="原始退款单号"
    )
    return_slip_number = serializers.CharField(
        source="return_slip.number", allow_null=True, default=None, help_text="退货单号"
    )
    computed_amount = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, coerce_to_string=True, help_text="应退金额（计算金额加调整）"
    )
    platform_refund_amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, coerce_to_string=True, allow_null=True
    )
    follows_platform = serializers.BooleanField(
        help_text="对应京东退款申请：退款完成以京东“退款成功”为准，不能经接口确认"
    )
    awaiting_level2 = serializers.BooleanField(help_text="一级审核已通过，待二级审核")
    lines = serializers.SerializerMethodField()
    adjustments = RefundAdjustmentOut(many=True, read_only=True)

    class Meta:
        model = RefundSlip
        fields = [
            "number",
            "status",
            "status_label",
            "source",
            "source_label",
            "tid",
            "raw_refund_no",
            "return_slip_number",
            "reason",
            "whole_order",
            "strategy",
            "strategy_label",
            "computed_amount",
            "amount",
            "quote",
            "attention",
            "levels_required",
            "awaiting_level2",
            "level1_by_name",
            "level1_at",
            "level2_by_name",
            "level2_at",
            "follows_platform",
            "refunded_at",
            "refunded_by_name",
            "platform_refund_amount",
            "amount_difference",
            "created_by_name",
            "created_at",
            "updated_at",
            "lines",
            "adjustments",
        ]
        read_only_fields = fields

    @extend_schema_field(RefundSlipLineOut(many=True))
    def get_lines(self, slip):
        return [
            {
                "oid": line.order_line.oid,
                "goods_name": line.order_line.goods_name,
                "quantity": line.quantity,
                "amount": f"{line.amount:.2f}",
            }
            for line in slip.lines.all()
        ]


class ReviewOut(serializers.Serializer):
    message = serializers.CharField(help_text="审核结果说明（中文）")
    refund_slip = RefundSlipOut()


class RejectIn(StrictMixin, serializers.Serializer):
    reason = ident(200, "驳回原因（必填）")


class MarkRefundedIn(StrictMixin, serializers.Serializer):
    amount = Amount(required=False, allow_null=True, default=None, help_text="实退金额；与应退不同时标记差异")
    reason = text(200, "备注")


@extend_schema_serializer(
    examples=[
        OpenApiExample("部分退款试算", value={"lines": {"3000000002-0": 1}}),
        OpenApiExample("整单试算（重算优惠）", value={"whole_order": True, "strategy": "recompute"}),
    ]
)
class RefundQuoteIn(StrictMixin, serializers.Serializer):
    """lines (part of the order) or whole_order: true, one of the two (else 422)."""

    lines = refund_lines_field()
    whole_order = Bool(default=False, help_text="整单退款")
    strategy = Choice(
        choices=RefundStrategy.choices, required=False, help_text="优惠处理方式；不填按店铺设置"
    )

    def validate(self, data):
        if bool(data.get("lines")) == bool(data["whole_order"]):
            raise rule("lines（部分退款）与 whole_order（整单）须且只能填写一个")
        return data


class RefundQuoteLineOut(serializers.Serializer):
    oid = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)


class RefundQuoteOut(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, coerce_to_string=True, help_text="可退金额（字符串形式的小数）"
    )
    strategy = serializers.ChoiceField(choices=RefundStrategy.choices)
    whole_order = serializers.BooleanField(help_text="与请求相同：是否整单试算")
    steps = serializers.ListField(child=serializers.CharField(), help_text="计算过程（中文，每步一行）")
    text = serializers.CharField(help_text="计算过程全文")
    refusal = serializers.CharField(allow_null=True, help_text="不能退款时的原因；可退时为 null")
    lines = RefundQuoteLineOut(many=True, help_text="每个子订单的金额")


# --- webhook events (what a subscription receives; documented under x-webhooks) ----------------
RAW_REFUND_EVENT_TYPES = [
    ("raw_refund.changed", "原始退款单新建或变化"),
    ("raw_refund.writeback", "回传状态变化"),
]
RETURN_SLIP_EVENT_TYPES = [("return_slip.changed", "退货单新建或状态变化")]
REFUND_SLIP_EVENT_TYPES = [("refund_slip.changed", "退款单新建或状态变化")]

# "from" is a Python keyword: the class is built from a dict of its fields.
EventChange = type(
    "EventChange",
    (serializers.Serializer,),
    {
        "__doc__": "What changed: the 操作日志 entry behind the event.",
        "action": serializers.CharField(help_text="操作，例如 退款回传成功"),
        "field": serializers.CharField(help_text="变化的字段，例如 writeback_status；新建时为空"),
        "from": serializers.CharField(help_text="原状态（中文）"),
        "to": serializers.CharField(help_text="新状态（中文）"),
        "reason": serializers.CharField(help_text="原因或说明"),
        "actor": serializers.CharField(help_text="操作人：用户名、API：密钥名称或 系统：…"),
    },
)


class EventEnvelope(serializers.Serializer):
    id = serializers.IntegerField(help_text="事件编号：至少投递一次，用它去重")
    created_at = serializers.DateTimeField(help_text="事件写入时间（+08:00）")
    occurred_at = serializers.DateTimeField(help_text="变化发生时间（+08:00）")
    shop_no = serializers.CharField(help_text="店铺编号")
    change = EventChange()


class RawRefundEventData(serializers.Serializer):
    refund_no = serializers.CharField()
    tid = serializers.CharField()
    oid = serializers.CharField()
    refund_type = serializers.ChoiceField(choices=RefundType.choices)
    platform_status = serializers.ChoiceField(choices=PlatformStatus.choices)
    writeback_status = serializers.ChoiceField(choices=WritebackStatus.choices)
    writeback_message = serializers.CharField()
    inbound_num = serializers.IntegerField()
    refund_amount = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    modified = serializers.DateTimeField(allow_null=True, help_text="平台更新时间（+08:00）")


class RawRefundEvent(EventEnvelope):
    """Body of raw_refund.changed and raw_refund.writeback."""

    type = serializers.ChoiceField(choices=RAW_REFUND_EVENT_TYPES)
    data = RawRefundEventData()


class ReturnSlipEventData(serializers.Serializer):
    number = serializers.CharField(help_text="退货单号")
    status = serializers.ChoiceField(choices=ReturnStatus.choices)
    tid = serializers.CharField()
    refund_no = serializers.CharField(allow_null=True, help_text="原始退款单号；手工建的为 null")
    logistics_no = serializers.CharField()


class ReturnSlipEvent(EventEnvelope):
    """Body of return_slip.changed."""

    type = serializers.ChoiceField(choices=RETURN_SLIP_EVENT_TYPES)
    data = ReturnSlipEventData()


class RefundSlipEventData(serializers.Serializer):
    number = serializers.CharField(help_text="退款单号")
    status = serializers.ChoiceField(choices=RefundSlipStatus.choices)
    source = serializers.ChoiceField(choices=RefundSource.choices)
    tid = serializers.CharField()
    raw_refund_no = serializers.CharField(allow_null=True)
    return_slip_number = serializers.CharField(allow_null=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    level1_by_name = serializers.CharField()
    level2_by_name = serializers.CharField()
    attention = serializers.CharField()


class RefundSlipEvent(EventEnvelope):
    """Body of refund_slip.changed."""

    type = serializers.ChoiceField(choices=REFUND_SLIP_EVENT_TYPES)
    data = RefundSlipEventData()
