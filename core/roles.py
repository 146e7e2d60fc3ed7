"""The roles and exactly what each may do. Migrations apply this table; later issues extend it
with their own permissions (and a migration that re-applies it)."""

ROLE_PERMISSIONS = {
    "客服": [
        "orders.view_shop",
        "orders.view_order",
        "orders.view_orderline",
        "refunds.view_rawrefund",
        "refunds.writeback_rawrefund",
        "sa_sync.view_writebackattempt",
        "sa_sync.view_writebackjob",
        "sa_sync.view_autowritebackrun",
        "orders.view_pendinginterception",
        "core.view_event",
        "returns.view_returnslip",
        "returns.add_returnslip",
        "returns.review_returnslip",
        # Refund slips: create, change the amount (补偿/运费, with a reason), level-1 review.
        "orders.view_orderpromotion",
        "refund_slips.view_refundslip",
        "refund_slips.add_refundslip",
        "refund_slips.adjust_refundslip",
        "refund_slips.review_level1_refundslip",
        "refund_slips.view_shoprefundsettings",
        # 客审通过 / 财审通过 / 审核: CS rehearse an interception on any order.
        "orders.review_order",
    ],
    "运营": [
        "orders.view_shop",
        "orders.add_shop",
        "orders.change_shop",
        "sa_sync.view_syncrun",
        "sa_sync.view_syncrejectedrow",
        # Not django_celery_beat.view_periodictask: its admin lets a viewer run any task. Ops set the
        # schedules on the auto-writeback rules page; the periodic-task pages are the superuser's.
        "orders.view_order",
        "orders.view_orderline",
        "refunds.view_rawrefund",
        "sa_sync.view_autowritebackrule",
        "sa_sync.change_autowritebackrule",
        "sa_sync.view_autowritebackrun",
        "core.view_event",
        "returns.view_returnslip",
        "returns.view_shopreturnsettings",
        "returns.add_shopreturnsettings",
        "returns.change_shopreturnsettings",
        "orders.view_orderpromotion",
        "refund_slips.view_refundslip",
        "refund_slips.view_shoprefundsettings",
        "refund_slips.add_shoprefundsettings",
        "refund_slips.change_shoprefundsettings",
        # The REST API: keys per shop (created and revoked, never deleted) and events out.
        "api.view_apikey",
        "api.add_apikey",
        "api.change_apikey",
        "api.view_webhooksubscription",
        "api.add_webhooksubscription",
        "api.change_webhooksubscription",
        "api.delete_webhooksubscription",
        "api.view_webhookdelivery",
        "api.view_outboxevent",
    ],
    "仓库": [
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_pendinginterception",
        "orders.confirm_interception",
        "orders.ship_order",
        "core.view_event",
        "returns.view_returnslip",
        "returns.audit_returninbound",
    ],
    "财务": [
        # Refund slips above the level-1 limit (level-2 review), and confirming refunds that are not
        # JD's to complete (the merchant's own channels).
        "orders.view_order",
        "orders.view_orderline",
        "orders.view_orderpromotion",
        "refunds.view_rawrefund",
        "returns.view_returnslip",
        "core.view_event",
        "refund_slips.view_refundslip",
        "refund_slips.review_level2_refundslip",
        "refund_slips.mark_refunded_refundslip",
        "refund_slips.view_shoprefundsettings",
    ],
}


def apply_roles(apps, schema_editor=None):
    """Create the groups and set their permissions to exactly the table (usable from migrations)."""
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations (post_migrate); make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group_name, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            # A model created by a later migration has no permission yet: that migration re-applies
            # this table (tests check the final groups match it exactly).
            found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
            if found:
                wanted.append(found)
        group.permissions.set(wanted)
