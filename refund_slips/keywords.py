"""The keyword check (关键词识别): does the buyer's description say another after-sales type than
the one asked for? Pure: words in, a warning (or "") out.

The requested type is 退货 for refund types 退款 / 退货 / 退款不退货 (money back), 换货 for 换货 and
维修 for 维修 (JD's service orders bring it); a 补发 slip is not checked (the buyer asked for nothing
back). A description matching the requested type's own
keywords too is not flagged: "退货或者换一个都行" is the buyer hesitating, not a wrong type."""

from __future__ import annotations

import re

RETURN, EXCHANGE, REPAIR = "退货", "换货", "维修"
# refunds.models.RefundType values → the expectation they stand for
REQUESTED_FOR_TYPE = {1: RETURN, 2: RETURN, 3: EXCHANGE, 4: RETURN, 5: REPAIR}
TYPE_LABELS = {1: "退款", 2: "退货", 3: "换货", 4: "退款不退货", 5: "维修", 6: "补发"}
_SEPARATORS = re.compile(r"[,，、;；\s]+")


def parse_keywords(text: str) -> list[str]:
    """Comma-separated (English or full-width), 、 or newlines; blanks dropped, order kept, no repeats."""
    return list(dict.fromkeys(word for word in _SEPARATORS.split(text or "") if word))


def keyword_warning(description: str, refund_type: int, keywords: dict[str, list[str]]) -> str:
    """'' when the description agrees with the requested type (or says nothing we recognise);
    otherwise the 需关注 warning, e.g. 描述像换货（“换个尺码”），类型为退货."""
    requested = REQUESTED_FOR_TYPE.get(int(refund_type))
    if requested is None or not description:
        return ""
    hits = {kind: [w for w in words if w in description] for kind, words in keywords.items()}
    if hits.get(requested):
        return ""
    for kind in (EXCHANGE, RETURN, REPAIR):
        if kind != requested and hits.get(kind):
            found = "、".join(f"“{w}”" for w in hits[kind][:3])
            return f"描述像{kind}（{found}），类型为{TYPE_LABELS[int(refund_type)]}"
    return ""
