"""`casebus infra up|down|status`: the local Kafka cluster."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from infra.config import Settings
from infra.kafka import LocalCluster


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    infra = subparsers.add_parser("infra", help="start, stop or show the local Kafka cluster")
    actions = infra.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="start the local cluster (idempotent)")
    up.add_argument("--nodes", type=int, choices=(1, 3), default=1)
    up.set_defaults(func=_up)
    actions.add_parser("down", help="stop the local cluster, keeping its data").set_defaults(
        func=_down
    )
    actions.add_parser("status", help="show the local cluster").set_defaults(func=_status)


def _cluster() -> LocalCluster:
    return LocalCluster(Settings.from_env().home)


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    bootstrap = _cluster().up(args.nodes, progress=_progress)
    print(bootstrap)
    print(
        f"Kafka {args.nodes}-node cluster ready in {time.monotonic() - started:.1f} s; "
        f"other commands find it by themselves, or export CASEBUS_KAFKA_BOOTSTRAP={bootstrap}",
        file=sys.stderr,
    )
    return 0


def _progress(message: str) -> None:
    print(message, file=sys.stderr)


def _down(args: argparse.Namespace) -> int:
    stopped = _cluster().down()
    print(f"stopped {stopped} Kafka node(s)", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    cluster = _cluster()
    state = cluster.state()
    if state is None:
        print("no local cluster: run `casebus infra up`")
        return 1
    running = {n.node_id for n in cluster.running_nodes(state)}
    print(f"cluster {state.cluster_id} (Kafka {state.kafka_version}), bootstrap {state.bootstrap}")
    for node in state.nodes:
        alive = "running" if node.node_id in running else "stopped"
        print(
            f"  node {node.node_id}: {alive}, pid {node.pid or '-'}, broker port "
            f"{node.broker_port}, controller port {node.controller_port}, "
            f"log {cluster.node_log(node)}"
        )
    return 0 if len(running) == len(state.nodes) else 1
