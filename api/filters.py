"""List filters: lists of numbers are comma-separated (refund_no=1,2,3); times are ISO 8601."""

from datetime import UTC

import django_filters as filters
from django import forms
from django_filters.fields import IsoDateTimeField

from orders.models import Order, OrderStatus
from refund_slips.models import RefundSlip, RefundSlipStatus, RefundSource
from refunds.models import PlatformStatus, RawRefund, RefundType, WritebackStatus
from returns.models import ReturnSlip, ReturnStatus
from sa_sync.models import AutoWritebackRun


class CharIn(filters.BaseInFilter, filters.CharFilter):
    pass


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
            raise forms.ValidationError("时间超出范围") from None


class MomentFilter(filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class RawRefundFilter(filters.FilterSet):
    refund_no = CharIn(field_name="refund_no", help_text="平台退款单号，逗号分隔多个")
    tid = CharIn(field_name="tid", help_text="平台订单号，逗号分隔多个")
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

    class Meta:
        model = RawRefund
        fields = []


class OrderFilter(filters.FilterSet):
    tid = CharIn(field_name="tid", help_text="平台订单号，逗号分隔多个")
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

    class Meta:
        model = Order
        fields = []


class ReturnSlipFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=ReturnStatus.choices, help_text="退货单状态")
    tid = CharIn(field_name="order__tid", help_text="平台订单号，逗号分隔多个")
    refund_no = CharIn(field_name="raw_refund__refund_no", help_text="平台退款单号，逗号分隔多个")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte", help_text="创建时间起")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt", help_text="创建时间止")

    class Meta:
        model = ReturnSlip
        fields = []


class AutoWritebackRunFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=AutoWritebackRun.Status.choices, help_text="运行状态")
    started_after = MomentFilter(field_name="started_at", lookup_expr="gte", help_text="开始时间起")
    started_before = MomentFilter(field_name="started_at", lookup_expr="lt", help_text="开始时间止")

    class Meta:
        model = AutoWritebackRun
        fields = []


class RefundSlipFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=RefundSlipStatus.choices, help_text="退款单状态")
    source = filters.ChoiceFilter(choices=RefundSource.choices, help_text="来源")
    tid = CharIn(field_name="order__tid", help_text="平台订单号，逗号分隔多个")
    created_after = MomentFilter(field_name="created_at", lookup_expr="gte", help_text="创建时间起")
    created_before = MomentFilter(field_name="created_at", lookup_expr="lt", help_text="创建时间止（不含）")
    attention = filters.BooleanFilter(
        method="filter_attention", help_text="需关注：true 只看有关键词提醒的，false 只看没有的"
    )

    class Meta:
        model = RefundSlip
        fields = []

    def filter_attention(self, queryset, name, value):
        return queryset.exclude(attention="") if value else queryset.filter(attention="")
