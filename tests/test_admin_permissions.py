"""Every admin URL and every action, as every role: allowed exactly when core/roles.py allows it.

The walk is built from the admin site itself (its registry, each ModelAdmin's URLs and actions), so a
page or action added later is walked too; a custom URL nobody has classified fails the test until
someone writes down which permission it needs (CUSTOM_URLS below).

"Allowed" means the page answered (200, or a redirect to a page that answered); "refused" means 403,
a redirect to the login page, or the changelist saying the action was not run, and then nothing in
the database changed. Nothing may answer 500. Each request runs in a savepoint that is rolled back,
so every request sees the same data whatever ran before it.
"""

from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, SolarSchedule

from api.keys import api_key_create
from api.models import WebhookSubscription
from api.services import raw_refunds_push
from core.audit import record_event
from core.roles import ROLE_PERMISSIONS
from orders.models import InterceptionStatus
from refund_slips.models import ShopRefundSettings
from refund_slips.services import refund_slip_create
from refunds.models import PlatformStatus, RefundType
from returns.models import ReturnSlip, ShopReturnSettings
from returns.services import return_slip_create
from sa_sync import auto_writeback
from sa_sync.models import (
    AutoWritebackRun,
    SyncKind,
    SyncRejectedRow,
    SyncRun,
    WritebackAttempt,
    WritebackJob,
)

from .conftest import PASSWORD, make_user, seed_applications
from .factories import OrderLineFactory, RawRefundFactory, ShopFactory

pytestmark = pytest.mark.django_db

SUPERUSER = "superuser"  # a need no group can meet
# Apps whose admin pages only the administrator may open: django-celery-beat's task list lets anyone
# who sees it start any task. Ops set schedules on the auto-writeback rules page instead.
SUPERUSER_ONLY_APPS = {"django_celery_beat"}
ROLES = {
    "客服": "cs",
    "运营": "ops",
    "仓库": "warehouse",
    "财务": "finance",
    None: "nobody",
    "admin": "admin",
}
# Actions whose permission name is not one of Django's four: the permission it stands for.
CUSTOM_ACTION_PERMISSIONS = {
    ("refunds.rawrefund", "writeback"): "refunds.writeback_rawrefund",
    ("orders.pendinginterception", "confirm"): "orders.confirm_interception",
    ("refunds.rawrefund", "create_return"): "returns.add_returnslip",
    ("refunds.rawrefund", "create_refund"): "refund_slips.add_refundslip",
    ("api.webhookdelivery", "retry"): "api.change_webhooksubscription",
}
# Refusals that come back as a message on the changelist instead of a 403.
REFUSAL_MESSAGES = ("未选择动作", "权限")


@dataclass
class Endpoint:
    label: str
    method: str
    url: str
    need: frozenset  # any one of these permissions suffices
    offered: bool  # does the page exist at all (the superuser may use it)?
    data: dict | None = None


def perm(opts, action):
    return f"{opts.app_label}.{action}_{opts.model_name}"


