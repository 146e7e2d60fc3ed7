"""Writing many rows without Django's per-row, per-value machinery.

`bulk_create` costs ~0.3 ms of Python per 25-column row (model __init__, per-value preparation) and
`bulk_update` builds a CASE WHEN per row and field: on hot paths (a downloaded page, a batch of
writebacks) that is more than the round trip to JD. These helpers take values that are already the
Python types the columns hold (str, int, bool, Decimal, aware datetime, None, dict/list for JSON);
only what a backend stores differently goes through the field's own preparation. Defaults,
auto_now and auto_now_add are filled as Django would.
"""

from django.db import connections, models
from django.utils import timezone

ADAPTED_EVERYWHERE = ("JSONField",)
ADAPTED_OFF_POSTGRES = ("DateTimeField", "DecimalField", "DateField")


def _needs_adapting(field, connection) -> bool:
    kind = field.get_internal_type()
    return kind in ADAPTED_EVERYWHERE or (kind in ADAPTED_OFF_POSTGRES and connection.vendor != "postgresql")


def _value(row, field):
    if isinstance(row, dict):
        if field.attname in row:
            return True, row[field.attname]
        if field.name in row:
            return True, row[field.name]
        return False, None
    return True, getattr(row, field.attname)


def insert_rows(
    model,
    rows,
    using: str = "default",
    *,
    skip_conflicts_on: tuple[str, ...] = (),
    returning: str | tuple[str, ...] | None = None,
) -> list | None:
    """INSERT rows (dicts of column values, or unsaved instances) in one statement. No ids back.

    `skip_conflicts_on` (the fields of a unique constraint): rows whose key is already there are
    left as they are (ON CONFLICT DO NOTHING), decided by the constraint's own index, with no
    planner choice involved. `returning` (a field name): the list of that field's values for the
    rows actually inserted; a tuple of names: a tuple of their values per inserted row."""
    if not rows:
        return [] if returning else None
    connection = connections[using]
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not isinstance(f, models.AutoField)]
    plan = []
    for field in fields:
        auto_now = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        default = now if auto_now else (field.get_default() if field.has_default() or field.null else "")
        plan.append((field, default, auto_now, _needs_adapting(field, connection)))
    params = []
    missing = object()
    for row in rows:
        if isinstance(row, dict):
            # The hot path (a downloaded page): one dict lookup per column.
            for field, default, auto_now, adapt in plan:
                value = row.get(field.attname, missing)
                if value is missing:
                    value = row.get(field.name, default)
                if value is None and auto_now:
                    value = default
                if adapt and value is not None:
                    value = field.get_db_prep_save(value, connection)
                params.append(value)
            continue
        for field, default, auto_now, adapt in plan:
            found, value = _value(row, field)
            if not found or (auto_now and value is None):
                value = default
            if adapt and value is not None:
                value = field.get_db_prep_save(value, connection)
            params.append(value)
    quote = connection.ops.quote_name
    row_sql = "(" + ", ".join(["%s"] * len(plan)) + ")"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f, *_ in plan)}) "
        f"VALUES {', '.join([row_sql] * len(rows))}"
    )
    if skip_conflicts_on:
        columns = ", ".join(quote(model._meta.get_field(name).column) for name in skip_conflicts_on)
        sql += f" ON CONFLICT ({columns}) DO NOTHING"
    names = (returning,) if isinstance(returning, str) else tuple(returning or ())
    if names:
        sql += " RETURNING " + ", ".join(quote(model._meta.get_field(name).column) for name in names)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if not names:
            return None
        rows = cursor.fetchall()
        return [row[0] for row in rows] if isinstance(returning, str) else [tuple(row) for row in rows]


def update_rows(model, objs, fields: list[str], using: str = "default") -> None:
    """UPDATE each object's `fields` to its in-memory values: one UPDATE … FROM (VALUES …) on
    PostgreSQL; elsewhere Django's bulk_update."""
    objs = list(objs)
    if not objs:
        return
    connection = connections[using]
    if connection.vendor != "postgresql":
        model.objects.using(using).bulk_update(objs, fields)
        return
    quote = connection.ops.quote_name
    pk = model._meta.pk
    targets = [model._meta.get_field(name) for name in fields]
    casts = [f"%s::{pk.db_type(connection)}"] + [f"%s::{f.db_type(connection)}" for f in targets]
    row_sql = "(" + ", ".join(casts) + ")"
    params = []
    for obj in objs:
        params.append(obj.pk)
        for field in targets:
            value = getattr(obj, field.attname)
            if _needs_adapting(field, connection) and value is not None:
                value = field.get_db_prep_save(value, connection)
            params.append(value)
    names = ["pk__"] + [f"v{i}" for i in range(len(targets))]
    sets = ", ".join(f"{quote(f.column)} = v.{names[i + 1]}" for i, f in enumerate(targets))
    sql = (
        f"UPDATE {quote(model._meta.db_table)} AS t SET {sets} "
        f"FROM (VALUES {', '.join([row_sql] * len(objs))}) AS v({', '.join(names)}) "
        f"WHERE t.{quote(pk.column)} = v.pk__"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def commit_without_waiting_for_disk(using: str = "default") -> None:
    """Inside a transaction: PostgreSQL commits it without waiting for the WAL flush (`SET LOCAL
    synchronous_commit TO OFF`, ~2 ms a commit on this class of disk). For writes that can be
    fetched again, such as a downloaded page of JD's data, and only those:

    - a crash loses at most the last few hundred milliseconds of such commits, never corrupts, and
      always a suffix: WAL is flushed in order, so any later ordinary commit (the sync cursor moving
      past the chunk, a writeback claim, an audit) makes every earlier one durable first;
    - the sync cursor moves with an ordinary commit after the pages, so a lost page is in a window
      the next run downloads again.

    Off with settings.SYNC_WAIT_FOR_DISK = True. Other backends: nothing to do."""
    from django.conf import settings

    connection = connections[using]
    if connection.vendor == "postgresql" and not getattr(settings, "SYNC_WAIT_FOR_DISK", False):
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
