"""`python -m local serve` keeps the local stack up; `python -m local run` runs the main job on it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def serve(args: argparse.Namespace) -> int:
    """API on :8000, WeCom simulator on :8001 until SIGTERM or Ctrl-C; prints the demo credentials, then `ready`."""
    from local.aws import LOOPBACK
    from local.environment import DemoEnvironment
    from local.ports import PortInUse, ensure_free

    try:
        for port, flag in (
            (args.api_port, "--api-port"),
            (args.wecom_port, "--wecom-port"),
            (args.aws_port, "--aws-port"),
        ):
            ensure_free(LOOPBACK, port, flag)
    except PortInUse as error:
        print(f"make serve: {error}", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with DemoEnvironment(
        api_port=args.api_port, wecom_port=args.wecom_port, aws_port=args.aws_port, customers=args.customers
    ) as env:
        assert env.stack is not None
        endpoints = f"aws={env.stack.aws_endpoint} sqs={env.stack.sqs_endpoint}"
        print(f"api={env.api_url} wecom={env.sim.base_url} {endpoints}", flush=True)
        print(env.credentials_line(), flush=True)
        print("ready", flush=True)
        stop.wait()
    print("stopped", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    # The main job shows progress bars and a report: the app's INFO lines and metrics would drown them. Set before
    # the app's logger is created.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    from local.demo import run_demo

    return run_demo(customers=args.customers, new_friends=args.new_friends, over_seconds=args.over_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="keep the local stack running in the foreground")
    serve_parser.add_argument("--api-port", type=int, default=8000)
    serve_parser.add_argument("--wecom-port", type=int, default=8001)
    serve_parser.add_argument("--aws-port", type=int, default=0, help="moto's port (0: a free one)")
    serve_parser.add_argument("--customers", type=int, default=2_000)
    serve_parser.set_defaults(func=serve)
    run_parser = commands.add_parser("run", help="run the main job end to end on a fresh local stack")
    run_parser.add_argument("--customers", type=int, default=5_000)
    run_parser.add_argument("--new-friends", type=int, default=300)
    run_parser.add_argument("--over-seconds", type=float, default=18.0, help="how long the burst of new friends lasts")
    run_parser.set_defaults(func=run)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
