"""A whole platform of local processes under one prefix: start in order, probe, stop in reverse."""

import base64
import os
import secrets
import signal
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import yaml

from sdp.local import processes
from sdp.local.services import Kafka, MinIO, Postgres, SparkMaster, SparkWorker, StackConfig

SERVICES = {cls.name: cls for cls in (Postgres, MinIO, Kafka, SparkMaster, SparkWorker)}
START_TIMEOUT_S = {
    "postgres": 60,
    "minio": 60,
    "kafka": 120,
    "spark-master": 90,
    "spark-worker": 90,
}
DEFAULT_PORTS = {
    "postgres": 5432,
    "minio": 9000,
    "minio_console": 9001,
    "kafka": 9092,
    "kafka_controller": 9093,
    "spark_master": 7077,
    "spark_master_ui": 8080,
    "spark_worker_ui": 8081,
}


def default_prefix() -> Path:
    """SDP_DATA; else /var/lib/sdp for root (services drop to their own users and cannot enter
    /root), else ~/.local/share/sdp."""
    configured = os.environ.get("SDP_DATA")
    if configured:
        return Path(configured).expanduser()
    return Path("/var/lib/sdp") if os.geteuid() == 0 else Path.home() / ".local" / "share" / "sdp"


def _kafka_cluster_id() -> str:
    # 16 random bytes, url-safe base64 without padding: what `kafka-storage random-uuid` prints.
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def load_or_create_config(
    prefix: Path, ports: dict[str, int] | None = None, **settings
) -> StackConfig:
    """The prefix's stack.yml; created once with generated secrets (never defaults), mode 0600."""
    path = prefix / "stack.yml"
    if path.exists():
        raw = yaml.safe_load(path.read_text())
        return StackConfig(prefix=prefix, **{k: v for k, v in raw.items() if k != "prefix"})
    cfg = StackConfig(
        prefix=prefix,
        ports={**DEFAULT_PORTS, **(ports or {})},
        secrets={
            "postgres_password": secrets.token_urlsafe(18),
            "minio_user": "sdp-admin",
            "minio_password": secrets.token_urlsafe(24),
            "kafka_cluster_id": _kafka_cluster_id(),
        },
        **settings,
    )
    prefix.mkdir(parents=True, exist_ok=True)
    raw = {k: v for k, v in asdict(cfg).items() if k != "prefix"}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(raw, fh, sort_keys=True)
    return cfg


class Stack:
    def __init__(self, cfg: StackConfig, services: list[str] | None = None):
        self.cfg = cfg
        names = services or list(SERVICES)
        unknown = [n for n in names if n not in SERVICES]
        if unknown:
            raise processes.ServiceError(
                f"unknown service(s) {unknown}; known: {', '.join(SERVICES)}"
            )
        self.names = [n for n in SERVICES if n in names]  # always in dependency order

    def service(self, name: str):
        return SERVICES[name](self.cfg)

    def pidfile(self, name: str) -> Path:
        return self.cfg.prefix / "run" / f"{name}.pid"

    def log(self, name: str) -> Path:
        return self.cfg.prefix / "logs" / f"{name}.log"

    def up(self, report=lambda name, seconds, state: None) -> None:
        for name in self.names:
            started = time.monotonic()
            svc = self.service(name)
            if processes.read_pid(self.pidfile(name)) is not None and svc.ready():
                report(name, 0.0, "running")
                continue
            svc.prepare()
            env = svc.env() if hasattr(svc, "env") else {}
            pid = processes.spawn(svc.command(), self.pidfile(name), self.log(name), env=env)
            processes.wait_until(svc.ready, START_TIMEOUT_S[name], name, self.log(name), pid)
            report(name, time.monotonic() - started, "started")

    def down(self) -> list[str]:
        return [
            n
            for n in reversed(self.names)
            if processes.stop(self.pidfile(n), getattr(SERVICES[n], "stop_signal", signal.SIGTERM))
        ]

    def status(self) -> dict[str, bool]:
        return {
            n: processes.read_pid(self.pidfile(n)) is not None and self.service(n).ready()
            for n in self.names
        }
