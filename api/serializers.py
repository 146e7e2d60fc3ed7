"""What the API reads and writes. Field names are the back office's own (refund_no, tid, oid…);
amounts are decimal strings with two places; unknown fields are refused."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from orders.models import Order, OrderLine, OrderStatus, PayType, PromotionKind
from refund_slips.models import RefundSlip, RefundStrategy
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus
from returns.models import ReturnSlip
from sa_sync.models import AutoWritebackRun, WritebackJob, WritebackOutcome

MAX_BULK_ITEMS = 500
MAX_LINES_PER_ORDER = 200
MAX_WRITEBACK_SLIPS = 5000
MAX_AMOUNT = Decimal("9999999999.99")
MAX_QUANTITY = 2**31 - 1


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


class Amount(serializers.DecimalField):
    """A decimal string ("12.30"); a JSON number is refused (a float cannot hold cents exactly)."""

    default_error_messages = {"not_string": '金额须为字符串形式的小数，例如 "12.30"'}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 12)
        kwargs.setdefault("decimal_places", 2)
        kwargs.setdefault("min_value", Decimal("0"))
        kwargs.setdefault("max_value", MAX_AMOUNT)
        kwargs.setdefault("coerce_to_string", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_string")
        return super().to_internal_value(data)


def text(max_length: int, label: str, **kwargs):
    kwargs.setdefault("required", False)
    kwargs.setdefault("allow_blank", True)
    kwargs.setdefault("default", "")
    return serializers.CharField(max_length=max_length, help_text=label, trim_whitespace=False, **kwargs)


def ident(max_length: int, label: str, **kwargs):
    return serializers.CharField(max_length=max_length, help_text=label, **kwargs)


WHITESPACE = re.compile(r"\s")


def no_whitespace(value: str) -> None:
    if WHITESPACE.search(value):
        # Refused, not stripped: "9000012345\n" is not JD's 9000012345, and quietly fixing one
        # copy-paste slip would hide the next one that a strip cannot fix.
        raise serializers.ValidationError(
            "不能含有空格、换行等空白字符（平台单号中没有空白，请检查是否多复制了字符）"
        )


def platform_id(max_length: int, label: str, **kwargs):
    """A platform's id in a push (refund_no, tid, oid…): kept exactly as sent, whitespace refused."""
    validators = [no_whitespace, *kwargs.pop("validators", [])]
    return serializers.CharField(
        max_length=max_length, help_text=label, trim_whitespace=False, validators=validators, **kwargs
    )


class PlatformModified(serializers.DateTimeField):
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
            raise serializers.ValidationError(
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
    refund_type = serializers.ChoiceField(
        choices=RefundType.choices, help_text="退款类型：1 退款，2 退货，3 换货，4 退款不退货"
    )
    platform_status = serializers.ChoiceField(
        choices=PlatformStatus.choices,
        help_text="平台状态：1 取消退款，2 申请退款，3 等待退货，4 等待收货，5 退款成功，7 卖家拒绝退款",
    )
    platform_status_code = serializers.RegexField(
        r"^\d{0,8}$",
        required=False,
        allow_blank=True,
        help_text="京东退款申请状态码（可选）；不提供时保留系统中已有的值",
    )
    reason = text(128, "退款原因")
    description = text(2000, "买家描述")
    refund_amount = Amount(help_text="退款金额（元，字符串，两位小数）")
    num = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1, help_text="退款数量")
    buyer_nick = text(128, "买家账号")
    apply_time = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="申请时间"
    )
    check_time = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="平台审核时间"
    )
    modified = PlatformModified(
        help_text="平台更新时间：更新的版本覆盖旧的，更旧的版本被忽略；不能晚于当前时间（允许几分钟误差）"
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
            "id",
            "shop_no",
            "refund_no",
            "tid",
            "oid",
            "order_id",
            "order_line_id",
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
    num = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1, help_text="数量")
    price = Amount(required=False, default=Decimal("0.00"), help_text="单价")
    discount = Amount(required=False, default=Decimal("0.00"), help_text="优惠分摊")
    paid = Amount(required=False, default=Decimal("0.00"), help_text="实付分摊")


