"""The settings page's forms (系统设置 → 售后设置 → 原始退款单). Every message names its field: the page
shows them beside the field and at the top."""

from django import forms

from orders.models import Shop

from .auto_writeback import MAX_BATCH_SIZE, MAX_INTERVAL_MINUTES, parse_reasons
from .models import PlatformStatus, RefundType
from .rules_service import ARRIVAL_RULES


def _choice_errors(label: str, what: str) -> dict:
    return {
        "required": f"{label}：请至少选择一种",
        "invalid_choice": f"{label}：%(value)s 不是有效的{what}",
        "invalid_list": f"{label}：请选择{what}",
    }


class AutoWritebackRuleForm(forms.Form):
    enabled = forms.BooleanField(label="开启自动回传", required=False)
    refund_types = forms.TypedMultipleChoiceField(
        label="退款类型",
        choices=RefundType.choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages=_choice_errors("退款类型", "退款类型"),
    )
    platform_statuses = forms.TypedMultipleChoiceField(
        label="平台状态",
        choices=PlatformStatus.choices,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages=_choice_errors("平台状态", "平台状态"),
    )
    reasons = forms.CharField(
        label="退款原因",
        required=False,
        max_length=2000,
        widget=forms.Textarea(
            attrs={"rows": 2, "cols": 60, "placeholder": "例如：不想要了,拍错/多拍（为空表示不限原因）"}
        ),
        help_text="多个原因用逗号分隔；为空表示不限原因。",
        error_messages={"max_length": "退款原因：最多 %(limit_value)d 个字符"},
    )
    interval_minutes = forms.IntegerField(
        label="回传间隔(分钟)",
        min_value=1,
        max_value=MAX_INTERVAL_MINUTES,
        error_messages={
            "required": "回传间隔：请填写分钟数",
            "invalid": "回传间隔：请填写整数分钟",
            "min_value": "回传间隔：至少 1 分钟",
            "max_value": f"回传间隔：最多 {MAX_INTERVAL_MINUTES} 分钟（1 天）",
        },
    )
    batch_size = forms.IntegerField(
        label="每次回传条数",
        min_value=1,
        max_value=MAX_BATCH_SIZE,
        error_messages={
            "required": "每次回传条数：请填写",
            "invalid": "每次回传条数：请填写整数",
            "min_value": f"每次回传条数：须在 1 到 {MAX_BATCH_SIZE} 之间",
            "max_value": f"每次回传条数：须在 1 到 {MAX_BATCH_SIZE} 之间",
        },
    )
    arrival_rule = forms.ChoiceField(
        label="到货规则",
        choices=list(ARRIVAL_RULES.items()),
        widget=forms.RadioSelect,
        help_text="退货入库审核后何时回传“退货入仓”：部分到货＝入库数量大于0即回传；全部到货＝入库数量达到退款数量才回传。",
        error_messages={
            "required": "到货规则：请选择",
            "invalid_choice": "到货规则：%(value)s 不是有效的取值",
        },
    )

    @classmethod
    def initial_for(cls, rule) -> dict:
        return {
            "enabled": rule.enabled,
            "refund_types": list(rule.refund_types),
            "platform_statuses": list(rule.platform_statuses),
            "reasons": rule.reasons_text(),
            "interval_minutes": rule.interval_minutes,
            "batch_size": rule.batch_size,
            "arrival_rule": rule.shop.arrival_rule,
        }

    def clean_reasons(self):
        reasons, warnings = parse_reasons(self.cleaned_data.get("reasons"))
        self.reason_warnings = warnings
        return reasons

    def rule_values(self) -> dict:
        return dict(self.cleaned_data)


class CopyRuleForm(forms.Form):
    target_shops = forms.ModelMultipleChoiceField(
        label="复制到店铺",
        queryset=Shop.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "复制到店铺：请至少选择一个店铺"},
    )

    def __init__(self, *args, source_shop=None, **kwargs):
        super().__init__(*args, **kwargs)
        qs = Shop.objects.order_by("shop_no")
        if source_shop is not None:
            qs = qs.exclude(pk=source_shop.pk)
        self.fields["target_shops"].queryset = qs
