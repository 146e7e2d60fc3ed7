"""`python -m sandbox --host 127.0.0.1 --port 8765 [--demo] [--policy-delay 10]`

Prints one line with its URL when ready; SIGTERM or SIGINT stops it cleanly (exit status 0)."""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading

from sa_sync.demo_shops import WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE, WAREHOUSE_STATUS_SHIPMENT_CANCELLED

from . import demo
from .server import SandboxServer
from .state import SandboxState


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description="JD JOS / SA sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port (printed when ready)")
    parser.add_argument("--demo", action="store_true", help="load the two demo shops' orders and refunds")
    parser.add_argument(
        "--policy-delay",
        type=float,
        default=10.0,
        help="seconds between a writeback the SA policy waits for and the refund (status 3); default 10",
    )
    parser.add_argument(
        "--buyer-ships-after",
        type=float,
        default=None,
        help="seconds after JD approves a service order (退货/换货/维修) until the buyer ships the goods back "
        "(等待退货 → 等待收货); default: only when told to, POST /_sandbox/service-orders/<id>/ship",
    )
    parser.add_argument(
        "--status-shipment-cancelled",
        default=WAREHOUSE_STATUS_SHIPMENT_CANCELLED,
        help=f"updateWarehouseStatus value meaning 取消发货成功 (default {WAREHOUSE_STATUS_SHIPMENT_CANCELLED!r})",
    )
    parser.add_argument(
        "--status-goods-in-warehouse",
        default=WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE,
        help=f"updateWarehouseStatus value meaning 退货入仓 (default {WAREHOUSE_STATUS_GOODS_IN_WAREHOUSE!r})",
    )
    parser.add_argument("--fault-seed", type=int, default=None, help="seed the random faults (error_rate...)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    parser.add_argument(
        "--latency-ms", type=float, default=0, help="answer every JOS call this late (JD: ~50); default 0"
    )
    parser.add_argument(
        "--call-limit-per-second",
        type=int,
        default=None,
        help="per shop (app_key): calls beyond this many in one wall-clock second answer code 2",
    )
    args = parser.parse_args(argv)
    if args.latency_ms < 0:
        parser.error("--latency-ms must be >= 0")
    if args.call_limit_per_second is not None and args.call_limit_per_second < 0:
        parser.error("--call-limit-per-second must be >= 0")
    if args.policy_delay < 0:
        parser.error("--policy-delay must be >= 0")
    if args.buyer_ships_after is not None and args.buyer_ships_after < 0:
        parser.error("--buyer-ships-after must be >= 0")
    if args.status_shipment_cancelled == args.status_goods_in_warehouse:
        parser.error("the two writeback status values must differ")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    state = SandboxState(
        policy_delay=args.policy_delay,
        buyer_ships_after=args.buyer_ships_after,
        shipment_cancelled=args.status_shipment_cancelled,
        goods_in_warehouse=args.status_goods_in_warehouse,
        rng=random.Random(args.fault_seed),
    )
    if args.demo:
        state.load_demo(demo.build_demo())
    # The global faults: every shop inherits them (a shop's own faults, set later, go on top).
    defaults = {"latency_ms": args.latency_ms} if args.latency_ms else {}
    if args.call_limit_per_second is not None:
        defaults["call_limit_per_second"] = args.call_limit_per_second
    if defaults:
        state.set_faults(defaults)
    server = SandboxServer((args.host, args.port), state, quiet=args.quiet)

    def _stop(signum, frame):
        # Ask serve_forever to return at its next poll rather than raising into whatever the main
        # thread is doing (an exception raised mid-call could leave a lock or a thread start half
        # done, and a CI run once saw SIGTERM not end the process within 5 s). shutdown() waits for
        # serve_forever, so it runs on its own thread.
        threading.Thread(target=server.shutdown, name="sa-stop", daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    print(f"SA sandbox ready at {server.url} (JOS endpoint {server.url}/routerjson)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print("SA sandbox stopped", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
