"""The REST API under /api/v1/: thin views over the services. A key sees its own shop only; another
shop's object answers 404 exactly like one that does not exist."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig
from django.db import DataError, IntegrityError
from django.shortcuts import get_object_or_404
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from orders.models import Order, OrderLine
from refund_slips.models import RefundSlip
from refund_slips.services import (
    RefundSlipRefused,
    refund_quote,
    refund_slip_approve,
    refund_slip_create,
    refund_slip_mark_refunded,
    refund_slip_reject,
    shop_refund_settings,
)
from refunds.models import RawRefund
from returns.models import ReturnSlip
from returns.services import ReturnRefused, return_inbound_audit, return_inbound_record, return_slip_create
from sa_sync.models import AutoWritebackRun, WritebackJob, WritebackOutcome, WritebackTrigger
from sa_sync.writeback import refund_writeback, writeback_job_start

from . import serializers as s
from .auth import ApiKeyAuthentication, DocsAccess, HasApiKey
from .errors import RULE, BulkValidationError, Refused, exception_handler, flatten, not_found, only_rules
from .filters import (
    REFUND_SLIP_NUMBER,
    RETURN_SLIP_NUMBER,
    AutoWritebackRunFilter,
    OrderFilter,
    RawRefundFilter,
    RefundSlipFilter,
    ReturnSlipFilter,
    refund_slip_pk,
    return_slip_pk,
)
from .models import ApiWritebackJob
from .pagination import IdCursorPagination
from .parsers import BadBody, SafeJSONParser, too_large
from .services import PushConflict, orders_push, raw_refunds_push, summary
from .throttling import ApiKeyThrottle

logger = logging.getLogger(__name__)


class ApiView:
    """What every endpoint shares: key auth, per-key throttling, JSON only, the one error shape."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasApiKey]
    throttle_classes = [ApiKeyThrottle]
    renderer_classes = [JSONRenderer]
    parser_classes = [SafeJSONParser]
    pagination_class = IdCursorPagination

    def get_exception_handler(self):
        return exception_handler

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        bad = sorted({k for k, values in request.query_params.lists() for v in [k, *values] if "\x00" in v})
        if bad:
            # PostgreSQL refuses NUL in text: say so instead of failing the query.
            raise exceptions.ValidationError(
                {name.replace("\x00", "\\x00"): ["含有空字符"] for name in bad}, code=RULE
            )
        allowed = self.query_parameters()
        # A method the path does not take (action None) is answered 405 next, whatever its query.
        unknown = sorted(set(request.query_params) - allowed) if getattr(self, "action", None) else []
        if unknown:
            # Ignoring it would answer as if there were no filter at all: everything.
            known = "、".join(sorted(allowed)) or "无"
            raise exceptions.ValidationError(
                {name: [f"未知的查询参数（本接口支持：{known}）"] for name in unknown}
            )
        for name in ("cursor", "page_size"):  # the filters check their own (api.filters.StrictForm)
            values = request.query_params.getlist(name)
            if len(values) > 1 or values == [""]:
                raise exceptions.ValidationError({name: ["只能给一个值" if values[1:] else "不能为空"]})
        length = request.META.get("CONTENT_LENGTH") or "0"
        limit = settings.API_MAX_BODY_BYTES
        if length.isdigit() and int(length) > limit:
            raise too_large(limit, int(length))

    def query_parameters(self) -> set[str]:
        """The query parameters this operation documents: a list's filters and pages, else none."""
        if getattr(self, "action", None) != "list":
            return set()
        names = {"cursor", "page_size"} if self.pagination_class else set()
        filterset = getattr(self, "filterset_class", None)
        return names | set(filterset.base_filters if filterset else ())

    def throttled(self, request, wait):
        quota = request.api_quota
        exc = exceptions.Throttled(
            detail=f"请求过于频繁：每个API密钥每分钟最多 {quota.limit} 次，请 {quota.retry_after} 秒后重试"
        )
        exc.wait = quota.retry_after  # Retry-After; given after the detail so the message says it once
        raise exc

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        quota = getattr(request, "api_quota", None)
        if quota is not None:
            for name, value in quota.headers().items():
                response[name] = value
        return response

    def handle_exception(self, exc):
        if isinstance(exc, exceptions.ParseError) and not isinstance(exc, BadBody):
            exc = exceptions.ParseError("请求体不是有效的 JSON")
        elif isinstance(exc, RequestDataTooBig):
            # Django's own cap (DATA_UPLOAD_MAX_MEMORY_SIZE), met by a body without Content-Length.
            exc = too_large(settings.API_MAX_BODY_BYTES)
        elif isinstance(exc, DataError):
            # A value the database cannot hold got past validation: the caller's input, not our fault.
            logger.warning("API value refused by the database: %s", exc)
            exc = exceptions.ValidationError(
                {"": ["数据超出允许的范围（例如时间、数字或文字长度），请检查后重试"]}, code=RULE
            )
        elif isinstance(exc, IntegrityError):
            # Two writers raced on the same new row: the request changed nothing, and may be repeated.
            logger.warning("API write conflict: %s", exc)
            exc = Refused("与同时进行的另一次写入冲突，本次未做任何修改，请重试")
        elif isinstance(exc, ReturnRefused | RefundSlipRefused):
            exc = Refused(exc.message)
        return super().handle_exception(exc)

    @property
    def shop(self):
        return self.request.auth.shop

    def for_shop(self, queryset):
        """Only the key's shop: anything else is "not found", never "forbidden"."""
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request, no key
            return queryset.none()
        return queryset.filter(shop=self.shop)

    @property
    def actor(self) -> str:
        return self.request.auth.actor_name


