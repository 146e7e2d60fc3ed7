"""Downloaded pages commit without waiting for the disk on PostgreSQL; everything else waits."""

import pytest
from django.db import connection, transaction

from core.bulk import commit_without_waiting_for_disk

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def synchronous_commit():
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def test_only_the_page_transaction_skips_the_wait(settings):
    settings.SYNC_WAIT_FOR_DISK = False
    assert synchronous_commit() == "on"
    with transaction.atomic():
        commit_without_waiting_for_disk()
        assert synchronous_commit() == "off"
    # SET LOCAL ends with its transaction: the next commit (a cursor, a claim) waits again, and
    # flushes the pages before it.
    assert synchronous_commit() == "on"


def test_a_setting_makes_every_commit_wait(settings):
    settings.SYNC_WAIT_FOR_DISK = True
    with transaction.atomic():
        commit_without_waiting_for_disk()
        assert synchronous_commit() == "on"