def custom_urls(opts, obj, shops):
    """Every custom URL of the admin: (method, args, data, the permissions any of which suffices,
    whether the URL answers that method at all)."""
    view_or_change = frozenset({perm(opts, "view"), perm(opts, "change")})
    change = frozenset({perm(opts, "change")})
    return {
        "auth_user_password_change": [("GET", [obj.pk], None, change, True)],
        "sa_sync_writeback_job": [("GET", [obj.pk], None, frozenset({perm(opts, "view")}), True)],
        "sa_sync_autowritebackrule_preview": [
            ("GET", [], {"shop": shops[0].pk, "interval_minutes": 10, "batch_size": 50}, view_or_change, True)
        ],
        # Returns: CS create and review return slips, the warehouse scans and audits the inbound.
        "returns_returnslip_scan": [("GET", [], None, frozenset({"returns.audit_returninbound"}), True)],
        "returns_returnslip_create": [("GET", [], None, frozenset({"returns.add_returnslip"}), True)],
        "returns_returnslip_transition": [
            ("GET", [obj.pk, "approve"], None, view_or_change | {"returns.review_returnslip"}, True),
            ("POST", [obj.pk, "approve"], {"reason": "测试"}, frozenset({"returns.review_returnslip"}), True),
        ],
        # Refund slips: CS create them and review level 1 (finance: level 2 once level 1 is done).
        "refund_slips_refundslip_create": [
            ("GET", [], None, frozenset({"refund_slips.add_refundslip"}), True)
        ],
        "refund_slips_refundslip_from_return": [
            (
                "POST",
                [ReturnSlip.objects.order_by("pk").first().pk],
                None,
                frozenset({"refund_slips.add_refundslip"}),
                True,
            )
        ],
        "refund_slips_refundslip_action": [
            ("GET", [obj.pk, "approve"], None, view_or_change, True),
            ("POST", [obj.pk, "approve"], {}, frozenset({"refund_slips.review_level1_refundslip"}), True),
        ],
        # API keys: revoking is a change (a POST from the key's page); a GET only leads back to it.
        "api_apikey_revoke": [
            ("GET", [obj.pk], None, change, True),
            ("POST", [obj.pk], None, change, True),
        ],
        # The 退款回传 button on a slip's page: the list action's permission.
        "refunds_rawrefund_writeback_one": [
            ("POST", [obj.pk], {}, frozenset({"refunds.writeback_rawrefund"}), True),
        ],
        # The warehouse worklist's row buttons: 拦截失败 shows a confirmation first (GET).
        "orders_pendinginterception_confirm": [
            ("GET", [obj.pk, "failed"], None, frozenset({"orders.confirm_interception"}), True),
            ("POST", [obj.pk, "succeeded"], {}, frozenset({"orders.confirm_interception"}), True),
        ],
        # Order processing: 客审通过 needs review_order; 发货 (needs a waybill) ship_order.
        "orders_order_step": [
            ("POST", [obj.pk, "cs_review"], {}, frozenset({"orders.review_order"}), True),
            ("POST", [obj.pk, "ship"], {"logistics_no": "SF1"}, frozenset({"orders.ship_order"}), True),
        ],
        # Shops: 去京东授权 shows where it goes first; JD's callback (here without a state: it changes
        # nothing and says so) and 立即刷新授权 (a confirmation, then the POST) change the tokens.
        "orders_shop_jd_authorize": [("GET", [obj.pk], None, change, True)],
        "orders_shop_jd_oauth_callback": [("GET", [], None, change, True)],
        "orders_shop_refresh_token": [
            ("GET", [obj.pk], None, change, True),
            ("POST", [obj.pk], {}, change, True),
        ],
        "sa_sync_autowritebackrule_run_now": [
            ("GET", [], None, change, False),  # running is a POST from the settings page
            ("POST", [], {"shop": shops[0].pk}, change, True),
        ],
        "sa_sync_autowritebackrule_copy": [
            ("GET", [], None, change, False),  # copying is a POST from the settings page
            ("POST", [], {"shop": shops[0].pk, "target_shops": [shops[1].pk]}, change, True),
        ],
    }


def action_need(opts, func):
    names = getattr(func, "allowed_permissions", None) or ()
    need = set()
    for name in names:
        if name in {"add", "change", "delete", "view"}:
            need.add(perm(opts, name))
        else:
            need.add(CUSTOM_ACTION_PERMISSIONS[(opts.label_lower, name)])
    return frozenset(need)


def api_item():
    """A raw refund slip as the API takes it once validated: its push writes an outbox row and a
    delivery for the subscription above."""
    from decimal import Decimal

    return {
        "refund_no": "8000000001",
        "tid": "3000000001",
        "oid": "",
        "refund_type": 1,
        "platform_status": 2,
        "platform_status_code": "",
        "reason": "",
        "description": "",
        "refund_amount": Decimal("1.00"),
        "num": 1,
        "buyer_nick": "",
        "apply_time": None,
        "check_time": None,
        "modified": timezone.now(),
    }


@pytest.fixture
def tasks_run_here():
    """The administrator's "run tasks" action queues real tasks: run them in the test (against the
    sandbox, inside the rolled-back savepoint) rather than leave messages in a broker for a worker."""
    from erp_aftersales.celery import app

    app.conf.update(task_always_eager=True)
    yield
    app.conf.update(task_always_eager=False)


