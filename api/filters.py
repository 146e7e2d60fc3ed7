"""List filters. A list of numbers takes both forms a client may send, in any mix: the parameter
repeated (refund_no=1&refund_no=2, what generated clients send) or comma-separated (refund_no=1,2).
Times are ISO 8601. Strict, like the bodies: an empty value, a single-valued filter given twice or a
boolean other than true/false is a 400 naming the parameter (an unknown parameter too:
api.views.ApiView), never silently ignored."""

import re
from datetime import UTC

import django_filters as filters
from django import forms
from django_filters.fields import IsoDateTimeField
from drf_spectacular.drainage import set_override

from orders.models import Order, OrderStatus
from refund_slips.models import RefundSlip, RefundSlipStatus, RefundSource
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus
from returns.models import ReturnSlip, ReturnStatus
from sa_sync.models import AutoWritebackRun

from .errors import RULE

LIST_HELP = "可重复此参数（{name}=a&{name}=b），每个值也可以是逗号分隔的多个（{name}=a,b）"
# One value of a list parameter as the schema states it: one or more non-empty parts, comma-separated.
KEYS_PATTERN = r"^[^,]+(,[^,]+)*$"
RETURN_SLIP_NUMBER = r"TH([0-9]{8}|[1-9][0-9]{8,})"
REFUND_SLIP_NUMBER = r"TK([0-9]{8}|[1-9][0-9]{8,})"


def list_of(part: str) -> str:
    return f"^{part}(,{part})*$"


class KeysField(forms.Field):
    """Every value of the parameter, each split on commas."""

    def __init__(self, *args, part=None, **kwargs):
        self.part = re.compile(part) if part else None
        super().__init__(*args, **kwargs)

    def clean(self, value):
        if value is None:
            return None
        if any(part == "" for part in value):
            raise forms.ValidationError("不能有空值（检查是否多了逗号）")
        if self.part is not None:
            bad = [part for part in value if not self.part.fullmatch(part)]
            if bad:
                raise forms.ValidationError(f"格式不正确：{'、'.join(bad[:5])}")
        return list(dict.fromkeys(value))


class KeysWidget(forms.TextInput):
    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else [data.get(name)]
        values = [v for v in values if v is not None]
        if not values:
            return None
        return [part for v in values for part in v.split(",")]


class Keys(filters.Filter):
    """`field_name__in` over every value given (see the module docstring). `part` is the pattern of
    one value (a slip number); the schema states it for each comma-separated value."""

    field_class = KeysField

    def __init__(self, *args, part=None, **kwargs):
        kwargs.setdefault("widget", KeysWidget)
        super().__init__(*args, part=part, **kwargs)
        # The schema: style form, explode true (OpenAPI's default for a query array), so the
        # parameter repeated; each value may itself be a comma list, which its pattern says.
        schema = {
            "type": "array",
            "items": {"type": "string", "pattern": list_of(part) if part else KEYS_PATTERN},
        }
        set_override(self, "field", {**schema, "description": kwargs.get("help_text", "")})

    def filter(self, qs, value):
        if value is None:
            return qs
        return qs.filter(**{f"{self.field_name}__in": self.prepare(value)})

    def prepare(self, value):
        return value


