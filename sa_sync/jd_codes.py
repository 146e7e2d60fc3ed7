"""JD's own codes, shared by the back office's mapping and the SA sandbox (pure Python, no Django)."""

# jingdong.pop.afs.soa.refundapply.queryPageList `status`
REFUND_APPLY_STATUS = {
    0: "未审核",
    1: "审核通过",
    2: "审核不通过",
    3: "京东财务审核通过",
    4: "京东财务审核不通过",
    5: "人工审核通过",
    6: "拦截并退款",
    7: "青龙拦截成功",
    8: "青龙拦截失败",
    9: "强制关单并退款",
    10: "物流待跟进",
    11: "用户撤销",
}
