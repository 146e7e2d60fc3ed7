"""Reset the session's sandbox (tests/conftest.py) before every test and seed the test shop."""

from __future__ import annotations

import pytest

from sandbox.testing import jos_call

SHOP = {
    "app_key": "TESTAPPKEY",
    "app_secret": "test-secret-0123456789",
    "access_token": "test-token-abcdef",
    "shop_no": "JD-TEST",
    "name": "测试店铺",
    "vender_id": "10099999",
}


@pytest.fixture(autouse=True)
def shop(sandbox):
    sandbox.reset()
    sandbox.seed_shop(**SHOP)
    return dict(SHOP)


@pytest.fixture
def call(sandbox, shop):
    """call(method, params, **jos_call kwargs) as the test shop."""

    def _call(method, params=None, **kwargs):
        return jos_call(
            sandbox.jos_url,
            shop["app_key"],
            shop["app_secret"],
            shop["access_token"],
            method,
            params or {},
            **kwargs,
        )

    return _call
