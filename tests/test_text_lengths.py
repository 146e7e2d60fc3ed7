"""Text from users and from JD against the columns it lands in, on PostgreSQL: SQLite ignores varchar
lengths, so only PostgreSQL shows a value that does not fit (as a 500 in production)."""

import pytest

from core.audit import events_for
from refunds.reasons import COMMON_REASONS
from sa_sync.models import AutoWritebackRule, SyncCursor, SyncKind, SyncRunStatus
from sa_sync.platform_sync import shop_sync

from .factories import ShopFactory

SETTINGS_URL = "/admin/sa_sync/autowritebackrule/"


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_rule_with_all_ten_standard_reasons_saves(client, ops_user):
    shop = ShopFactory()
    client.force_login(ops_user)
    typed = ",".join(COMMON_REASONS)
    assert len(typed) > 64  # what used to overflow the event's varchar(64)

    response = client.post(
        SETTINGS_URL,
        {
            "shop": shop.pk,
            "enabled": "on",
            "refund_types": ["1"],
            "platform_statuses": ["2"],
            "reasons": typed,
            "interval_minutes": "5",
            "batch_size": "50",
            "arrival_rule": "full",
        },
    )

    assert response.status_code == 302
    rule = AutoWritebackRule.objects.get(shop=shop)
    assert rule.reasons == COMMON_REASONS
    event = events_for(rule).get(field="reasons")
    assert all(reason in event.to_state for reason in COMMON_REASONS)


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_long_error_code_from_jd_is_recorded_on_the_run_and_frees_the_shop(sandbox, jd):
    code = "E" * 100  # JD's codes are its own text: nothing bounds them
    sandbox.set_faults(app_key=jd.app_key, fail_next=[{"kind": "jos", "code": code}])

    run = shop_sync(jd, kind=SyncKind.REFUNDS)

    run.refresh_from_db()
    assert run.status == SyncRunStatus.FAILED and run.error_code == code[:32]
    assert code[:32] in run.error
    assert SyncCursor.objects.get(shop=jd, kind=SyncKind.REFUNDS).running_since is None
    assert shop_sync(jd, kind=SyncKind.REFUNDS).status == SyncRunStatus.SUCCEEDED  # not locked out
