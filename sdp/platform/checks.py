"""`make status`: use every service for real, from the control node, and say what is down."""

import base64
import json
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.kafka_login import PLAIN, SCRAM, client_config, to_env
from sdp.platform import settings
from sdp.platform.inventory import Inventory
from sdp.platform.secrets import SecretMissing, read_secret, tls_dir

HEALTH_TOPIC = "sdp-health"


@dataclass(frozen=True)
class Result:
    service: str
    ok: bool
    detail: str


def _get_json(url: str, timeout: float = 5, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def basic_auth(inv: Inventory, user: str, secret: str) -> dict[str, str]:
    """The header that logs `user` in with the generated secret `secret`."""
    login = f"{user}:{read_secret(inv.cluster_name, secret)}"
    return {"Authorization": "Basic " + base64.b64encode(login.encode()).decode()}


def prometheus_url(inv: Inventory) -> str:
    return f"http://{inv.first_address('monitoring')}:{settings.platform('prometheus_port')}"


def prometheus_login(inv: Inventory) -> dict[str, str]:
    return basic_auth(inv, settings.platform("prometheus_user"), "prometheus-password")


# Endpoints as _platform's sdp_kafka_bootstrap and sdp_s3_endpoint derive them for the roles (for
# S3 the first MinIO host: the hosts' name sdp_s3_name is in their /etc/hosts, not this node's).
def kafka_bootstrap(inv: Inventory) -> str:
    port = settings.platform("kafka_broker_port")
    return ",".join(f"{a}:{port}" for a in inv.addresses("kafka_broker"))


def kafka_client(inv: Inventory, login: str = "admin") -> dict[str, str]:
    """librdkafka's settings for the brokers as kafka_LOGIN_user (_platform's kafka_auth): admin,
    the control node's tools, with PLAIN; generator and stream with SCRAM-SHA-512."""
    ca = ""
    if inv.var("kafka_tls"):
        ca = str(tls_dir(inv.cluster_name) / "ca.crt")
        if not Path(ca).is_file():
            raise SecretMissing(
                f"the CA certificate of cluster {inv.cluster_name}, {ca}, is missing; the tls "
                "role makes it on the first `make up` (or set SDP_SECRETS_DIR to where it is kept)"
            )
    if not inv.var("kafka_auth"):
        return client_config(kafka_bootstrap(inv), ca=ca)
    return client_config(
        kafka_bootstrap(inv),
        inv.var(f"kafka_{login}_user"),
        read_secret(inv.cluster_name, f"kafka-{login}-password"),
        PLAIN if login == "admin" else SCRAM,
        ca,
    )


def kafka_java_client(
    inv: Inventory, login: str = "admin", bootstrap: str | None = None
) -> dict[str, str]:
    """The same login as a Kafka Java client's properties (Spark's source, Kafka's tools)."""
    from jobs.streaming.config import kafka_properties

    client = kafka_client(inv, login)
    return kafka_properties(
        bootstrap or client["bootstrap.servers"],
        client.get("sasl.username", ""),
        client.get("sasl.password", ""),
        client.get("sasl.mechanism", SCRAM),
        client.get("ssl.ca.location", ""),
    )


def kafka_login_env(inv: Inventory, login: str = "generator") -> dict[str, str]:
    """The environment that logs `sdp generate` and `sdp replay` in (SCRAM-SHA-512, TLS)."""
    return to_env(kafka_client(inv, login))


def s3_endpoint(inv: Inventory, address: str | None = None) -> str:
    """MinIO's S3 API on a host of the minio group (the first one unless given)."""
    address = address or inv.first_address("minio")
    return f"http://{address}:{settings.platform('minio_api_port')}"


def minio_console_url(inv: Inventory) -> str:
    """MinIO's console, where people browse the buckets (as `sdp_minio_console_url`)."""
    return f"http://{inv.first_address('minio')}:{settings.platform('minio_console_port')}"


def s3_client(inv: Inventory, endpoint: str):
    """S3 with Spark's scoped key (read/write on the platform's buckets only)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=settings.platform("sdp_s3_access_key"),
        aws_secret_access_key=read_secret(inv.cluster_name, "minio-spark-secret-key"),
        region_name="us-east-1",
    )


def spark_master_state(inv: Inventory) -> dict:
    """The standalone master's JSON: its status, workers and applications."""
    master = inv.first_address("spark_master")
    return _get_json(f"http://{master}:{settings.platform('spark_master_ui_port')}/json/")


def prometheus_api(inv: Inventory, path: str, **params: str) -> dict:
    """The data of a Prometheus HTTP API call (/api/v1/PATH) on the monitoring host."""
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return _get_json(f"{prometheus_url(inv)}/api/v1/{path}{query}", headers=prometheus_login(inv))[
        "data"
    ]


def prometheus_targets(inv: Inventory) -> list[dict]:
    """Prometheus' active targets, each with its labels (job, instance) and health."""
    return prometheus_api(inv, "targets", state="active")["activeTargets"]


def prometheus_query(inv: Inventory, expr: str) -> dict[tuple, float]:
    """An instant PromQL query's vector: {sorted label pairs: value}."""
    result = prometheus_api(inv, "query", query=expr)["result"]
    return {tuple(sorted(r["metric"].items())): float(r["value"][1]) for r in result}


def kafka_quorum(inv: Inventory) -> str:
    from sdp.bundle.layout import kafka_home

    controllers = ",".join(
        f"{a}:{settings.platform('kafka_controller_port')}"
        for a in inv.addresses("kafka_controller")
    )
    login = kafka_java_client(inv, bootstrap=controllers)
    with tempfile.NamedTemporaryFile("w", suffix=".properties") as config:  # 0600
        config.write("".join(f"{k}={v}\n" for k, v in login.items() if k != "bootstrap.servers"))
        config.flush()
        result = subprocess.run(
            [str(kafka_home() / "bin" / "kafka-metadata-quorum.sh"), "--bootstrap-controller",
             controllers, "--command-config", config.name, "describe", "--status"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"metadata quorum: {result.stderr.strip()[-300:]}")
    status = dict(
        line.split(":", 1) for line in result.stdout.splitlines() if ":" in line
    )  # "LeaderId: 1", "CurrentVoters: [...]"
    voters = json.loads(status.get("CurrentVoters", "[]").strip())
    if len(voters) != len(inv.hosts("kafka_controller")):
        raise RuntimeError(f"{len(voters)} voters, the inventory has "
                           f"{len(inv.hosts('kafka_controller'))} controllers")  # fmt: skip
    return f"leader {status.get('LeaderId', '?').strip()}, {len(voters)} voter(s)"


def kafka_roundtrip(inv: Inventory) -> str:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    client = kafka_client(inv)
    brokers = len(inv.hosts("kafka_broker"))
    admin = AdminClient(client)
    if HEALTH_TOPIC not in admin.list_topics(timeout=10).topics:
        futures = admin.create_topics([NewTopic(HEALTH_TOPIC, 1, min(3, brokers))])
        futures[HEALTH_TOPIC].result(30)
    token = uuid.uuid4().hex.encode()
    delivered = []
    producer = Producer({**client, "acks": "all"})
    producer.produce(HEALTH_TOPIC, token, on_delivery=lambda err, msg: delivered.append((err, msg)))
    producer.flush(30)
    if not delivered or delivered[0][0] is not None:
        raise RuntimeError(
            f"produce (acks=all) failed: {delivered[0][0] if delivered else 'timeout'}"
        )
    msg = delivered[0][1]
    consumer = Consumer({**client, "group.id": "sdp-health", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(HEALTH_TOPIC, msg.partition(), msg.offset())])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = consumer.poll(1)
            if got is not None and not got.error() and got.value() == token:
                return f"produced and consumed 1 message on {brokers} broker(s)"
    finally:
        consumer.close()
    raise RuntimeError("the produced message did not come back within 30 s")


def minio(inv: Inventory) -> str:
    endpoint = s3_endpoint(inv)
    with urllib.request.urlopen(f"{endpoint}/minio/health/cluster", timeout=5) as response:
        if response.status != 200:
            raise RuntimeError(f"cluster health {response.status}")
    s3 = s3_client(inv, endpoint)
    bucket = settings.platform("sdp_bucket_prefix") + "checkpoints"
    key, body = f"_health/{uuid.uuid4().hex}", uuid.uuid4().bytes
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    try:
        if s3.get_object(Bucket=bucket, Key=key)["Body"].read() != body:
            raise RuntimeError("an object read back differently")
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    return f"healthy; put/get on {bucket} with Spark's key"


def postgres_connection(inv: Inventory, dbname: str, owner: str):
    """A session on one of the platform's databases as its owner."""
    import psycopg

    return psycopg.connect(
        host=inv.first_address("postgres"),
        port=settings.platform("postgres_port"),
        dbname=dbname,
        user=owner,
        password=read_secret(inv.cluster_name, f"postgres-{owner}"),
        connect_timeout=15,  # 5 s timed out on a loaded TCG VM (it logged in 11 s later)
        autocommit=True,
    )


def serving_connection(inv: Inventory):
    """The dashboards' database: gold windows upserted by the stream (schema `serving`)."""
    return postgres_connection(inv, settings.platform("sdp_serving_db"), "serving")


def postgres(inv: Inventory) -> str:
    """Logs in to each database this node is a client of; the others admit their own hosts
    only, whose services' checks use them (Airflow's and Superset's health)."""
    databases = settings.role("postgres", "postgres_databases")
    ours = [db for db in databases if db.get("control_node")]
    for db in ours:
        with postgres_connection(inv, db["name"], db["owner"]) as conn:
            conn.execute("SELECT 1")
    others = [db["name"] for db in databases if db not in ours]
    return f"logged in to {', '.join(db['name'] for db in ours)}" + (
        f"; {', '.join(others)}: their hosts only" if others else ""
    )


def spark(inv: Inventory) -> str:
    state = spark_master_state(inv)
    if state.get("status") != "ALIVE":
        raise RuntimeError(f"master status {state.get('status')}")
    alive = sorted({w["host"] for w in state.get("workers", []) if w["state"] == "ALIVE"})
    expected = inv.addresses("spark_worker")
    missing = [a for a in expected if a not in alive]
    if not alive or missing:
        raise RuntimeError(f"workers not ALIVE: {', '.join(missing) or 'none registered'}")
    return f"master ALIVE, {len(alive)} worker(s) ALIVE"


def stream_application(inv: Inventory) -> dict | None:
    """The streaming job's application as the Spark master lists it, or None."""
    state = spark_master_state(inv)
    name = settings.role("spark", "spark_stream_name")
    return next((a for a in state.get("activeapps", []) if a["name"] == name), None)


def stream(inv: Inventory) -> str:
    master = inv.hostvars.get(inv.first("spark_master"), {})
    if not master.get("spark_stream_enabled", settings.role("spark", "spark_stream_enabled")):
        return "disabled in the inventory (spark_stream_enabled: false)"
    found = stream_application(inv)
    if found is None or found["state"] != "RUNNING":
        raise RuntimeError(
            "the streaming job is not running"
            + (f" ({found['state']})" if found else " (`sdp stream start`)")
        )
    return f"{found['id']} RUNNING with {found.get('cores', '?')} core(s)"


def prometheus(inv: Inventory) -> str:
    """Every inventory host's node exporter is a target, and every target is up."""
    if not inv.hosts("monitoring"):
        return "no monitoring host in the inventory"
    targets = prometheus_targets(inv)
    nodes = {t["labels"]["instance"] for t in targets if t["labels"]["job"] == "node"}
    missing = sorted(set(inv.hostvars) - nodes)
    if missing:
        raise RuntimeError(f"hosts not scraped: {', '.join(missing)}")
    down = sorted(
        f"{t['labels']['job']}/{t['labels']['instance']}" for t in targets if t["health"] != "up"
    )
    if down:
        raise RuntimeError(f"targets down: {', '.join(down)}")
    return f"{len(targets)} target(s) up, {len(nodes)} host(s)"


def grafana(inv: Inventory) -> str:
    """Healthy, and every dashboard of monitoring/dashboards/grafana provisioned (optional in the
    bundle: without it the role installs nothing, and that is no failure)."""
    from sdp.bundle.served import tarball
    from sdp.dashboards.cli import GRAFANA_DIR

    if not tarball("grafana"):
        return "not in the bundle"
    if not inv.hosts("monitoring"):
        return "no monitoring host in the inventory"
    url = f"http://{inv.first_address('monitoring')}:{settings.platform('grafana_port')}"
    health = _get_json(f"{url}/api/health")
    if health.get("database") != "ok":
        raise RuntimeError(f"its database is {health.get('database')}")
    login = basic_auth(
        inv, settings.role("grafana", "grafana_admin_user"), "grafana-admin-password"
    )
    found = {d["uid"] for d in _get_json(f"{url}/api/search?type=dash-db&limit=5000", 15, login)}
    expected = {json.loads(p.read_text())["uid"] for p in GRAFANA_DIR.glob("*.json")}
    if expected - found:
        raise RuntimeError(f"dashboards not provisioned: {', '.join(sorted(expected - found))}")
    return f"healthy, {len(expected)} dashboards provisioned"


def superset_url(inv: Inventory) -> str:
    return f"http://{inv.first_address('superset')}:{settings.platform('superset_port')}"


def superset_token(inv: Inventory) -> str:
    """A JWT for Superset's REST API, as the admin the role created."""
    login = {
        "username": settings.role("superset", "superset_admin_user"),
        "password": read_secret(inv.cluster_name, "superset-admin-password"),
        "provider": "db",
    }
    return json_request(f"{superset_url(inv)}/api/v1/security/login", method="POST", body=login)[
        "access_token"
    ]


def superset(inv: Inventory) -> str:
    """Answering, the admin logs in, and every dashboard of sdp/dashboards/superset.py is there."""
    from sdp.dashboards.superset import DASHBOARDS

    if not inv.hosts("superset"):
        return "no superset host in the inventory"
    with urllib.request.urlopen(f"{superset_url(inv)}/health", timeout=5) as response:
        if response.read() != b"OK":
            raise RuntimeError("/health does not answer OK")
    listed = json_request(
        f"{superset_url(inv)}/api/v1/dashboard/?q=(page_size:100)", superset_token(inv)
    )
    missing = {d.slug for d in DASHBOARDS} - {d["slug"] for d in listed["result"]}
    if missing:
        raise RuntimeError(f"dashboards not imported: {', '.join(sorted(missing))}")
    return f"healthy, the admin logs in, {len(DASHBOARDS)} dashboards"


def airflow_url(inv: Inventory) -> str:
    return f"http://{inv.first_address('airflow')}:{settings.platform('airflow_api_port')}"


def airflow_token(inv: Inventory) -> str:
    """A JWT for Airflow's REST API, as the admin the role created."""
    login = {
        "username": settings.role("airflow", "airflow_admin_user"),
        "password": read_secret(inv.cluster_name, "airflow-admin-password"),
    }
    return json_request(f"{airflow_url(inv)}/auth/token", method="POST", body=login)["access_token"]


def json_request(url: str, token: str | None = None, method: str = "GET", body=None):
    """A JSON API's answer to METHOD url, with a bearer token; `body` is sent as JSON."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data, headers, method=method)
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.load(response)


def airflow_api(inv: Inventory, path: str, token: str, method: str = "GET", body=None):
    """/api/v2/PATH with a token from airflow_token."""
    return json_request(f"{airflow_url(inv)}/api/v2/{path}", token, method, body)


def airflow(inv: Inventory) -> str:
    """Every component healthy (the scheduler's heartbeat is recent), no DAG fails to import."""
    if not inv.hosts("airflow"):
        return "no airflow host in the inventory"
    health = _get_json(f"{airflow_url(inv)}/api/v2/monitor/health")
    sick = sorted(name for name, part in health.items() if part.get("status") != "healthy")
    if sick:
        raise RuntimeError(f"not healthy: {', '.join(sick)}")
    token = airflow_token(inv)
    errors = airflow_api(inv, "importErrors", token)
    if errors["total_entries"]:
        files = ", ".join(e["filename"] for e in errors["import_errors"])
        raise RuntimeError(f"DAG files that fail to import: {files}")
    dags = airflow_api(inv, "dags?limit=1", token)["total_entries"]
    return f"api, scheduler, dag-processor, triggerer healthy; {dags} DAG(s), no import errors"


CHECKS: dict[str, Callable[[Inventory], str]] = {
    "kafka quorum": kafka_quorum,
    "kafka produce/consume": kafka_roundtrip,
    "minio": minio,
    "postgres": postgres,
    "spark": spark,
    "stream": stream,
    "airflow": airflow,
    "prometheus": prometheus,
    "superset": superset,
    "grafana": grafana,
}


RETRY_SECONDS = 5


def run_check(
    inv: Inventory, check: Callable[[Inventory], str], patience: float
) -> tuple[bool, str]:
    """One check, tried again every few seconds while it fails, until `patience` seconds passed."""
    started, tries = time.monotonic(), 0
    while True:
        tries += 1
        try:
            detail = check(inv)
            return True, detail + (f" (on try {tries})" if tries > 1 else "")
        except Exception as exc:  # every failure is reported, the next check still runs
            failure = f"{type(exc).__name__}: {exc}"
        if time.monotonic() - started + RETRY_SECONDS > patience:
            return False, failure + (f" ({tries} tries in {time.monotonic() - started:.0f} s)"
                                     if tries > 1 else "")  # fmt: skip
        time.sleep(RETRY_SECONDS)


def run_checks(inv: Inventory) -> list[Result]:
    patience = float(inv.var("sdp_status_patience"))
    return [Result(name, *run_check(inv, check, patience)) for name, check in CHECKS.items()]
