"""A local Apache Kafka cluster in KRaft mode, started with `java` from the jar cache.

Each node is a combined broker and controller. The first start chooses free ports and keeps
them in the cluster's state file, with the node processes; later starts reuse the ports, so
the data, and every client's idea of the address, stays valid across `down` and `up`.

Layout under `<home>/kafka/`:
    cluster.json          ports, cluster id, process ids, bootstrap address
    node-N/server.properties, node-N/data/, node-N/logs/ (server.log, stdout.log)
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final

from infra.errors import InfraError
from infra.jars import KAFKA_VERSION, JarCache, require_java

LOG4J_CONFIG: Final = Path(__file__).with_name("log4j2.yaml")
START_TIMEOUT_S: Final = 120.0
STOP_TIMEOUT_S: Final = 30.0
_HEAP: Final = ("-Xms256m", "-Xmx768m")


@dataclass
class Node:
    node_id: int
    broker_port: int
    controller_port: int
    pid: int | None = None


@dataclass
class ClusterState:
    cluster_id: str
    kafka_version: str
    nodes: list[Node] = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.broker_port}" for n in self.nodes)

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "bootstrap": self.bootstrap}, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ClusterState:
        raw = json.loads(text)
        nodes = [Node(**n) for n in raw["nodes"]]
        return cls(raw["cluster_id"], raw["kafka_version"], nodes)


def new_cluster_id(random_bytes: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A cluster id for `StorageTool format`: URL-safe base64 of 16 bytes, no padding.

    Never one that starts with '-': the tool would read it as an option and refuse to format
    (1 draw in 64). Kafka's own `Uuid.randomUuid` draws again for the same reason.
    """
    while True:
        candidate = base64.urlsafe_b64encode(random_bytes()).rstrip(b"=").decode()
        if not candidate.startswith("-"):
            return candidate