class OrderPromotionIn(StrictMixin, serializers.Serializer):
    promotion_no = platform_id(64, "平台优惠编号", required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(
        choices=PromotionKind.choices, default=PromotionKind.FULL_REDUCTION, help_text="优惠类型"
    )
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
    status = serializers.ChoiceField(
        choices=OrderStatus.choices,
        default=OrderStatus.AWAITING_CS_REVIEW,
        help_text="订单状态（旺店通编码）：5 已取消，10 待付款，30 待客审，35 待财审，55 仓库处理中，95 已发货，110 已完成；已有订单只前进不后退",
    )
    pay_type = serializers.ChoiceField(choices=PayType.choices, default=PayType.ONLINE, help_text="支付方式")
    platform_status = text(64, "平台订单状态（文字）")
    buyer_nick = text(128, "买家账号")
    receiver_name = text(64, "收件人")
    receiver_mobile = text(32, "收件人手机")
    receiver_address = text(255, "收件地址")
    goods_amount = Amount(required=False, default=Decimal("0.00"), help_text="货品总额")
    discount = Amount(required=False, default=Decimal("0.00"), help_text="优惠")
    post_amount = Amount(required=False, default=Decimal("0.00"), help_text="运费")
    paid = Amount(required=False, default=Decimal("0.00"), help_text="实付金额")
    trade_time = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="下单时间"
    )
    pay_time = serializers.DateTimeField(required=False, allow_null=True, default=None, help_text="付款时间")
    modified = PlatformModified(
        help_text="平台更新时间：更新的版本覆盖旧的，更旧的版本被忽略；不能晚于当前时间（允许几分钟误差）"
    )
    lines = OrderLineIn(many=True, max_length=MAX_LINES_PER_ORDER, default=list, help_text="子订单")
    promotions = OrderPromotionIn(
        many=True,
        required=False,
        max_length=50,
        help_text="订单级优惠（满减等），部分退款时据此计算可退金额；提供时整体替换已有优惠，不提供则保持不变",
    )

    def validate(self, data):
        oids = {line["oid"] for line in data["lines"]}
        for position, promotion in enumerate(data.get("promotions") or []):
            unknown = [oid for oid in promotion["oids"] if oid not in oids]
            if unknown:
                raise serializers.ValidationError(
                    {f"promotions.{position}.oids": [f"子订单 {'、'.join(unknown)} 不在本订单的 lines 中"]}
                )
        return data

    def validate_lines(self, lines):
        seen = set()
        for line in lines:
            if line["oid"] in seen:
                raise serializers.ValidationError(f"原始子单号 {line['oid']} 在同一订单中重复")
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
            "id",
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
            "id",
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
class PushItemResult(serializers.Serializer):
    index = serializers.IntegerField(help_text="在请求 items 中的位置（从 0 开始）")
    key = serializers.CharField(help_text="refund_no 或 tid")
    id = serializers.IntegerField(allow_null=True, help_text="系统内编号")
    result = serializers.ChoiceField(
        choices=[
            ("created", "新建"),
            ("updated", "已更新"),
            ("unchanged", "无变化"),
            ("ignored_older", "已忽略（版本更旧）"),
        ]
    )
    message = serializers.CharField(help_text="说明")


