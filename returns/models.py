# Return slips (退货单) and return inbound (退货入库单) arrive with the returns issue.
