"""The two demo shops, shared by the back office's demo command and the SA sandbox's demo data.

Pure Python: the sandbox imports it without Django. Demo credentials only: never valid at JD.
"""

DEMO_SHOPS = [
    {
        "shop_no": "JD-FLAGSHIP",
        "name": "京东旗舰店（演示）",
        "app_key": "DEMOAPPKEY0001",
        "app_secret": "demo-secret-0001",
        "access_token": "demo-token-0001",
        "vender_id": "10086001",
    },
    {
        "shop_no": "JD-OUTLET",
        "name": "京东专营店（演示）",
        "app_key": "DEMOAPPKEY0002",
        "app_secret": "demo-secret-0002",
        "access_token": "demo-token-0002",
        "vender_id": "10086002",
    },
]

# updateWarehouseStatus `status` values. JD does not publish them; these defaults are what the
# sandbox implements and are settings in the back office (JOS_WAREHOUSE_STATUS_*), to be confirmed
# against JD's documentation when a merchant goes live.
WAREHOUSE_STATUS_SHIPMENT_CANCELLED = "1"
WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE = "2"