@pytest.fixture
def world(db, jd, sandbox, tasks_run_here):
    """One real object of every model the admin shows, the sandbox playing the shops' JD."""
    other_shop = ShopFactory()
    slip = RawRefundFactory(order_line__order__shop=jd)
    seed_applications(sandbox, [slip])
    OrderLineFactory(order__shop=jd, interception_status=InterceptionStatus.PENDING)
    auto_writeback.auto_writeback_rule_save(jd, {"enabled": True}, by="测试")
    WritebackJob.objects.create(total=1)
    AutoWritebackRun.objects.create(shop=jd, started_at=timezone.now())
    returned = RawRefundFactory(
        order_line__order__shop=jd,
        refund_type=RefundType.RETURN,
        platform_status=PlatformStatus.AWAITING_RECEIPT,
    )
    return_slip_create(by="测试", raw_refund=returned, logistics_company="顺丰", logistics_no="SF123")
    ShopReturnSettings.objects.create(shop=jd)
    ShopRefundSettings.objects.create(shop=jd)
    refund_slip_create(raw_refund_id=slip.pk, by="测试")
    run = SyncRun.objects.create(shop=jd, kind=SyncKind.REFUNDS)
    SyncRejectedRow.objects.create(
        run=run, shop=jd, kind=SyncKind.REFUNDS, outcome="rejected", platform_id="1", reason="测试"
    )
    record_event(jd, action="新建店铺", by="测试")
    api_key_create(shop=jd, name="wms", by="测试")
    # Port 9 (discard) refuses at once: a retried delivery fails fast, inside the rolled-back savepoint.
    WebhookSubscription.objects.create(
        shop=jd, name="wms", url="http://127.0.0.1:9/hook", events=["raw_refund.changed"], secret="s"
    )
    raw_refunds_push(jd, [api_item()], by="API：wms")
    CrontabSchedule.objects.create(minute="0", hour="3")
    SolarSchedule.objects.create(event="sunrise", latitude=31.23, longitude=121.47)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    return [jd, other_shop]


def endpoints(superuser, shops):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    found, unclassified = [], []
    apps_shown = {}
    for model, model_admin in admin.site._registry.items():
        opts = model._meta
        superuser_only = opts.app_label in SUPERUSER_ONLY_APPS
        model_perms = {perm(opts, a) for a in ("view", "change", "add", "delete")}
        apps_shown.setdefault(opts.app_label, set()).update(model_perms)

        def need(*actions, opts=opts, superuser_only=superuser_only):
            return frozenset({SUPERUSER}) if superuser_only else frozenset(perm(opts, a) for a in actions)

        obj = model_admin.get_queryset(request).order_by("pk").first()
        assert obj is not None, f"{opts.label}：测试数据里没有这个模型的对象，请在 world 中补上"
        name = f"admin:{opts.app_label}_{opts.model_name}"
        can_see = model_admin.has_view_or_change_permission(request, obj)
        can_change = model_admin.has_change_permission(request, obj)
        found += [
            Endpoint(
                f"{opts.label} 列表", "GET", reverse(f"{name}_changelist"), need("view", "change"), True
            ),
            Endpoint(
                f"{opts.label} 新增",
                "GET",
                reverse(f"{name}_add"),
                need("add"),
                model_admin.has_add_permission(request),
            ),
            Endpoint(
                f"{opts.label} 详情",
                "GET",
                reverse(f"{name}_change", args=[obj.pk]),
                need("view", "change"),
                can_see,
            ),
            Endpoint(
                f"{opts.label} 保存",
                "POST",
                reverse(f"{name}_change", args=[obj.pk]),
                need("change"),
                can_change,
                {},
            ),
            Endpoint(
                f"{opts.label} 删除",
                "GET",
                reverse(f"{name}_delete", args=[obj.pk]),
                need("delete"),
                model_admin.has_delete_permission(request, obj),
            ),
            Endpoint(
                f"{opts.label} 历史",
                "GET",
                reverse(f"{name}_history", args=[obj.pk]),
                need("view", "change"),
                can_see,
            ),
        ]
        standard = {
            f"{opts.app_label}_{opts.model_name}_{s}"
            for s in ("changelist", "add", "change", "delete", "history")
        }
        known = custom_urls(opts, obj, shops)
        for pattern in model_admin.get_urls():
            if pattern.name in standard or pattern.name is None:
                continue  # None: Django's catch-all that redirects an old-style URL to the change page
            if pattern.name not in known:
                unclassified.append(pattern.name)
                continue
            for method, args, data, url_need, offered in known[pattern.name]:
                found.append(
                    Endpoint(
                        f"{opts.label} {pattern.name} {method}",
                        method,
                        reverse(f"admin:{pattern.name}", args=args),
                        frozenset({SUPERUSER}) if superuser_only else url_need,
                        offered,
                        data,
                    )
                )
        for action_name, (func, _, _) in model_admin.get_actions(request).items():
            action_perms = action_need(opts, func)
            # An action without a permission runs for anyone who can see the list: only an admin that
            # is already the superuser's alone may have one (that was the periodic-task hole).
            assert action_perms or superuser_only, f"{opts.label} 的操作 {action_name} 没有声明所需权限"
            found.append(
                Endpoint(
                    f"{opts.label} 操作 {action_name}",
                    "POST",
                    reverse(f"{name}_changelist"),
                    frozenset({SUPERUSER}) if superuser_only else action_perms,
                    True,
                    {"action": action_name, "_selected_action": [obj.pk], "index": 0},
                )
            )
    assert not unclassified, f"没有写明所需权限的后台网址：{unclassified}（请加到 CUSTOM_URLS）"
    found.append(Endpoint("首页", "GET", reverse("admin:index"), frozenset({"*"}), True))
    for app_label, app_perms in apps_shown.items():
        found.append(
            Endpoint(
                f"{app_label} 应用页",
                "GET",
                reverse("admin:app_list", args=[app_label]),
                frozenset({SUPERUSER}) if app_label in SUPERUSER_ONLY_APPS else frozenset(app_perms),
                True,
            )
        )
    return found