class LocalCluster:
    """The local cluster whose state lives under `<home>/kafka`."""

    def __init__(self, home: Path, jar_cache: Path | None = None) -> None:
        self.dir = home / "kafka"
        self.state_file = self.dir / "cluster.json"
        jar_root = jar_cache or Path(os.environ.get("CASEBUS_JAR_CACHE") or home / "jars")
        self.jars = JarCache(jar_root)
        # Nodes this very process spawned: their exit is seen by poll(), even before exec.
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- queries ---------------------------------------------------------------------------

    def state(self) -> ClusterState | None:
        try:
            return ClusterState.from_json(self.state_file.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            raise InfraError(
                f"{self.state_file} is corrupt: delete {self.dir} and run again"
            ) from None

    def running_nodes(self, state: ClusterState) -> list[Node]:
        return [n for n in state.nodes if self._is_running(n)]

    def _is_running(self, node: Node) -> bool:
        child = self._children.get(node.node_id)
        if child is not None:
            return child.poll() is None
        return self._is_our_process(node)

    def running_bootstrap(self) -> str:
        """The address of the running local cluster, or a one-line error saying how to start it."""
        state = self.state()
        if state is None or not state.nodes or len(self.running_nodes(state)) != len(state.nodes):
            raise InfraError(
                "no local Kafka broker is running: run `casebus infra up`, "
                "or set CASEBUS_KAFKA_BOOTSTRAP"
            )
        return state.bootstrap

    # -- up --------------------------------------------------------------------------------

    def up(self, nodes: int = 1, progress: Callable[[str], None] = lambda _: None) -> str:
        """Start the cluster unless it already runs; return its bootstrap address."""
        if nodes not in (1, 3):
            raise InfraError(f"--nodes {nodes}: a local cluster has 1 or 3 nodes")
        java = require_java()
        state = self.state()
        if state is not None and len(state.nodes) != nodes:
            if self.running_nodes(state):
                raise InfraError(
                    f"a {len(state.nodes)}-node cluster is running: run `casebus infra down` first"
                )
            raise InfraError(
                f"{self.dir} holds a {len(state.nodes)}-node cluster: "
                f"delete {self.dir} to start a {nodes}-node one"
            )
        if state is not None and len(self.running_nodes(state)) == nodes:
            _wait_until_answering(state, nodes, timeout=START_TIMEOUT_S)
            return state.bootstrap
        self.jars.ensure(progress)
        if state is None:
            state = self._create(nodes, java)
        else:
            self._stop_nodes(state)  # a half-running cluster is restarted whole
        self._check_ports_free(state)
        self._start(state, java)
        return state.bootstrap

    def _create(self, nodes: int, java: str) -> ClusterState:
        ports = _free_ports(2 * nodes)
        cluster_id = new_cluster_id()
        state = ClusterState(
            cluster_id,
            KAFKA_VERSION,
            [Node(i + 1, ports[2 * i], ports[2 * i + 1]) for i in range(nodes)],
        )
        for node in state.nodes:
            node_dir = self._node_dir(node)
            (node_dir / "logs").mkdir(parents=True, exist_ok=True)
            (node_dir / "server.properties").write_text(_server_properties(state, node, node_dir))
            self._format(node, cluster_id, java)
        self._save(state)
        return state

    def _format(self, node: Node, cluster_id: str, java: str) -> None:
        node_dir = self._node_dir(node)
        log = node_dir / "logs" / "format.log"
        with log.open("w") as out:
            result = subprocess.run(
                [
                    java,
                    *self._jvm_flags(node_dir),
                    "-cp",
                    self.jars.classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(node_dir / "server.properties"),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if result.returncode != 0:
            raise InfraError(f"formatting node {node.node_id}'s storage failed: see {log}")

    def _start(self, state: ClusterState, java: str) -> None:
        try:
            for node in state.nodes:
                node.pid = self._spawn(node, java)
            self._save(state)
            _wait_until_answering(state, len(state.nodes), timeout=START_TIMEOUT_S, watch=self)
        except BaseException:
            # No half-started processes are left behind, whatever went wrong.
            self._stop_nodes(state)
            raise

    def _spawn(self, node: Node, java: str) -> int:
        node_dir = self._node_dir(node)
        stdout = (node_dir / "logs" / "stdout.log").open("ab")
        with stdout:
            self._children[node.node_id] = process = subprocess.Popen(
                [
                    java,
                    *_HEAP,
                    "-XX:+UseG1GC",
                    "-Djava.awt.headless=true",
                    *self._jvm_flags(node_dir),
                    "-cp",
                    self.jars.classpath,
                    "kafka.Kafka",
                    str(node_dir / "server.properties"),
                ],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives `casebus infra up`, survives its Ctrl-C
            )
        return process.pid

    def _jvm_flags(self, node_dir: Path) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={node_dir / 'logs'}",
        ]

    def _check_ports_free(self, state: ClusterState) -> None:
        for node in state.nodes:
            for port in (node.broker_port, node.controller_port):
                if not _port_free(port):
                    raise InfraError(
                        f"port {port} (node {node.node_id}) is taken by another program: "
                        f"stop it, or delete {self.dir} to choose new ports"
                    )

    # -- down ------------------------------------------------------------------------------

    def down(self) -> int:
        """Stop every node; return how many were running. Data and ports are kept."""
        state = self.state()
        if state is None:
            return 0
        running = len(self.running_nodes(state))
        self._stop_nodes(state)
        return running

    def _stop_nodes(self, state: ClusterState) -> None:
        alive = self.running_nodes(state)
        for node in alive:
            _signal(node, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline and any(self._is_running(n) for n in alive):
            time.sleep(0.2)
        for node in alive:
            if self._is_running(node):
                _signal(node, signal.SIGKILL)
        for node in alive:
            _reap(node)
        self._children.clear()
        for node in state.nodes:
            node.pid = None
        self._save(state)

    # -- helpers ---------------------------------------------------------------------------

    def node_log(self, node: Node) -> Path:
        return self._node_dir(node) / "logs" / "server.log"

    def _node_dir(self, node: Node) -> Path:
        return self.dir / f"node-{node.node_id}"

    def _save(self, state: ClusterState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(state.to_json())
        tmp.replace(self.state_file)

    def _is_our_process(self, node: Node) -> bool:
        """True when node.pid is alive and really is this node's broker (pids get reused)."""
        if node.pid is None:
            return False
        try:
            cmdline = Path(f"/proc/{node.pid}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{node.pid}/stat").read_text()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
        props = str(self._node_dir(node) / "server.properties").encode()
        return b"kafka.Kafka" in cmdline and props in cmdline

    def exited(self, node: Node) -> bool:
        """True when a node this process started has exited."""
        child = self._children.get(node.node_id)
        return child is not None and child.poll() is not None

    def describe_exit(self, node: Node) -> str:
        """The last error the node logged, for a one-line failure message."""
        for log in (self._node_dir(node) / "logs" / "stdout.log", self.node_log(node)):
            try:
                lines = log.read_text(errors="replace").splitlines()
            except OSError:
                continue
            errors = [line for line in lines if " ERROR " in line or "Exception" in line]
            if errors:
                return errors[-1][:300]
        return f"see {self.node_log(node)}"


def _server_properties(state: ClusterState, node: Node, node_dir: Path) -> str:
    n = len(state.nodes)
    voters = ",".join(f"{m.node_id}@127.0.0.1:{m.controller_port}" for m in state.nodes)
    replication = 3 if n == 3 else 1
    min_isr = 2 if n == 3 else 1
    settings = {
        "process.roles": "broker,controller",
        "node.id": node.node_id,
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port},"
        f"CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": node_dir / "data",
        "num.partitions": 3,
        "default.replication.factor": replication,
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": replication,
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        # Topics are created on purpose, with the contract's partition counts and retention.
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": 0,
        "log.segment.bytes": 64 * 1024 * 1024,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _wait_until_answering(
    state: ClusterState, nodes: int, timeout: float, watch: LocalCluster | None = None
) -> None:
    """Return once every broker is in the cluster's metadata, so topics can be created."""
    # Imported here: kafka-python is slow to import and only needed once a broker runs.
    from infra.kafka_probe import broker_count

    deadline = time.monotonic() + timeout
    last_error = "no answer"
    while time.monotonic() < deadline:
        if watch is not None:
            for node in state.nodes:
                if watch.exited(node):
                    raise InfraError(
                        f"Kafka node {node.node_id} exited at start: {watch.describe_exit(node)}"
                    )
        try:
            if broker_count(state.bootstrap) == nodes:
                return
            last_error = "not every broker has joined yet"
        except Exception as error:  # any client error means: not ready yet
            last_error = str(error) or type(error).__name__
        time.sleep(0.5)
    raise InfraError(f"Kafka did not answer at {state.bootstrap} in {timeout:.0f} s: {last_error}")


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _signal(node: Node, sig: signal.Signals) -> None:
    if node.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(node.pid, sig)


def _reap(node: Node) -> None:
    # Only a child of this very process can be reaped; others are reaped by their parent/init.
    if node.pid is None:
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(node.pid, os.WNOHANG)