def bulk_items(request, serializer_class) -> list[dict]:
    """All or nothing: every bad item is listed by index and field, in one answer."""
    data = request.data
    if not isinstance(data, dict):
        raise BulkValidationError(
            [{"index": None, "field": "", "message": '请求体须为对象：{"items": [...]}'}]
        )
    unknown = sorted(set(data) - {"items"})
    items = data.get("items")
    errors = [{"index": None, "field": name, "message": "未知字段"} for name in unknown]
    if not isinstance(items, list):
        errors.append({"index": None, "field": "items", "message": "缺少 items 或 items 不是列表"})
        raise BulkValidationError(errors)
    if not items:
        errors.append({"index": None, "field": "items", "message": "items 不能为空"})
    if len(items) > s.MAX_BULK_ITEMS:
        errors.append(
            {
                "index": None,
                "field": "items",
                "message": f"一次最多 {s.MAX_BULK_ITEMS} 条，本次 {len(items)} 条，请分批提交",
            }
        )
    if errors:
        raise BulkValidationError(errors)
    serializer = serializer_class(data=items, many=True)
    if not serializer.is_valid():
        item_errors = serializer.errors
        # DRF gives a list aligned with the items, or (newer versions) a dict of the bad ones by index.
        pairs = item_errors.items() if isinstance(item_errors, dict) else enumerate(item_errors)
        for index, problems in sorted(pairs, key=lambda pair: int(pair[0])):
            if problems:
                errors += flatten(problems, index=int(index))
        raise BulkValidationError(errors, rule=only_rules(item_errors))
    return serializer.validated_data


def order_lines_by_oid(order: Order, lines: dict[str, int], field: str = "lines") -> dict[int, int]:
    """{原始子单号: 数量} → {order line id: 数量}; an oid the order does not have is a 400 naming it."""
    known = dict(OrderLine.objects.filter(order=order).values_list("oid", "id"))
    missing = [oid for oid in lines if oid not in known]
    if missing:
        raise BulkValidationError(
            [
                {"index": None, "field": f"{field}.{oid}", "message": f"订单 {order.tid} 没有子订单 {oid}"}
                for oid in missing
            ],
            rule=True,
        )
    return {known[oid]: quantity for oid, quantity in lines.items()}


ERRORS = {
    400: OpenApiResponse(
        s.ErrorOut, description="请求不符合接口定义：errors 列出每个出错条目的 index 与 field"
    ),
    401: OpenApiResponse(s.ErrorOut, description="未认证、密钥无效、已吊销或已过期"),
    404: OpenApiResponse(s.ErrorOut, description="对象不存在（或属于其他店铺）"),
    409: OpenApiResponse(s.ErrorOut, description="当前状态不允许该操作"),
    413: OpenApiResponse(s.ErrorOut, description="请求体过大"),
    422: OpenApiResponse(s.ErrorOut, description="数据符合接口定义，但不满足业务规则：errors 说明每一条"),
    429: OpenApiResponse(s.ErrorOut, description="请求过于频繁（见 Retry-After 头）"),
}