def expected_allowed(role, endpoint):
    if not endpoint.offered:
        return False
    if role == "admin":
        return True
    if "*" in endpoint.need:
        return True
    return bool(set(ROLE_PERMISSIONS.get(role, ())) & endpoint.need)


def snapshot():
    """Every row of every model the admin shows, plus the writeback attempts: what a refusal must not touch."""
    tables = {m._meta.label: list(m._default_manager.order_by("pk").values()) for m in admin.site._registry}
    tables["attempts"] = WritebackAttempt.objects.count()
    return tables


def answer(client, endpoint):
    """'allowed' or 'refused', following redirects inside the admin; fails on a 500."""
    client.cookies.pop("messages", None)  # a message left by the previous request is not this answer
    if endpoint.method == "POST":
        response = client.post(endpoint.url, endpoint.data)
    else:
        response = client.get(endpoint.url, endpoint.data or {})
    for _ in range(5):
        assert response.status_code != 500, endpoint.label
        if response.status_code in (403, 404):
            # 404 only where Django hides an app page the user may see nothing of.
            assert response.status_code == 403 or "应用页" in endpoint.label, (
                endpoint.label,
                response.status_code,
            )
            return "refused"
        if response.status_code != 302:
            break
        location = response["Location"]
        if "/admin/login/" in location:
            return "refused"
        response = client.get(location)
    assert response.status_code == 200, (endpoint.label, response.status_code)
    messages = [str(m) for m in response.context["messages"]] if response.context else []
    if any(marker in m for m in messages for marker in REFUSAL_MESSAGES):
        return "refused"
    if endpoint.data and "action" in endpoint.data and not messages:
        # Django ignores an action the user has none of the list's actions for and shows the list
        # again, saying nothing; an action that ran answers with a message or its own page.
        if "cl" in response.context:  # the list itself, not an action's own page (delete's confirmation)
            return "refused"
    return "allowed"


@pytest.mark.parametrize("group", list(ROLES), ids=list(ROLES.values()))
def test_every_admin_url_and_action_answers_as_the_role_allows(client, django_user_model, world, group):
    superuser = django_user_model.objects.create_superuser("root_t", "root@example.com", PASSWORD)
    if group == "admin":
        user = superuser
    else:
        user = make_user(django_user_model, f"walk_{ROLES[group]}", group)
    assert Group.objects.filter(name__in=[g for g in ROLES if g not in (None, "admin")]).count() == 4
    client.force_login(user)
    wrong, counts = [], {"allowed": 0, "refused": 0}
    for endpoint in endpoints(superuser, world):
        with transaction.atomic():
            before = snapshot()
            got = answer(client, endpoint)
            if got == "refused":
                assert snapshot() == before, f"{ROLES[group]}：{endpoint.label} 被拒绝却改了数据"
            transaction.set_rollback(True)
        counts[got] += 1
        want = "allowed" if expected_allowed(group, endpoint) else "refused"
        if got != want:
            wrong.append(f"{endpoint.label}（{endpoint.method} {endpoint.url}）：应当{want}，实际{got}")
    print(f"\n{ROLES[group]}: allowed {counts['allowed']}, refused {counts['refused']}")
    assert not wrong, "\n".join(wrong)
