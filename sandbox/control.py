"""The control API under `/_sandbox/`: JSON in, JSON out, for tests and demos. Faults never apply here.

Bad input answers 400 `{"error": "<field>: <what is wrong>"}`; unknown ids 404."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from . import demo, oauth
from .jos import Reply, json_reply
from .records import InputError
from .state import NotFound, SandboxState

Route = tuple[str, re.Pattern, Callable]


def _body(raw: bytes):
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise InputError("body", "must be JSON") from None


def _one(query: dict, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def health(state, match, query, body):
    return {"ok": True}


def reset(state, match, query, body):
    state.reset()
    return {"ok": True}


def shops_get(state, match, query, body):
    return {"shops": state.shops_view()}


def shops_post(state, match, query, body):
    return {"shop": state.upsert_shop(body)}


def token_get(state, match, query, body):
    with state.lock:
        return {"token": oauth.token_view(state, state._shop_or_error(match["app_key"]))}


def token_post(state, match, query, body):
    return {"token": oauth.control_token(state, match["app_key"], body)}


def orders_get(state, match, query, body):
    return {"orders": state.orders_view(_one(query, "app_key"))}


def orders_post(state, match, query, body):
    body = body if isinstance(body, dict) else {}
    return {"upserted": state.upsert_orders(body.get("app_key"), body.get("orders"))}


def order_get(state, match, query, body):
    return {"order": state.order_view(match["id"], _one(query, "app_key"))}


def order_post(state, match, query, body):
    return {"order": state.update_order(match["id"], body, _one(query, "app_key"))}


def refunds_get(state, match, query, body):
    return {"refunds": state.refunds_view(_one(query, "app_key"))}


def refunds_post(state, match, query, body):
    body = body if isinstance(body, dict) else {}
    return {"upserted": state.upsert_refunds(body.get("app_key"), body.get("refunds"))}


def refund_get(state, match, query, body):
    return {"refund": state.refund_view(match["id"], _one(query, "app_key"))}


def refund_post(state, match, query, body):
    return {"refund": state.update_refund(match["id"], body, _one(query, "app_key"))}


def service_orders_get(state, match, query, body):
    return {"service_orders": state.service_orders.list_view(_one(query, "app_key"))}


def service_orders_post(state, match, query, body):
    body = body if isinstance(body, dict) else {}
    return {"upserted": state.service_orders.upsert(body.get("app_key"), body.get("service_orders"))}


def service_order_get(state, match, query, body):
    return {"service_order": state.service_orders.get_view(match["id"], _one(query, "app_key"))}


def service_order_post(state, match, query, body):
    return {"service_order": state.service_orders.update(match["id"], body, _one(query, "app_key"))}


def service_order_ship(state, match, query, body):
    return {"service_order": state.service_orders.buyer_ship(match["id"], body, _one(query, "app_key"))}


def calls_get(state, match, query, body):
    return {"calls": state.calls_view(_one(query, "method"), _one(query, "app_key"))}


def calls_delete(state, match, query, body):
    state.clear_calls()
    return {"ok": True}


def faults_get(state, match, query, body):
    return {"faults": state.faults_view()}


def faults_post(state, match, query, body):
    return state.set_faults(body)


def faults_delete(state, match, query, body):
    state.clear_faults(_one(query, "app_key"))
    return {"ok": True}


def policy_post(state, match, query, body):
    return state.set_policy(body)


def demo_post(state, match, query, body):
    return {"loaded": state.load_demo(demo.build_demo())}


def _route(verb: str, pattern: str, view: Callable) -> Route:
    return verb, re.compile(f"^/_sandbox{pattern}/?$"), view


ROUTES: list[Route] = [
    _route("GET", "/health", health),
    _route("POST", "/reset", reset),
    _route("GET", "/shops", shops_get),
    _route("POST", "/shops", shops_post),
    _route("GET", r"/shops/(?P<app_key>[^/]+)/token", token_get),
    _route("POST", r"/shops/(?P<app_key>[^/]+)/token", token_post),
    _route("GET", "/orders", orders_get),
    _route("POST", "/orders", orders_post),
    _route("GET", r"/orders/(?P<id>[^/]+)", order_get),
    _route("POST", r"/orders/(?P<id>[^/]+)", order_post),
    _route("GET", "/refunds", refunds_get),
    _route("POST", "/refunds", refunds_post),
    _route("GET", r"/refunds/(?P<id>[^/]+)", refund_get),
    _route("POST", r"/refunds/(?P<id>[^/]+)", refund_post),
    _route("GET", "/service-orders", service_orders_get),
    _route("POST", "/service-orders", service_orders_post),
    _route("POST", r"/service-orders/(?P<id>[^/]+)/ship", service_order_ship),
    _route("GET", r"/service-orders/(?P<id>[^/]+)", service_order_get),
    _route("POST", r"/service-orders/(?P<id>[^/]+)", service_order_post),
    _route("GET", "/calls", calls_get),
    _route("DELETE", "/calls", calls_delete),
    _route("GET", "/faults", faults_get),
    _route("POST", "/faults", faults_post),
    _route("DELETE", "/faults", faults_delete),
    _route("POST", "/policy", policy_post),
    _route("POST", "/demo", demo_post),
]


def handle(state: SandboxState, verb: str, path: str, query: dict, raw_body: bytes) -> Reply:
    state.promote_due()
    path_matched = False
    for route_verb, pattern, view in ROUTES:
        match = pattern.match(path)
        if not match:
            continue
        path_matched = True
        if route_verb != verb:
            continue
        try:
            body = _body(raw_body) if verb == "POST" else {}
            return json_reply(view(state, match.groupdict(), query, body))
        except InputError as error:
            return json_reply({"error": str(error), "field": error.field}, 400)
        except NotFound as error:
            return json_reply({"error": str(error)}, 404)
    if path_matched:
        return json_reply({"error": f"method {verb} not allowed on {path}"}, 405)
    return json_reply({"error": f"no such control endpoint: {path}"}, 404)
