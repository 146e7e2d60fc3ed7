"""What the apps above refunds may listen to, without refunds (or sa_sync) importing them.

`raw_refunds_saved` is sent after raw refund slips were written and committed (a platform sync page,
an API push): receivers above (refund_slips: the keyword check, 退款完成 on JD's 退款成功) act on them.
Sent with `send_robust` by the writers: a receiver's failure is logged and never undoes the sync; the
receivers' periodic sweep catches up with what a failure left behind."""

from typing import NamedTuple

from django.dispatch import Signal

# kwargs: shop_id (int), refund_nos (list[str]: 平台退款单号 of that shop), and optionally
# states ({refund_no: SavedState}): what the writer just stored, so a receiver need not read it again.


class SavedState(NamedTuple):
    description: str
    refund_type: int
    platform_status: int
    keyword_warning: str  # as stored before the receivers run


raw_refunds_saved = Signal()
raw_refunds_saved = Signal()
