"""The platform's services as local processes on loopback, started from the artifact bundle.

Used by the integration tests (random ports, a temporary prefix) and by `sdp local up`.
Each service: prepare() once (format, initdb), command() to run in the foreground, ready() probe.
"""

import json
import os
import pwd
import shutil
import signal
import subprocess
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sdp.bundle import layout
from sdp.local.processes import ServiceError, port_open

POSTGRES_BIN = Path("/usr/lib/postgresql")
JAVA_17_HINT = (
    "Java 17+ is needed (Debian: openjdk-17-jre-headless; `sdp artifacts host-deps --install`)"
)


@dataclass
class StackConfig:
    """Everything that must stay the same across down/up: ports, generated secrets, ids."""

    prefix: Path
    ports: dict[str, int]
    secrets: dict[str, str]
    minio_drives: int = 4
    spark_worker_cores: int = 2
    spark_worker_memory: str = "2g"
    extra: dict[str, str] = field(default_factory=dict)

    def data(self, name: str) -> Path:
        return self.prefix / "data" / name


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except OSError:
        return False


def _postgres_bindir() -> Path:
    versions = sorted(POSTGRES_BIN.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise ServiceError(
            "PostgreSQL server not found under /usr/lib/postgresql (Debian: postgresql; "
            "`sdp artifacts host-deps --install`)"
        )
    return versions[-1].parent


def _as_postgres_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return cmd
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *cmd]


def _check_reachable_by_others(path: Path) -> None:
    """As root, PostgreSQL runs as `postgres`, which must be able to traverse every parent."""
    if os.geteuid() != 0:
        return
    for parent in path.parents:
        if not parent.stat().st_mode & 0o001:
            raise ServiceError(
                f"{parent} is not searchable by other users, so the postgres user cannot "
                f"reach {path}; choose a data prefix outside it (SDP_DATA, --prefix)"
            )