class UtcIsoDateTimeField(IsoDateTimeField):
    """Any offset a client sends (+21:40 parses in Python) is turned into UTC before it reaches the
    database, which only takes offsets up to ±15:59."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None or parsed.tzinfo is None:
            return parsed
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            # 0001-01-01T00:00:00+12:24 is a date-time by the schema, before year 1 in UTC: a rule.
            raise forms.ValidationError("时间超出范围", code=RULE) from None


class MomentFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StrictForm(forms.Form):
    """Checks what the fields cannot see: the raw query values."""

    def clean(self):
        cleaned = super().clean()
        data = self.data
        for name, field in self.fields.items():
            if name in self.errors or not hasattr(data, "getlist") or name not in data:
                continue
            values = data.getlist(name)
            if isinstance(field, KeysField):
                continue  # many values allowed; KeysField checks each
            if len(values) > 1:
                self.add_error(name, "只能给一个值")
            elif values[0] == "":
                self.add_error(name, "不能为空")
            elif isinstance(field, forms.NullBooleanField) and values[0] not in ("true", "false"):
                self.add_error(name, "须为 true 或 false")
        return cleaned


class StrictFilterSet(filters.FilterSet):
    class Meta:
        form = StrictForm


def keys(field_name: str, name: str, label: str, **kwargs) -> Keys:
    return Keys(field_name=field_name, help_text=f"{label}；{LIST_HELP.format(name=name)}", **kwargs)


class RawRefundFilter(StrictFilterSet):
    refund_no = keys("refund_no", "refund_no", "平台退款单号")
    tid = keys("tid", "tid", "平台订单号")
    refund_type = filters.ChoiceFilter(choices=RefundType.choices, help_text="退款类型")
    platform_status = filters.ChoiceFilter(choices=PlatformStatus.choices, help_text="平台状态")
    writeback_status = filters.ChoiceFilter(choices=WritebackStatus.choices, help_text="退款回传状态")
    apply_time_after = MomentFilter(field_name="apply_time", lookup_expr="gte", help_text="申请时间起")
    apply_time_before = MomentFilter(
        field_name="apply_time", lookup_expr="lt", help_text="申请时间止（不含）"
    )
    modified_after = MomentFilter(
        field_name="platform_modified", lookup_expr="gte", help_text="平台更新时间起"
    )
    modified_before = MomentFilter(
        field_name="platform_modified", lookup_expr="lt", help_text="平台更新时间止"
    )
    updated_after = MomentFilter(field_name="updated_at", lookup_expr="gte", help_text="系统更新时间起")
    updated_before = MomentFilter(field_name="updated_at", lookup_expr="lt", help_text="系统更新时间止")

    class Meta(StrictFilterSet.Meta):
        model = RawRefund
        fields = []


class OrderFilter(StrictFilterSet):
    tid = keys("tid", "tid", "平台订单号")
    status = filters.ChoiceFilter(choices=OrderStatus.choices, help_text="订单状态")
    trade_time_after = MomentFilter(field_name="trade_time", lookup_expr="gte", help_text="下单时间起")
    trade_time_before = MomentFilter(field_name="trade_time", lookup_expr="lt", help_text="下单时间止")
    modified_after = MomentFilter(
        field_name="platform_modified", lookup_expr="gte", help_text="平台更新时间起"
    )
    modified_before = MomentFilter(
        field_name="platform_modified", lookup_expr="lt", help_text="平台更新时间止"
    )
    updated_after = MomentFilter(field_name="updated_at", lookup_expr="gte", help_text="系统更新时间起")
    updated_before = MomentFilter(field_name="updated_at", lookup_expr="lt", help_text="系统更新时间止")

    class Meta(StrictFilterSet.Meta):
        model = Order
        fields = []


def slip_number_parser(pattern: str):
    """TH00000012 → 12: only the spelling the back office writes (TH + the id in at least 8 digits)."""
    compiled = re.compile(pattern)

    def parse(number: str) -> int | None:
        return int(number[2:]) if compiled.fullmatch(number) else None

    return parse


return_slip_pk = slip_number_parser(RETURN_SLIP_NUMBER)
refund_slip_pk = slip_number_parser(REFUND_SLIP_NUMBER)


class ReturnSlipNumbers(Keys):
    def __init__(self, **kwargs):
        super().__init__(field_name="pk", part=RETURN_SLIP_NUMBER, **kwargs)

    def prepare(self, value):
        return [return_slip_pk(number) for number in value]


class RefundSlipNumbers(Keys):
    def __init__(self, **kwargs):
        super().__init__(field_name="pk", part=REFUND_SLIP_NUMBER, **kwargs)

    def prepare(self, value):
        return [refund_slip_pk(number) for number in value]


class ReturnSlipFilter(StrictFilterSet):
    number = ReturnSlipNumbers(help_text=f"退货单号（TH…）；{LIST_HELP.format(name='number')}")
    status = filters.ChoiceFilter(choices=ReturnStatus.choices, help_text="退货单状态")
    tid = keys("order__tid", "tid", "平台订单号")
    refund_no = keys("raw_refund__refund_no", "refund_no", "平台退款单号")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte", help_text="创建时间起")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt", help_text="创建时间止")

    class Meta(StrictFilterSet.Meta):
        model = ReturnSlip
        fields = []


class AutoWritebackRunFilter(StrictFilterSet):
    status = filters.ChoiceFilter(choices=AutoWritebackRun.Status.choices, help_text="运行状态")
    started_after = MomentFilter(field_name="started_at", lookup_expr="gte", help_text="开始时间起")
    started_before = MomentFilter(field_name="started_at", lookup_expr="lt", help_text="开始时间止")

    class Meta(StrictFilterSet.Meta):
        model = AutoWritebackRun
        fields = []


class RefundSlipFilter(StrictFilterSet):
    number = RefundSlipNumbers(help_text=f"退款单号（TK…）；{LIST_HELP.format(name='number')}")
    status = filters.ChoiceFilter(choices=RefundSlipStatus.choices, help_text="退款单状态")
    source = filters.ChoiceFilter(choices=RefundSource.choices, help_text="来源")
    tid = keys("order__tid", "tid", "平台订单号")
    raw_refund_no = keys("raw_refund__refund_no", "raw_refund_no", "原始退款单号")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte", help_text="创建时间起")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt", help_text="创建时间止（不含）")
    attention = filters.BooleanFilter(
        method="filter_attention", help_text="需关注：true 只看有关键词提醒的，false 只看没有的"
    )

    class Meta(StrictFilterSet.Meta):
        model = RefundSlip
        fields = []

    def filter_attention(self, queryset, name, value):
        return queryset.exclude(attention="") if value else queryset.filter(attention="")