REFUND_SLIP_NUMBER_PARAM = OpenApiParameter(
    "number",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="退款单号（TK 加 8 位以上数字）",
    pattern=f"^{REFUND_SLIP_NUMBER}$",
    examples=[
        OpenApiExample("待审核的退款单", value="TK00424242"),
        OpenApiExample("待退款的退款单", value="TK00424243"),
    ],
)
RETURN_SLIP_NUMBER_PARAM = OpenApiParameter(
    "number",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="退货单号（TH 加 8 位以上数字）",
    pattern=f"^{RETURN_SLIP_NUMBER}$",
    examples=[OpenApiExample("退货单", value="TH00000001")],
)
ORDER_TID = OpenApiParameter(
    "tid",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="平台订单号",
    examples=[OpenApiExample("订单", value="3000000002")],
)
REFUND_NO = OpenApiParameter(
    "refund_no",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="平台退款单号",
    examples=[OpenApiExample("原始退款单", value="8000000001")],
)


def slip_by_number(view, parse):
    """A slip addressed by its number (TH…/TK…): the back office's own, read in the key's shop."""
    pk = parse(view.kwargs["number"])
    if pk is None:
        raise exceptions.NotFound()
    slip = get_object_or_404(view.get_queryset(), pk=pk)
    view.check_object_permissions(view.request, slip)
    return slip


def push_schema(serializer, label, operation_id):
    return extend_schema(
        operation_id=operation_id,
        summary=f"批量推送{label}",
        description=(
            f"一次最多 {s.MAX_BULK_ITEMS} 条，全部通过校验才写入（任一条有误则整批不写，400 列出每条错误）。"
            "按 modified 幂等：相同内容重复推送不产生变化；更新的 modified 覆盖；更旧的 modified 被忽略，并在该条结果中说明。"
            "不符合接口定义的条目 400；符合定义但违反规则的（modified 晚于当前时间、同一请求中单号重复、"
            "子订单已属于其他订单等）422；两者都有时 400，errors 列出全部。"
        ),
        request=serializer,
        responses={200: s.PushResult, **ERRORS},
    )


@extend_schema_view(
    list=extend_schema(
        summary="原始退款单列表", description="按 id 倒序、游标分页；可按状态、类型、时间范围、单号列表筛选。"
    ),
    retrieve=extend_schema(summary="读取一条原始退款单", parameters=[REFUND_NO]),
)
class RawRefundViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    lookup_field = "refund_no"  # unique per shop
    lookup_value_regex = "[^/]+"
    serializer_class = s.RawRefundOut
    filterset_class = RawRefundFilter

    def get_queryset(self):
        return self.for_shop(RawRefund.objects.select_related("shop"))

    @push_schema(s.RawRefundBulkIn, "原始退款单", "raw_refunds_push")
    def create(self, request):
        items = bulk_items(request, s.RawRefundIn)
        try:
            results = raw_refunds_push(self.shop, items, by=self.actor)
        except PushConflict as conflict:
            raise BulkValidationError(conflict.errors, rule=True) from None
        return Response(s.push_answer(summary(results)))

    @extend_schema(
        operation_id="raw_refunds_writeback",
        summary="退款回传",
        description=(
            "与后台右键“退款回传”相同的操作与提示：每条退款单一条结果。"
            "超过后台阈值（WRITEBACK_BACKGROUND_OVER，默认 20 条）时转为后台任务，返回 202 及任务地址，"
            "轮询 /api/v1/writeback-jobs/{id}/ 查看进度和每条结果。"
            "计数相加等于总数：succeeded + refused + failed + unknown。"
        ),
        request=s.WritebackIn,
        responses={200: s.WritebackOut, 202: s.WritebackAccepted, **ERRORS},
    )
    @action(detail=False, methods=["post"], url_path="writeback")
    def writeback(self, request):
        serializer = s.WritebackIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        refund_nos = list(dict.fromkeys(serializer.validated_data["refund_nos"]))
        ids = dict(
            RawRefund.objects.filter(shop=self.shop, refund_no__in=refund_nos).values_list("refund_no", "id")
        )
        found = [ids[no] for no in refund_nos if no in ids]
        if len(found) > settings.WRITEBACK_BACKGROUND_OVER:
            job = writeback_job_start(sorted(found), by=self.actor, trigger=WritebackTrigger.API)
            ApiWritebackJob.objects.create(job=job, shop=self.shop, api_key=request.auth)
            missing = len(refund_nos) - len(found)
            message = f"共 {len(found)} 条，已转为后台批量回传"
            if missing:
                message += f"；另有 {missing} 个退款单号不存在，未处理"
            body = {"message": message, "job": s.WritebackJobOut(job).data}
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["job"]["url"]})
        by_id = {r.slip_id: r for r in refund_writeback(found, by=self.actor, trigger=WritebackTrigger.API)}
        results, unknown = [], 0
        for no in refund_nos:
            result = by_id.get(ids.get(no))
            if no not in ids:
                results.append(s.writeback_result(no, WritebackOutcome.REFUSED, "退款单不存在"))
            elif result is None:
                unknown += 1  # the verb answers for every slip it was given; counted, never hidden
            else:
                results.append(s.writeback_result(no, result.outcome, result.message))
        return Response({**s.writeback_counts(results, len(refund_nos), unknown), "results": results})