class Postgres:
    name = "postgres"
    # SIGTERM is PostgreSQL's "smart" shutdown, which waits for pooled client connections to close.
    stop_signal = signal.SIGINT

    def __init__(self, cfg: StackConfig):
        self.cfg, self.dir = cfg, cfg.data("postgres")
        self.port = cfg.ports["postgres"]
        self.sockets = cfg.prefix / "run" / "postgres"

    def prepare(self) -> None:
        self.sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.sockets, "postgres", "postgres")
        if (self.dir / "PG_VERSION").exists():
            return
        self.dir.mkdir(parents=True, exist_ok=True)
        _check_reachable_by_others(self.dir)
        pwfile = self.cfg.prefix / "run" / "pg.pw"
        pwfile.parent.mkdir(parents=True, exist_ok=True)
        pwfile.write_text(self.cfg.secrets["postgres_password"])
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            for path in (self.dir, pwfile):
                shutil.chown(path, user.pw_uid, user.pw_gid)
        cmd = [
            str(_postgres_bindir() / "initdb"),
            "-D",
            str(self.dir),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]
        result = subprocess.run(_as_postgres_user(cmd), capture_output=True, text=True)
        pwfile.unlink()
        if result.returncode != 0:
            raise ServiceError(f"initdb failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        return _as_postgres_user(
            [
                str(_postgres_bindir() / "postgres"),
                "-D",
                str(self.dir),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.sockets}",
            ]
        )

    def ready(self) -> bool:
        return (
            port_open(self.port)
            and subprocess.run(
                [str(_postgres_bindir() / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            ).returncode
            == 0
        )

    def dsn(self, database: str = "postgres") -> str:
        return (
            f"postgresql://postgres:{self.cfg.secrets['postgres_password']}"
            f"@127.0.0.1:{self.port}/{database}"
        )


class Kafka:
    """A single KRaft node (broker + controller) for one-host use."""

    name = "kafka"

    def __init__(self, cfg: StackConfig):
        self.cfg, self.dir = cfg, cfg.data("kafka")
        self.port, self.controller_port = cfg.ports["kafka"], cfg.ports["kafka_controller"]
        self.home = layout.kafka_home()
        self.properties = cfg.prefix / "conf" / "kafka.properties"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def prepare(self) -> None:
        if shutil.which("java") is None:
            raise ServiceError(JAVA_17_HINT)
        self.properties.parent.mkdir(parents=True, exist_ok=True)
        self.properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.dir}",
                    # One node: internal topics cannot have more than one replica.
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=true",
                    "num.partitions=3",
                    "",
                ]
            )
        )
        if (self.dir / "meta.properties").exists():
            return  # formatted once; formatting again would refuse or wipe the cluster id
        result = subprocess.run(
            [
                str(self.home / "bin" / "kafka-storage.sh"),
                "format",
                "-t",
                self.cfg.secrets["kafka_cluster_id"],
                "-c",
                str(self.properties),
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise ServiceError(f"kafka-storage format failed:\n{result.stdout}{result.stderr}")

    def command(self) -> list[str]:
        return [str(self.home / "bin" / "kafka-server-start.sh"), str(self.properties)]

    def env(self) -> dict[str, str]:
        return {
            "LOG_DIR": str(self.cfg.prefix / "logs" / "kafka"),
            "KAFKA_HEAP_OPTS": "-Xms256m -Xmx768m",
        }

    def ready(self) -> bool:
        if not port_open(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        try:
            metadata = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=2)
        except Exception:
            return False
        return bool(metadata.brokers)


class MinIO:
    name = "minio"

    def __init__(self, cfg: StackConfig):
        self.cfg, self.dir = cfg, cfg.data("minio")
        self.port, self.console_port = cfg.ports["minio"], cfg.ports["minio_console"]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def drives(self) -> list[Path]:
        return [self.dir / f"drive{i}" for i in range(1, self.cfg.minio_drives + 1)]

    def prepare(self) -> None:
        for drive in self.drives():
            drive.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        drives = self.drives()
        # MinIO's ellipsis notation: four directories on one host form one erasure set.
        spec = [str(drives[0])] if len(drives) == 1 else [f"{self.dir}/drive{{1...{len(drives)}}}"]
        return [
            str(layout.binary("minio")),
            "server",
            "--quiet",
            "--address",
            f"127.0.0.1:{self.port}",
            "--console-address",
            f"127.0.0.1:{self.console_port}",
            *spec,
        ]

    def env(self) -> dict[str, str]:
        return {
            "MINIO_ROOT_USER": self.cfg.secrets["minio_user"],
            "MINIO_ROOT_PASSWORD": self.cfg.secrets["minio_password"],
            "MINIO_BROWSER": "off",
            "MINIO_UPDATE": "off",
            # The drives of `sdp local up` are directories on one disk, which MinIO refuses as
            # "root drives" in erasure mode; a 1-byte threshold accepts them (no real redundancy).
            "MINIO_ROOTDRIVE_THRESHOLD_SIZE": "1B",
        }

    def ready(self) -> bool:
        # live answers before the erasure set is formatted; cluster only once writes have quorum.
        return http_ok(f"{self.endpoint}/minio/health/cluster")


def spark_home() -> Path:
    try:
        import pyspark
    except ImportError:
        raise ServiceError(
            "pyspark is not installed: run `make artifacts` (it installs pyspark from the "
            "bundle's wheelhouse)"
        ) from None
    return Path(pyspark.__file__).parent


class SparkMaster:
    name = "spark-master"

    def __init__(self, cfg: StackConfig):
        self.cfg, self.port, self.ui_port = (
            cfg,
            cfg.ports["spark_master"],
            cfg.ports["spark_master_ui"],
        )

    @property
    def url(self) -> str:
        return f"spark://127.0.0.1:{self.port}"

    def prepare(self) -> None:
        (self.cfg.prefix / "data" / "spark").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        # pyspark's wheel has no sbin/start-master.sh; spark-class runs it in the foreground.
        return [
            str(spark_home() / "bin" / "spark-class"),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--webui-port",
            str(self.ui_port),
        ]

    def env(self) -> dict[str, str]:
        return {"SPARK_HOME": str(spark_home()), "SPARK_LOG_DIR": str(self.cfg.prefix / "logs")}

    def state(self) -> dict:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.ui_port}/json/", timeout=2
        ) as response:
            return json.load(response)

    def ready(self) -> bool:
        try:
            return self.state().get("status") == "ALIVE"
        except OSError:
            return False


class SparkWorker:
    name = "spark-worker"

    def __init__(self, cfg: StackConfig):
        self.cfg, self.master = cfg, SparkMaster(cfg)
        self.ui_port = cfg.ports["spark_worker_ui"]

    def prepare(self) -> None:
        (self.cfg.prefix / "data" / "spark" / "work").mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [
            str(spark_home() / "bin" / "spark-class"),
            "org.apache.spark.deploy.worker.Worker",
            "--host",
            "127.0.0.1",
            "--webui-port",
            str(self.ui_port),
            "--cores",
            str(self.cfg.spark_worker_cores),
            "--memory",
            self.cfg.spark_worker_memory,
            "--work-dir",
            str(self.cfg.prefix / "data" / "spark" / "work"),
            self.master.url,
        ]

    def env(self) -> dict[str, str]:
        return self.master.env()

    def ready(self) -> bool:
        try:
            workers = self.master.state().get("workers", [])
        except OSError:
            return False
        return any(w.get("state") == "ALIVE" for w in workers)
