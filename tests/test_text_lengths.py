"""Text from users and from JD against the columns it lands in, on PostgreSQL: SQLite ignores varchar
lengths, so only PostgreSQL shows a value that does not fit (as a 500 in production)."""

import pytest

from core.audit import events_for
from refunds.reasons import COMMON_REASONS
from sa_sync.models import AutoWritebackRule

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