class PushResult(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    ignored_older = serializers.IntegerField()
    results = PushItemResult(many=True)


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
    id = serializers.IntegerField(allow_null=True)
    outcome = serializers.ChoiceField(choices=WritebackOutcome.choices)
    outcome_label = serializers.CharField()
    message = serializers.CharField(help_text="与后台右键“退款回传”相同的说明")


class WritebackOut(serializers.Serializer):
    succeeded = serializers.IntegerField()
    results = WritebackItemResult(many=True)


class WritebackJobOut(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")
    url = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()

    class Meta:
        model = WritebackJob
        fields = [
            "id",
            "status",
            "status_label",
            "total",
            "done",
            "succeeded",
            "failed",
            "created_at",
            "finished_at",
            "url",
            "results",
        ]
        read_only_fields = fields

    def get_url(self, job) -> str:
        return f"/api/v1/writeback-jobs/{job.pk}/"

    @extend_schema_field(WritebackItemResult(many=True))
    def get_results(self, job):
        attempts = job.attempts.select_related("slip").order_by("pk") if job.pk else []
        return [
            {
                "refund_no": a.slip.refund_no,
                "id": a.slip_id,
                "outcome": a.outcome,
                "outcome_label": a.get_outcome_display(),
                "message": a.message,
            }
            for a in attempts
        ]


class WritebackAccepted(serializers.Serializer):
    message = serializers.CharField()
    job = WritebackJobOut()


# --- return slips ------------------------------------------------------------------------------
class ReturnLineIn(StrictMixin, serializers.Serializer):
    oid = ident(96, "原始子单号")
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, help_text="退货数量")


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
    refund_no = ident(64, "按原始退款单（退货类型）建单：平台退款单号", required=False)
    quantity = serializers.IntegerField(
        min_value=1, max_value=MAX_QUANTITY, required=False, help_text="按退款单建时的数量，默认剩余可退数量"
    )
    tid = ident(64, "手工建单：平台订单号", required=False)
    lines = ReturnLineIn(
        many=True, required=False, max_length=MAX_LINES_PER_ORDER, help_text="手工建单的子订单及数量"
    )
    logistics_company = text(64, "物流公司")
    logistics_no = text(64, "买家退回的物流单号")
    remark = text(300, "备注")
    approve = serializers.BooleanField(default=False, help_text="创建后直接审核通过（待入库）")

    def validate(self, data):
        if bool(data.get("refund_no")) == bool(data.get("tid")):
            raise serializers.ValidationError("refund_no（按原始退款单）与 tid（手工建单）须且只能填写一个")
        if data.get("tid") and not data.get("lines"):
            raise serializers.ValidationError({"lines": ["手工建单须填写子订单及数量"]})
        if data.get("refund_no") and data.get("lines"):
            raise serializers.ValidationError({"lines": ["按原始退款单建单时不填写 lines"]})
        return data


class ReturnLineOut(serializers.Serializer):
    id = serializers.IntegerField()
    oid = serializers.CharField()
    goods_name = serializers.CharField()
    quantity = serializers.IntegerField()
    good_quantity = serializers.IntegerField(allow_null=True)
    damaged_quantity = serializers.IntegerField(allow_null=True)


class ReturnSlipOut(serializers.ModelSerializer):
    number = serializers.CharField()
    status_label = serializers.CharField(source="get_status_display")
    tid = serializers.CharField(source="order.tid")
    refund_no = serializers.CharField(source="raw_refund.refund_no", allow_null=True, default=None)
    lines = serializers.SerializerMethodField()
    inbound_audited = serializers.SerializerMethodField()

    class Meta:
        model = ReturnSlip
        fields = [
            "id",
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
                    "id": line.pk,
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
    good_quantity = serializers.IntegerField(
        min_value=0, max_value=MAX_QUANTITY, default=0, help_text="良品数量"
    )
    damaged_quantity = serializers.IntegerField(
        min_value=0, max_value=MAX_QUANTITY, default=0, help_text="残次数量"
    )


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
        many=True, min_length=1, max_length=MAX_LINES_PER_ORDER, help_text="实收数量；未列出的明细按 0 计"
    )
    audit = serializers.BooleanField(
        default=False, help_text="登记后立即入库审核（实收与申请不符时转客服确认）"
    )


class InboundOut(serializers.Serializer):
    return_slip = ReturnSlipOut()
    audited = serializers.BooleanField(help_text="本次是否做了入库审核")
    completed = serializers.BooleanField(help_text="入库完成（实收与申请一致）")
    message = serializers.CharField()
    writebacks = WritebackItemResult(many=True, help_text="审核后触发的退货入仓回传结果")


# --- auto-writeback runs -----------------------------------------------------------------------
class AutoWritebackRunOut(serializers.ModelSerializer):
    status_label = serializers.CharField(source="get_status_display")

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


class ErrorItem(serializers.Serializer):
    index = serializers.IntegerField(allow_null=True, help_text="批量请求中出错条目的位置；非批量为 null")
    field = serializers.CharField(help_text="出错字段（嵌套用点号，如 lines.0.num）；整条出错为空")
    message = serializers.CharField()


class ErrorOut(serializers.Serializer):
    code = serializers.CharField(
        help_text="validation_error / not_authenticated / not_found / throttled / payload_too_large …"
    )
    message = serializers.CharField()
    errors = ErrorItem(many=True)


WRITEBACK_STATUS_CHOICES = WritebackStatus.choices


# --- refund slips ------------------------------------------------------------------------------
REFUND_LINES_HELP = "退款的子订单及数量：{原始子单号: 数量}"


class RefundLinesField(serializers.DictField):
    """{原始子单号: 数量}: at most as many entries as an order may have lines."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) > MAX_LINES_PER_ORDER:
            raise serializers.ValidationError(f"最多 {MAX_LINES_PER_ORDER} 个子订单，本次 {len(value)} 个")
        return value


def refund_lines_field(**kwargs):
    return RefundLinesField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY),
        required=False,
        help_text=REFUND_LINES_HELP,
        **kwargs,
    )


class CompensationIn(StrictMixin, serializers.Serializer):
    amount = Amount(min_value=Decimal("0.01"), help_text="补偿金额（字符串形式的小数）")
    reason = ident(200, "补偿原因，例如：超时赔付")


@extend_schema_serializer(
    examples=[
        OpenApiExample("按原始退款单建", value={"raw_refund_no": "8000000001"}),
        OpenApiExample("按退货单建（入库完成）", value={"return_slip_id": 12}),
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
    raw_refund_no = ident(64, "按原始退款单建：平台退款单号", required=False)
    return_slip_id = serializers.IntegerField(
        min_value=1, max_value=MAX_QUANTITY, required=False, help_text="按退货单建（须入库完成）：退货单 id"
    )
    tid = ident(64, "手工建单：平台订单号", required=False)
    lines = refund_lines_field(allow_empty=False)
    whole_order = serializers.BooleanField(default=False, help_text="手工建单：整单退款")
    compensation = CompensationIn(required=False, help_text="手工建单：补偿（无退货商品的赔付）")
    reason = text(200, "退款原因")

    def validate(self, data):
        given = [k for k in ("raw_refund_no", "return_slip_id", "tid") if data.get(k) is not None]
        if len(given) != 1:
            raise serializers.ValidationError("raw_refund_no、return_slip_id、tid 须且只能填写一个")
        manual = ("lines", "compensation")
        if given[0] != "tid":
            extra = [k for k in manual if data.get(k) is not None] + (
                ["whole_order"] if data["whole_order"] else []
            )
            if extra:
                raise serializers.ValidationError({k: ["只有手工建单（tid）时填写"] for k in extra})
        elif data.get("lines") and data["whole_order"]:
            raise serializers.ValidationError({"whole_order": ["整单退款时不填写 lines"]})
        elif not data.get("lines") and not data["whole_order"] and data.get("compensation") is None:
            raise serializers.ValidationError({"lines": ["手工建单须填写子订单及数量、整单退款或补偿"]})
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
    number = serializers.CharField(help_text="退款单号")
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
            "id",
            "number",
            "status",
            "status_label",
            "source",
            "source_label",
            "tid",
            "raw_refund_no",
            "return_slip_id",
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
    lines = refund_lines_field(allow_empty=False)
    whole_order = serializers.BooleanField(default=False, help_text="整单退款")
    strategy = serializers.ChoiceField(
        choices=RefundStrategy.choices, required=False, help_text="优惠处理方式；不填按店铺设置"
    )

    def validate(self, data):
        if bool(data.get("lines")) == bool(data["whole_order"]):
            raise serializers.ValidationError("lines（部分退款）与 whole_order（整单）须且只能填写一个")
        return data


class RefundQuoteLineOut(serializers.Serializer):
    oid = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)


class RefundQuoteOut(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, coerce_to_string=True, help_text="可退金额（字符串形式的小数）"
    )
    strategy = serializers.ChoiceField(choices=RefundStrategy.choices)
    whole_order = serializers.BooleanField()
    steps = serializers.ListField(child=serializers.CharField(), help_text="计算过程（中文，每步一行）")
    text = serializers.CharField(help_text="计算过程全文")
    refusal = serializers.CharField(allow_null=True, help_text="不能退款时的原因；可退时为 null")
    lines = RefundQuoteLineOut(many=True, help_text="每个子订单的金额")
