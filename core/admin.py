from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from .admin_utils import ErpModelAdmin, ReadOnlyMixin
from .models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyMixin, ErpModelAdmin):
    list_display = [
        "created_at",
        "actor_name",
        "content_type",
        "subject_label",
        "action",
        "from_state",
        "to_state",
        "reason",
    ]
    list_filter = ["content_type"]
    list_select_related = ["content_type"]
    search_fields = ["=actor_name", "=object_id"]
    show_full_result_count = False
    search_help_text = "按操作人用户名精确查找，或输入对象的内部编号"

    def get_queryset(self, request):
        # One query per object type on the page, not one per row.
        return super().get_queryset(request).prefetch_related("subject")

    @admin.display(description="对象")
    def subject_label(self, obj):
        """The slip's / order's own number (what CS search by), linked to its page."""
        subject = obj.subject
        if subject is None:
            return f"（已删除）#{obj.object_id}"
        url = subject.get_absolute_url() if hasattr(subject, "get_absolute_url") else None
        if url is None:
            try:
                url = reverse(
                    f"admin:{obj.content_type.app_label}_{obj.content_type.model}_change",
                    args=[obj.object_id],
                )
            except NoReverseMatch:
                return str(subject)
        return format_html('<a href="{}">{}</a>', url, subject)
