from django.apps import AppConfig


class RefundSlipsConfig(AppConfig):
    name = "refund_slips"
    verbose_name = "退款单"

    def ready(self):
        # Hooks into the apps below, which must not import this one (import-linter layers):
        # the one-open-after-sales-per-line guard that returns asks, and the platform sync's signal.
        from orders.after_sales import register_after_sales_guard
        from refunds.signals import raw_refunds_saved

        from .services import after_sales_guard, on_raw_refunds_saved

        register_after_sales_guard("refund_slips", after_sales_guard)
        raw_refunds_saved.connect(on_raw_refunds_saved, dispatch_uid="refund_slips.on_raw_refunds_saved")