@extend_schema_view(
    list=extend_schema(summary="系统订单列表", description="按 id 倒序、游标分页，含子订单。"),
    retrieve=extend_schema(summary="读取一张系统订单（含子订单）"),
)
class OrderViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.OrderOut
    filterset_class = OrderFilter
    lookup_field = "tid"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return self.for_shop(Order.objects.select_related("shop").prefetch_related("lines"))

    @push_schema(s.OrderBulkIn, "系统订单（含子订单）", "orders_push")
    def create(self, request):
        items = bulk_items(request, s.OrderIn)
        try:
            results = orders_push(self.shop, items, by=self.actor)
        except PushConflict as conflict:
            raise BulkValidationError(conflict.errors, rule=True) from None
        return Response(s.push_answer(summary(results)))

    @extend_schema(
        operation_id="orders_refund_quote",
        summary="退款试算",
        description=(
            "按店铺的优惠处理方式（或 strategy 指定的方式）计算退这些子订单（或整单）可退多少，"
            "返回金额和中文计算过程；不能退时 refusal 说明原因。不创建任何数据，可反复调用。"
            "已有退款单（驳回、已取消的除外）退过的数量不再计入。"
        ),
        parameters=[ORDER_TID],
        request=s.RefundQuoteIn,
        responses={200: s.RefundQuoteOut, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="refund-quote")
    def refund_quote(self, request, tid=None):
        order = self.get_object()
        serializer = s.RefundQuoteIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        lines = None if data["whole_order"] else order_lines_by_oid(order, data["lines"])
        strategy = data.get("strategy") or shop_refund_settings(order.shop_id).strategy
        quote = refund_quote(order_id=order.pk, lines=lines, strategy=strategy)
        oid_of = {line.pk: line.oid for line in order.lines.all()}
        body = {
            "amount": quote.amount,
            "strategy": strategy,
            "whole_order": data["whole_order"],  # what was asked, also when the quote is a refusal
            "steps": quote.steps,
            "text": quote.text,
            "refusal": quote.refusal,
            "lines": [{"oid": oid_of[i], "amount": a} for i, a in sorted(quote.line_amounts.items())],
        }
        return Response(s.RefundQuoteOut(body).data)


@extend_schema_view(retrieve=extend_schema(summary="查询后台回传任务进度与结果"))
class WritebackJobViewSet(ApiView, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    # A job has no business key: its number is its address (the 202's Location). A non-number
    # answers the JSON 404, not the site's HTML page.
    lookup_value_regex = "[^/]+"
    serializer_class = s.WritebackJobOut

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WritebackJob.objects.none()
        mine = ApiWritebackJob.objects.filter(shop=self.shop).values("job_id")
        return WritebackJob.objects.filter(pk__in=mine)


@extend_schema_view(
    list=extend_schema(summary="退货单列表"),
    retrieve=extend_schema(
        summary="读取一张退货单（含明细与入库数量）", parameters=[RETURN_SLIP_NUMBER_PARAM]
    ),
)
class ReturnSlipViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    lookup_url_kwarg = "number"
    lookup_value_regex = "[^/]+"  # anything else than a number answers the JSON 404
    serializer_class = s.ReturnSlipOut
    filterset_class = ReturnSlipFilter

    def get_object(self):
        return slip_by_number(self, return_slip_pk)

    def get_queryset(self):
        return self.for_shop(
            ReturnSlip.objects.select_related("order", "raw_refund", "inbound").prefetch_related(
                "lines__order_line", "inbound__lines"
            )
        )

    @extend_schema(
        summary="建退货单",
        description="按“退货”类型的原始退款单建（refund_no），或按订单手工建（tid + lines）。规则与后台“建退货单”相同。",
        request=s.ReturnSlipIn,
        responses={201: s.ReturnSlipOut, **ERRORS},
    )
    def create(self, request):
        serializer = s.ReturnSlipIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {
            "by": self.actor,
            "logistics_company": data["logistics_company"],
            "logistics_no": data["logistics_no"],
            "remark": data["remark"],
            "approve": data["approve"],
        }
        if data.get("refund_no"):
            raw = RawRefund.objects.filter(shop=self.shop, refund_no=data["refund_no"]).first()
            if raw is None:
                raise BulkValidationError(
                    [{"index": None, "field": "refund_no", "message": "原始退款单不存在"}], rule=True
                )
            slip = return_slip_create(raw_refund=raw, quantity=data.get("quantity"), **common)
        else:
            order = Order.objects.filter(shop=self.shop, tid=data["tid"]).first()
            if order is None:
                raise BulkValidationError(
                    [{"index": None, "field": "tid", "message": "系统订单不存在"}], rule=True
                )
            lines, errors = {}, []
            known = dict(OrderLine.objects.filter(order=order).values_list("oid", "id"))
            for position, line in enumerate(data["lines"]):
                if line["oid"] not in known:
                    errors.append(
                        {
                            "index": None,
                            "field": f"lines.{position}.oid",
                            "message": f"订单 {order.tid} 没有子订单 {line['oid']}",
                        }
                    )
                elif known[line["oid"]] in lines:
                    errors.append({"index": None, "field": f"lines.{position}.oid", "message": "子订单重复"})
                else:
                    lines[known[line["oid"]]] = line["quantity"]
            if errors:
                raise BulkValidationError(errors, rule=True)
            slip = return_slip_create(order=order, lines=lines, **common)
        return Response(
            s.ReturnSlipOut(self.get_queryset().get(pk=slip.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        operation_id="return_slips_record_inbound",
        parameters=[RETURN_SLIP_NUMBER_PARAM],
        summary="登记退货入库（可同时审核）",
        description=(
            "按原始子单号登记良品/残次数量；audit=true 时立即入库审核：实收与申请一致则入库完成，"
            "并按店铺到货规则回传“退货入仓”；不一致则转客服确认。规则与后台“退货入库”相同。"
        ),
        request=s.InboundIn,
        responses={200: s.InboundOut, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="inbounds")
    def inbounds(self, request, number=None):
        slip = self.get_object()
        serializer = s.InboundIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        by_oid = {line.order_line.oid: line.pk for line in slip.lines.all()}
        received, errors = {}, []
        for position, line in enumerate(data["lines"]):
            line_id = by_oid.get(line["oid"])
            if line_id is None:
                errors.append(
                    {
                        "index": None,
                        "field": f"lines.{position}.oid",
                        "message": f"退货单 {slip.number} 没有子订单 {line['oid']}",
                    }
                )
            elif line_id in received:
                errors.append({"index": None, "field": f"lines.{position}.oid", "message": "子订单重复"})
            else:
                received[line_id] = (line["good_quantity"], line["damaged_quantity"])
        if errors:
            raise BulkValidationError(errors, rule=True)
        if data["audit"]:
            result = return_inbound_audit(slip.pk, by=self.actor, received=received)
            body = {
                "audited": True,
                "completed": result.completed,
                "message": result.message,
                "writebacks": [
                    s.writeback_result(r.refund_no, r.outcome, r.message) for r in result.writeback_results
                ],
            }
        else:
            return_inbound_record(slip.pk, received, by=self.actor)
            body = {
                "audited": False,
                "completed": False,
                "message": f"退货单 {slip.number} 已登记入库数量",
                "writebacks": [],
            }
        body["return_slip"] = s.ReturnSlipOut(self.get_queryset().get(pk=slip.pk)).data
        return Response(body)


@extend_schema_view(
    list=extend_schema(
        summary="自动回传运行记录", description="本店铺自动回传规则每次运行的结果，按 id 倒序。"
    ),
    retrieve=extend_schema(summary="读取一次自动回传运行"),
)
class AutoWritebackRunViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    # A run has no business key: its number is its address. A non-number answers the JSON 404.
    lookup_value_regex = "[^/]+"
    serializer_class = s.AutoWritebackRunOut
    filterset_class = AutoWritebackRunFilter

    def get_queryset(self):
        return self.for_shop(AutoWritebackRun.objects.all())


@extend_schema_view(
    list=extend_schema(
        summary="退款单列表",
        description="按 id 倒序、游标分页；可按状态、来源、创建时间范围、订单号列表、是否需关注筛选。",
    ),
    retrieve=extend_schema(
        summary="读取一张退款单（含明细、金额调整与审核记录）", parameters=[REFUND_SLIP_NUMBER_PARAM]
    ),
)
class RefundSlipViewSet(ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    lookup_url_kwarg = "number"
    lookup_value_regex = "[^/]+"  # anything else than a number answers the JSON 404
    serializer_class = s.RefundSlipOut
    filterset_class = RefundSlipFilter

    def get_object(self):
        return slip_by_number(self, refund_slip_pk)

    def get_queryset(self):
        return self.for_shop(
            RefundSlip.objects.select_related("order", "raw_refund", "return_slip").prefetch_related(
                "lines__order_line", "adjustments"
            )
        )

    def answer(self, slip_id, status_code=status.HTTP_200_OK, message=None):
        body = s.RefundSlipOut(self.get_queryset().get(pk=slip_id)).data
        if message is not None:
            body = {"message": message, "refund_slip": body}
        return Response(body, status=status_code)

    def not_found(self, field, message):
        return BulkValidationError([{"index": None, "field": field, "message": message}], rule=True)

    @extend_schema(
        summary="建退款单",
        description=(
            "三种方式，须且只能选一种：按原始退款单（raw_refund_no）；按入库完成的退货单（return_slip_number）；"
            "按订单手工建（tid，加 lines 子订单及数量、whole_order 整单，和/或 compensation 补偿金额与原因）。"
            "金额按店铺的优惠处理方式计算，规则与后台“建退款单”相同；同一子订单已有未驳回、未取消的退款单时返回 409。"
        ),
        request=s.RefundSlipIn,
        responses={201: s.RefundSlipOut, **ERRORS},
    )
    def create(self, request):
        serializer = s.RefundSlipIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        common = {"by": self.actor, "reason": data["reason"]}
        if data.get("raw_refund_no") is not None:
            raw = RawRefund.objects.filter(shop=self.shop, refund_no=data["raw_refund_no"]).first()
            if raw is None:
                raise self.not_found("raw_refund_no", "原始退款单不存在")
            slip = refund_slip_create(raw_refund_id=raw.pk, **common)
        elif data.get("return_slip_number") is not None:
            return_slip_id = return_slip_pk(data["return_slip_number"])
            if not ReturnSlip.objects.filter(shop=self.shop, pk=return_slip_id).exists():
                raise self.not_found("return_slip_number", "退货单不存在")
            slip = refund_slip_create(return_slip_id=return_slip_id, **common)
        else:
            order = Order.objects.filter(shop=self.shop, tid=data["tid"]).first()
            if order is None:
                raise self.not_found("tid", "系统订单不存在")
            lines = order_lines_by_oid(order, data["lines"]) if data.get("lines") else None
            compensation = data.get("compensation")
            if compensation is not None:
                common["reason"] = common["reason"] or compensation["reason"]
            slip = refund_slip_create(
                order_id=order.pk,
                lines=lines,
                whole_order=data["whole_order"],
                compensation=compensation["amount"] if compensation else None,
                **common,
            )
        return self.answer(slip.pk, status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="refund_slips_approve",
        summary="审核通过（按密钥的审核级别）",
        description=(
            "按 API 密钥的“退款单审核级别”审核：1 级同客服，金额不超过店铺一级审核上限即审核通过（待退款），"
            "超过则待二级审核；2 级同财务，做二级审核。同一退款单的两级审核不能由同一密钥完成。"
            "密钥审核级别为 0 时返回 403；状态或级别不允许时返回 409 并说明原因。"
        ),
        parameters=[REFUND_SLIP_NUMBER_PARAM],
        request=None,
        responses={
            200: s.ReviewOut,
            403: OpenApiResponse(s.ErrorOut, description="此 API 密钥没有退款单审核级别"),
            **ERRORS,
        },
    )
    @action(detail=True, methods=["post"], url_path="approve")
    def approve(self, request, number=None):
        slip = self.get_object()
        level = request.auth.review_level
        if not level:
            raise exceptions.PermissionDenied(
                f"API密钥“{request.auth.name}”没有退款单审核级别，请在后台“API密钥”中设置后再审核"
            )
        result = refund_slip_approve(slip.pk, by=self.actor, level=level)
        return self.answer(slip.pk, message=result.message)

    @extend_schema(
        operation_id="refund_slips_reject",
        summary="驳回",
        description="驳回待审核或待退款的退款单（须填写原因）；驳回后其子订单可再建售后。",
        parameters=[REFUND_SLIP_NUMBER_PARAM],
        request=s.RejectIn,
        responses={200: s.RefundSlipOut, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="reject")
    def reject(self, request, number=None):
        slip = self.get_object()
        serializer = s.RejectIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        refund_slip_reject(slip.pk, by=self.actor, reason=serializer.validated_data["reason"])
        return self.answer(slip.pk)

    @extend_schema(
        operation_id="refund_slips_mark_refunded",
        summary="确认退款完成（自有渠道订单）",
        description=(
            "商家自有渠道的退款单（不对应京东退款申请）由对接系统确认已退款：待退款 → 退款完成。"
            "amount 为实退金额（可选），与应退金额不同时记录差异待财务核对。"
            "对应京东退款申请的退款单以京东“退款成功”为准，返回 409。"
        ),
        parameters=[REFUND_SLIP_NUMBER_PARAM],
        request=s.MarkRefundedIn,
        responses={200: s.RefundSlipOut, **ERRORS},
    )
    @action(detail=True, methods=["post"], url_path="mark-refunded")
    def mark_refunded(self, request, number=None):
        slip = self.get_object()
        serializer = s.MarkRefundedIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        refund_slip_mark_refunded(slip.pk, by=self.actor, amount=data["amount"], reason=data["reason"])
        return self.answer(slip.pk)


@csrf_exempt  # the view it hands over to (a DRF view) does its own checks
def without_trailing_slash(request, path):
    """/api/v1/raw-refunds (no final slash) is served as /api/v1/raw-refunds/. Django's APPEND_SLASH
    cannot redirect a POST without losing its body (with DEBUG on it even fails with a 500), and a
    client that forgot the slash should not have to learn that from an error."""
    try:
        match = resolve(request.path_info + "/", getattr(request, "urlconf", None))
    except Resolver404:
        return not_found(request)
    return match.func(request, *match.args, **match.kwargs)


class DocsAccessMixin:
    """Who may read the schema and its page: api.auth.DocsAccess (production: staff or an API key)."""

    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [DocsAccess]

    def get_exception_handler(self):
        return exception_handler


class SchemaView(DocsAccessMixin, SpectacularAPIView):
    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        # The error in the API's JSON shape, whatever format (YAML by default) the schema was asked in.
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response


class DocsView(DocsAccessMixin, SpectacularSwaggerView):
    def handle_exception(self, exc):
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.PermissionDenied):
            # A person in a browser: the back office's login, then back to the docs.
            return redirect_to_login(self.request.get_full_path(), reverse("admin:login"))
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return response
