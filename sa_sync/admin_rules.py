"""系统设置 → 售后设置 → 原始退款单 (the auto-writeback settings page) and 自动回传记录 (run history).

Thin: the page's form validates, `auto_writeback` saves (events, schedule), `selectors` select; the
preview is the run's own selection."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from core.admin_utils import ErpModelAdmin, ReadOnlyMixin
from orders.models import Shop
from refunds.models import AutoDecision

from . import auto_writeback
from .forms import AutoWritebackRuleForm, CopyRuleForm
from .models import AutoWritebackRule, AutoWritebackRun, parse_reasons

PREVIEW_LISTED = 100


def _settings_url(shop) -> str:
    return reverse("admin:sa_sync_autowritebackrule_changelist") + f"?shop={shop.pk}"


@admin.register(AutoWritebackRule)
class AutoWritebackRuleAdmin(ErpModelAdmin):
    """No raw model form: the changelist URL is the settings page of one shop (?shop=)."""

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("preview/", view(self.preview_view), name="sa_sync_autowritebackrule_preview"),
            path("copy/", view(self.copy_view), name="sa_sync_autowritebackrule_copy"),
            path("run-now/", view(self.run_now_view), name="sa_sync_autowritebackrule_run_now"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        rule = get_object_or_404(AutoWritebackRule, pk=object_id)
        return HttpResponseRedirect(_settings_url(rule.shop))

    # --- the page ---------------------------------------------------------------------------------
    def _shop(self, request):
        shops = list(Shop.objects.order_by("shop_no"))
        wanted = request.GET.get("shop") or request.POST.get("shop")
        shop = next((s for s in shops if str(s.pk) == str(wanted)), None) if wanted else None
        return shop or (shops[0] if shops else None), shops

    @staticmethod
    def _rule(shop) -> AutoWritebackRule:
        # A shop nobody configured: the defaults, unsaved (a GET writes nothing).
        return AutoWritebackRule.objects.filter(shop=shop).select_related(
            "shop"
        ).first() or AutoWritebackRule(shop=shop)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        shop, shops = self._shop(request)
        if shop is None:
            self.message_user(request, "还没有店铺：请先在“店铺”中添加。", messages.WARNING)
            return HttpResponseRedirect(reverse("admin:index"))
        rule = self._rule(shop)
        can_change = self.has_change_permission(request)
        if request.method == "POST":
            if not can_change:
                raise PermissionDenied
            form = AutoWritebackRuleForm(request.POST)
            if form.is_valid():
                try:
                    _, changed = auto_writeback.auto_writeback_rule_save(
                        shop, form.rule_values(), by=request.user
                    )
                except ValidationError as error:
                    for field, errs in error.message_dict.items():
                        form.add_error(field if field in form.fields else None, errs)
                else:
                    text = "、".join(changed) if changed else "没有修改"
                    self.message_user(
                        request, f"{shop.name}：已保存（{text}），下一次运行起生效。", messages.SUCCESS
                    )
                    for warning in getattr(form, "reason_warnings", []):
                        self.message_user(request, f"退款原因：{warning}", messages.WARNING)
                    return HttpResponseRedirect(_settings_url(shop))
            for errs in form.errors.values():
                for err in errs:
                    self.message_user(request, err, messages.ERROR)
        else:
            form = AutoWritebackRuleForm(initial=AutoWritebackRuleForm.initial_for(rule))
        reasons_text = form["reasons"].value() or ""
        parsed, warnings = parse_reasons(reasons_text if isinstance(reasons_text, str) else "")
        context = {
            **self.admin_site.each_context(request),
            "title": "售后设置：原始退款单",
            "opts": self.model._meta,
            "shop": shop,
            "shops": shops,
            "rule": rule,
            "form": form,
            "can_change": can_change,
            "parsed_reasons": parsed,
            "reason_warnings": warnings,
            "copy_form": CopyRuleForm(source_shop=shop),
            "preview_html": self._preview_html(rule),
            "preview_url": reverse("admin:sa_sync_autowritebackrule_preview"),
            "runs_url": reverse("admin:sa_sync_autowritebackrun_changelist") + f"?shop__id__exact={shop.pk}",
            "recent_runs": AutoWritebackRun.objects.filter(shop=shop)[:5],
            "task": rule.periodic_task if rule.pk else None,
        }
        return TemplateResponse(request, "admin/sa_sync/rules/settings.html", context)

    def _preview_html(self, rule, parsed=None, warnings=()) -> str:
        result = auto_writeback.auto_writeback_preview(rule)
        excluded = result.excluded
        return render_to_string(
            "admin/sa_sync/rules/preview.html",
            {
                "p": result,
                "rule": rule,
                "slips": result.selection.slips[:PREVIEW_LISTED],
                "more": max(0, len(result.selection.slips) - PREVIEW_LISTED),
                "excluded": excluded[:PREVIEW_LISTED],
                "counts": sorted(result.counts.items(), key=lambda kv: -kv[1]),
                "parsed_reasons": parsed,
                "reason_warnings": warnings,
            },
        )

    def preview_view(self, request):
        """The preview for the values on the page, not yet saved (the page asks as the user types)."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        shop, _ = self._shop(request)
        if shop is None:
            raise PermissionDenied
        form = AutoWritebackRuleForm(request.GET)
        if not form.is_valid():
            errors = [e for errs in form.errors.values() for e in errs]
            return TemplateResponse(request, "admin/sa_sync/rules/preview_errors.html", {"errors": errors})
        values = form.rule_values()
        shop.arrival_rule = values.pop("arrival_rule")
        rule = self._rule(shop)
        for field in auto_writeback.RULE_FIELDS:
            setattr(rule, field, values[field])
        rule.shop = shop
        parsed, warnings = parse_reasons(request.GET.get("reasons", ""))
        return HttpResponse(self._preview_html(rule, parsed, warnings))

    def copy_view(self, request):
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        shop, _ = self._shop(request)
        rule = AutoWritebackRule.objects.filter(shop=shop).select_related("shop").first()
        if rule is None:
            self.message_user(request, "请先保存本店铺的规则，再复制到其他店铺。", messages.ERROR)
            return HttpResponseRedirect(_settings_url(shop))
        form = CopyRuleForm(request.POST, source_shop=shop)
        if not form.is_valid():
            for errs in form.errors.values():
                for err in errs:
                    self.message_user(request, err, messages.ERROR)
            return HttpResponseRedirect(_settings_url(shop))
        copy_enabled = form.cleaned_data["copy_enabled"]
        done = auto_writeback.auto_writeback_rule_copy(
            rule, form.cleaned_data["target_shops"], by=request.user, copy_enabled=copy_enabled
        )
        names = "、".join(s.name for s, _ in done)
        switch = "，含“开启自动回传”开关" if copy_enabled else "；各店铺的开启开关保持不变"
        self.message_user(request, f"已将 {shop.name} 的规则复制到：{names}{switch}。", messages.SUCCESS)
        return HttpResponseRedirect(_settings_url(shop))

    def run_now_view(self, request):
        """立即运行一次: the saved rule runs now (the same run as the schedule's), then its record."""
        if request.method != "POST" or not self.has_change_permission(request):
            raise PermissionDenied
        shop, _ = self._shop(request)
        if shop is None or not AutoWritebackRule.objects.filter(shop=shop).exists():
            self.message_user(request, "请先保存本店铺的规则，再立即运行。", messages.ERROR)
            return HttpResponseRedirect(_settings_url(shop) if shop else reverse("admin:index"))
        run = auto_writeback.auto_writeback_run(shop.pk, by=request.user)
        if run.status == AutoWritebackRun.Status.SKIPPED:
            self.message_user(request, f"{shop.name}：本次未运行：{run.note}", messages.WARNING)
        else:
            self.message_user(
                request,
                f"{shop.name}：已运行一次：发送 {run.sent} 条（成功 {run.succeeded}，失败 {run.failed}），"
                f"未发送 {sum(run.skipped.values())} 条，逐单原因见下方。",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:sa_sync_autowritebackrun_change", args=[run.pk]))


@admin.register(AutoWritebackRun)
class AutoWritebackRunAdmin(ReadOnlyMixin, ErpModelAdmin):
    """自动回传记录: every run, read-only."""

    list_display = [
        "started_at",
        "shop",
        "status",
        "duration",
        "matched",
        "sent",
        "succeeded",
        "failed",
        "skipped_by_reason",
        "failed_slips",
        "note",
    ]
    list_filter = ["shop", "status"]
    list_select_related = ["shop"]
    date_hierarchy = "started_at"
    fields = [
        "shop",
        "status",
        "started_at",
        "finished_at",
        "duration",
        "matched",
        "sent",
        "succeeded",
        "failed",
        "skipped_by_reason",
        "failed_slips_all",
        "note",
        "started_by",
        "rule_text",
        "sent_slips",
        "not_sent_slips",
    ]
    readonly_fields = fields

    def _outcome_rows(self, obj, sent: bool):
        sent_decisions = {AutoDecision.SUCCEEDED, AutoDecision.FAILED}
        rows = [o for o in obj.outcomes if (o["decision"] in sent_decisions) == sent]
        if not rows:
            return "-"
        labels = dict(AutoDecision.choices)
        body = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td class="erp-wrap">{}</td></tr>',
            (
                (
                    reverse("admin:refunds_rawrefund_change", args=[o["slip_id"]]),
                    o["refund_no"] or f"#{o['slip_id']}",
                    labels.get(o["decision"], o["decision"]),
                    o["reason"] or "-",
                )
                for o in rows
            ),
        )
        return format_html(
            '<table class="erp-table" id="{}"><thead><tr><th>平台退款单号</th><th>结果</th><th>原因/说明</th>'
            "</tr></thead><tbody>{}</tbody></table>",
            "run-sent" if sent else "run-not-sent",
            body,
        )

    @admin.display(description="已发送的退款单")
    def sent_slips(self, obj):
        return self._outcome_rows(obj, sent=True)

    @admin.display(description="未发送的退款单及原因")
    def not_sent_slips(self, obj):
        return self._outcome_rows(obj, sent=False)

    @admin.display(description="耗时")
    def duration(self, obj):
        seconds = obj.duration_seconds
        if seconds is None:
            return "进行中" if obj.status == AutoWritebackRun.Status.RUNNING else "-"
        return f"{seconds:.1f} 秒"

    @admin.display(description="跳过（按原因）")
    def skipped_by_reason(self, obj):
        if not obj.skipped:
            return "-"
        return format_html_join("", "<div>{}：{}</div>", sorted(obj.skipped.items(), key=lambda kv: -kv[1]))

    def _failures(self, obj, limit=None):
        rows = obj.failures[:limit] if limit else obj.failures
        if not rows:
            return "-"
        html = format_html_join(
            "",
            '<div><a href="{}">{}</a>：{}</div>',
            (
                (reverse("admin:refunds_rawrefund_change", args=[f["slip_id"]]), f["refund_no"], f["message"])
                for f in rows
            ),
        )
        if limit and len(obj.failures) > limit:
            html = format_html("{}<div>…共 {} 条</div>", html, len(obj.failures))
        return html

    @admin.display(description="失败的退款单")
    def failed_slips(self, obj):
        return self._failures(obj, limit=5)

    @admin.display(description="失败的退款单")
    def failed_slips_all(self, obj):
        return self._failures(obj)

    @admin.display(description="当时的规则")
    def rule_text(self, obj):
        snap = obj.rule_snapshot or {}
        if not snap:
            return "-"
        parts = [
            f"{label}：{auto_writeback._display(key, snap[key])}"
            for key, label in [
                ("refund_types", "退款类型"),
                ("platform_statuses", "平台状态"),
                ("reasons", "退款原因"),
                ("interval_minutes", "回传间隔(分钟)"),
                ("batch_size", "每次回传条数"),
                ("arrival_rule", "到货规则"),
            ]
            if key in snap
        ]
        return "；".join(parts)
