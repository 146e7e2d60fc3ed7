# Refund reasons as JD buyers pick them (the list filter offers these; any other text still searches).
COMMON_REASONS = [
    "不想要了",
    "拍错/多拍",
    "未按约定时间发货",
    "商品质量问题",
    "7天无理由退货",
    "与商家协商一致退款",
    "尺码不合适",
    "收到商品破损",
    "商品与描述不符",
    "缺货",
]
