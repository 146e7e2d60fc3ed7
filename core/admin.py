from django.contrib import admin

from .admin_utils import ErpModelAdmin, ReadOnlyMixin
from .models import Event


@admin.register(Event)
class EventAdmin(ReadOnlyMixin, ErpModelAdmin):
    list_display = [
        "created_at",
        "actor_name",
        "content_type",
        "object_id",
        "action",
        "from_state",
        "to_state",
        "reason",
    ]
    list_filter = ["content_type"]
    list_select_related = ["content_type"]
    search_fields = ["=actor_name", "=object_id"]
    show_full_result_count = False
