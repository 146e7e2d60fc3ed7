"""The settings page's forms (系统设置 → 售后设置 → 原始退款单). Every message names its field: the page
shows them beside the field and at the top."""

from django import forms

from orders.models import ArrivalRule, Shop
from refunds.models import PlatformStatus, RefundType

from .models import RULE_BOUNDS, AutoWritebackRule, parse_reasons


def _choice_errors(label: str, what: str) -> dict:
    return {
        "required": f"{label}：请至少选择一种",
        "invalid_choice": f"{label}：%(value)s 不是有效的{what}",
        "invalid_list": f"{label}：请选择{what}",
    }


def _bounded_field(name: str) -> forms.IntegerField:
    """An integer field with the model field's own bounds and messages (RULE_BOUNDS)."""
    field = AutoWritebackRule._meta.get_field(name)
    label = str(field.verbose_name).split("(")[0]
    low, high, _ = RULE_BOUNDS[name]
    return forms.IntegerField(
        label=field.verbose_name,
        validators=field.validators,
        widget=forms.NumberInput(attrs={"min": low, "max": high}),
        error_messages={"required": f"{label}：请填写", "invalid": f"{label}：请填写整数"},
    )


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
    interval_minutes = _bounded_field("interval_minutes")
    batch_size = _bounded_field("batch_size")
    arrival_rule = forms.ChoiceField(
        label="到货规则",
        choices=ArrivalRule.choices,
        widget=forms.RadioSelect,
        help_text=Shop._meta.get_field("arrival_rule").help_text,
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
    copy_enabled = forms.BooleanField(
        label="同时复制“开启自动回传”开关",
        required=False,
        help_text="不勾选时，各店铺保持自己的开关（新建的规则为关闭），以免复制后立即开始回传。",
    )

    def __init__(self, *args, source_shop=None, **kwargs):
        super().__init__(*args, **kwargs)
        qs = Shop.objects.order_by("shop_no")
        if source_shop is not None:
            qs = qs.exclude(pk=source_shop.pk)
        self.fields["target_shops"].queryset = qs
