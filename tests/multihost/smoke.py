"""What a deployed multi-host cluster must do, checked from the control node against the real
services. Shared by the container-host cluster (tests/multihost) and the VMs (tests/vm)."""

import json
import re
import shlex
import subprocess
import time
import uuid
from collections import Counter

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from sdp.platform import checks, settings
from sdp.platform.inventory import Inventory
from sdp.platform.secrets import SECRETS, read_secret, secrets_dir

SMOKE_TOPIC = "sdp-smoke"


def ssh(inv: Inventory, host: str, command: str, stdin: str | None = None, timeout: float = 600):
    """A shell command on an inventory host, as Ansible reaches it (root, the project's key).
    The host stops it at `timeout` too: a timed-out spark-submit kept loading a VM otherwise."""
    remote = f"timeout --kill-after=10 {int(timeout)} sh -c {shlex.quote(command)}"
    return subprocess.run(
        inv.ssh(host, remote), input=stdin, capture_output=True, text=True, timeout=timeout + 30
    )


def kafka_replication(inv: Inventory, topic: str = "shopping-events") -> dict[int, tuple]:
    """Per partition of a spec topic: (leader, replicas, in-sync replicas) as broker ids."""
    metadata = AdminClient(checks.kafka_client(inv)).list_topics(topic, timeout=30)
    return {
        p.id: (p.leader, sorted(p.replicas), sorted(p.isrs))
        for p in metadata.topics[topic].partitions.values()
    }


def kafka_produce(inv: Inventory, run: str, numbers: range) -> None:
    """Keyed messages `run:n` with acks=all to a 3-partition topic replicated on every broker
    (up to 3); raises unless every one is acknowledged."""
    client = checks.kafka_client(inv)
    replicas = min(3, len(inv.hosts("kafka_broker")))
    admin = AdminClient(client)
    if SMOKE_TOPIC not in admin.list_topics(timeout=30).topics:
        admin.create_topics([NewTopic(SMOKE_TOPIC, 3, replicas)])[SMOKE_TOPIC].result(60)
    errors = []
    producer = Producer(
        {**client, "acks": "all", "enable.idempotence": True, "delivery.timeout.ms": 60000}
    )  # fmt: skip
    for i in numbers:
        producer.produce(
            SMOKE_TOPIC,
            f"{run}:{i}".encode(),
            key=str(i).encode(),
            on_delivery=lambda err, _msg: err and errors.append(err),
        )
    if producer.flush(90) or errors:
        raise KafkaException(errors[0] if errors else "messages still queued after 90 s")


def kafka_read(inv: Inventory, run: str) -> list[str]:
    """Every message of `run` in the smoke topic, duplicates included: a fresh consumer reads each
    partition to its end offset as it is now, not to a count, so a duplicate cannot hide behind
    the messages expected (90 s at most)."""
    consumer = Consumer(
        {**checks.kafka_client(inv), "group.id": "sdp-smoke", "enable.auto.commit": False}
    )  # fmt: skip
    seen: list[str] = []
    try:
        partitions = consumer.list_topics(SMOKE_TOPIC, timeout=30).topics[SMOKE_TOPIC].partitions
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(SMOKE_TOPIC, p), timeout=30)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(SMOKE_TOPIC, p, OFFSET_BEGINNING) for p in ends])
        deadline = time.monotonic() + 90
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is None or msg.error():
                continue
            if msg.value().startswith(run.encode()):
                seen.append(msg.value().decode())
            if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                ends.pop(msg.partition(), None)
        if ends:
            raise TimeoutError(f"{SMOKE_TOPIC}: partitions {sorted(ends)} not read to the end")
    finally:
        consumer.close()
    return seen


def delivery(read: list[str], run: str, numbers: range) -> dict[str, int]:
    """How many of the messages `run:n` produced are missing from `read`, and how many extra
    copies it holds: {"lost": 0, "duplicated": 0} is exactly once."""
    counts = Counter(read)
    return {
        "lost": sum(1 for i in numbers if f"{run}:{i}" not in counts),
        "duplicated": sum(n - 1 for n in counts.values()),
    }


def kafka_roundtrip(inv: Inventory, count: int = 1000) -> dict[str, int]:
    """Produce `count` messages with acks=all and read the topic back: lost and duplicated."""
    run = uuid.uuid4().hex
    kafka_produce(inv, run, range(count))
    return delivery(kafka_read(inv, run), run, range(count))


def kafka_min_insync(inv: Inventory, topic: str = "shopping-events") -> str:
    """The topic's min.insync.replicas as the brokers apply it."""
    admin = AdminClient(checks.kafka_client(inv))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(30)
    return configs["min.insync.replicas"].value


def minio_client(inv: Inventory, host: str):
    """S3 through one MinIO host, with Spark's scoped key."""
    return checks.s3_client(inv, checks.s3_endpoint(inv, inv.address(host)))


SMOKE_BUCKET = settings.platform("sdp_bucket_prefix") + "checkpoints"


def minio_through_every_host(inv: Inventory) -> dict[str, bool]:
    """Write an object through the first MinIO host; per host: does it read back the same?"""
    key, body = f"_smoke/{uuid.uuid4().hex}", uuid.uuid4().bytes * 4096  # 64 KiB
    clients = {host: minio_client(inv, host) for host in inv.hosts("minio")}
    first = next(iter(clients.values()))
    first.put_object(Bucket=SMOKE_BUCKET, Key=key, Body=body)
    try:
        return {
            host: s3.get_object(Bucket=SMOKE_BUCKET, Key=key)["Body"].read() == body
            for host, s3 in clients.items()
        }
    finally:
        first.delete_object(Bucket=SMOKE_BUCKET, Key=key)


def minio_servers(inv: Inventory) -> list[dict]:
    """`mc admin info` on a MinIO host: every server of the pool with its drives' states."""
    mc = settings.platform("sdp_opt_dir") + "/bin/mc"
    result = ssh(inv, inv.first("minio"), f"{mc} admin info sdp --json")
    if result.returncode != 0:
        raise RuntimeError(f"mc admin info: {result.stderr.strip()}")
    return json.loads(result.stdout)["info"]["servers"]


# Each task sleeps a little, so every executor gets some before the first ones are done; the
# application starts only when all requested cores are there (minRegisteredResourcesRatio).
SPARK_JOB = """
import json, socket, time
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("sdp-smoke").getOrCreate()
def part(rows):
    time.sleep(0.5)
    host = socket.gethostname()
    for n in rows:
        yield (host, n)
rows = spark.sparkContext.parallelize(range(10000), 24).mapPartitions(part)
df = spark.createDataFrame(rows, "host string, n bigint")
spark.sql("CREATE NAMESPACE IF NOT EXISTS lake.smoke")
df.writeTo("lake.smoke.cluster_hosts").createOrReplace()
back = spark.table("lake.smoke.cluster_hosts").groupBy("host").sum("n").collect()
print("SMOKE " + json.dumps({r[0]: r[1] for r in back}))
spark.stop()
"""


def spark_job(inv: Inventory, timeout: float = 600) -> dict[str, int]:
    """A PySpark job submitted on the master, one single-core executor per worker: it writes an
    Iceberg table (catalog on PostgreSQL, data on MinIO) and reads it back. Returns the sum of
    the rows each worker host wrote."""
    workers = len(inv.hosts("spark_worker"))
    home = settings.platform("spark_home")
    conf = settings.platform("spark_conf_dir")
    job = "/tmp/sdp_smoke_job.py"
    submit = (
        f"cat > {job} && chmod 0644 {job} && cd /tmp && runuser -u spark -- "
        f"env SPARK_CONF_DIR={conf} {home}/bin/spark-submit "
        f"--conf spark.cores.max={workers} --conf spark.executor.cores=1 "
        "--conf spark.executor.memory=512m --conf spark.scheduler.minRegisteredResourcesRatio=1.0 "
        f"--conf spark.scheduler.maxRegisteredResourcesWaitingTime=120s {job}"
    )
    master = inv.first("spark_master")
    result = ssh(inv, master, submit, stdin=SPARK_JOB, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.startswith("SMOKE ")]
    if result.returncode != 0 or not lines:
        # spark-class echoes a failing launcher JVM's output to stdout. An exit of 128+N is signal
        # N, which the kernel logs: the VM test of 2026-12-07 exited 132, SIGILL, numpy on a CPU
        # model without SSE4.2 (the host's `dmesg` named it).
        host = ssh(inv, master, "free -m; df -h /tmp /opt; dmesg | tail -5", timeout=60).stdout
        raise RuntimeError(
            f"spark-submit exited {result.returncode}:\nstdout: {result.stdout[-2000:]}\n"
            f"stderr: {result.stderr[-3000:]}\n{master}:\n{host}"
        )
    return json.loads(lines[-1].removeprefix("SMOKE "))


def spark_workers(inv: Inventory) -> dict[str, str]:
    """The master's view: worker address -> state (the latest registration of each address)."""
    states: dict[str, str] = {}
    for w in checks.spark_master_state(inv)["workers"]:
        # a restarted worker is listed again; ALIVE wins over an old DEAD entry
        if states.get(w["host"]) != "ALIVE":
            states[w["host"]] = w["state"]
    return states


def prometheus_targets(inv: Inventory) -> dict[tuple[str, str], str]:
    """(job, instance) -> health of every active Prometheus target."""
    return {
        (t["labels"]["job"], t["labels"]["instance"]): t["health"]
        for t in checks.prometheus_targets(inv)
    }


def wait_for_alert(inv: Inventory, name: str, timeout: float) -> list[dict]:
    """The alert's firing instances once Prometheus fires it (its `for:` included)."""
    deadline = time.monotonic() + timeout
    while True:
        alerts = checks.prometheus_api(inv, "alerts")["alerts"]
        firing = [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == "firing"]
        if firing:
            return firing
        if time.monotonic() > deadline:
            states = sorted({(a["labels"]["alertname"], a["state"]) for a in alerts})
            raise AssertionError(f"{name} did not fire within {timeout:.0f} s; alerts: {states}")
        time.sleep(5)


# What may listen on a host's cluster address, by inventory group: (process name as the kernel
# has it, the port's setting). Anything else there, and anything on every address but sshd, is
# reported by unexpected_listeners; loopback is the host's own business.
LISTENERS = {
    "all": [("prometheus-node", "node_exporter_port")],
    "kafka_broker": [("java", "kafka_broker_port"), ("java", "kafka_metrics_port")],
    "kafka_controller": [("java", "kafka_controller_port"), ("java", "kafka_metrics_port")],
    "minio": [("minio", "minio_api_port"), ("minio", "minio_console_port")],
    "postgres": [("postgres", "postgres_port"), ("postgres_export", "postgres_exporter_port")],
    "spark_master": [("java", "spark_master_port"), ("java", "spark_master_ui_port"),
                     ("java", "spark_history_ui_port"), ("python", "stream_metrics_port")],
    "spark_worker": [("java", "spark_worker_ui_port")],
    "monitoring": [("prometheus", "prometheus_port")],
    "airflow": [("airflow api_ser", "airflow_api_port"),
                ("statsd_exporter", "statsd_exporter_port")],
    "superset": [("gunicorn", "superset_port")],
}  # fmt: skip
SPARK_UI_PORTS = range(4040, 4050)  # an application's UI: 4040, the next free one if taken
LOOPBACK = ("127.", "::1", "::ffff:127.")


def listening_sockets(inv: Inventory, host: str) -> list[tuple[str, str, int, str]]:
    """(tcp|udp, address, port, process) of every listening or unconnected socket on `host`."""
    result = ssh(inv, host, "ss -Hltunp")
    assert result.returncode == 0, result.stderr
    sockets = []
    for line in result.stdout.splitlines():
        fields = line.split(maxsplit=6)  # a process name may have spaces ("airflow api_ser")
        address, _, port = fields[4].rpartition(":")
        address = address.strip("[]").split("%")[0]
        process = fields[6].split('"')[1] if len(fields) > 6 else ""
        sockets.append((fields[0], address, int(port), process))
    return sockets


def unexpected_listeners(inv: Inventory) -> list[str]:
    """Every socket of every host that LISTENERS does not allow, as `host proto address:port
    process`. Allowed besides: sshd on every address (how hosts are reached; keys only), Spark's
    JVMs on ephemeral ports of the cluster address (driver, executors, block managers), and the
    UDP sockets Airflow's StatsD client sends from (ephemeral, unconnected: ss lists them)."""
    ephemeral = range(32768, 61000)  # Linux's ip_local_port_range
    found = []
    for host in inv.hosts("all"):
        groups = ["all"] + [g for g, members in inv.groups.items() if host in members]
        allowed = {(p, inv.var(port)) for g in groups for p, port in LISTENERS.get(g, [])}
        spark = any(g in groups for g in ("spark_master", "spark_worker"))
        cluster = {inv.address(host), "::ffff:" + inv.address(host)}
        for proto, address, port, process in listening_sockets(inv, host):
            if address.startswith(LOOPBACK):
                continue
            if address in cluster and (
                (process, port) in allowed
                or (spark and process == "java" and (port in ephemeral or port in SPARK_UI_PORTS))
            ):
                continue
            if process == "sshd" and port == 22:
                continue
            if proto == "udp" and process.startswith("airflow") and port in ephemeral:
                continue
            found.append(f"{host} {proto} {address}:{port} {process}")
    return found


# Defaults the services ship with or their docs print: none may be in a host's configuration.
KNOWN_DEFAULTS = ["minioadmin", "CHANGE_ME_TO_A_COMPLEX_RANDOM_SECRET", "thisismyscretkey",
                  "changeme", "temporary_key", "admin:admin", "airflow:airflow@"]  # fmt: skip
CONFIG_DIRS = "/etc/sdp /etc/systemd/system /etc/default"


def credential_findings(inv: Inventory) -> list[str]:
    """What a credential scan of every host finds, as `host: what`: password logins in sshd's
    effective settings, accounts with an empty password, known default credentials in the
    platform's configuration, and any of the control node's secrets or a private key in a file
    every user of the host may read."""
    kept = {p.name for p in secrets_dir(inv.cluster_name).iterdir()}  # Grafana's only with it
    values = [read_secret(inv.cluster_name, name) for name in SECRETS if name in kept]
    patterns = "\n".join([*KNOWN_DEFAULTS, *values, "PRIVATE KEY-----"]) + "\n"  # TLS keys too
    scan = (  # the patterns come on stdin; grep under xargs would read find's names there
        "p=$(mktemp) && cat > $p && /usr/sbin/sshd -T | grep -xE 'passwordauthentication yes|"
        "kbdinteractiveauthentication yes|permitemptypasswords yes|permitrootlogin yes' "
        "| sed 's/^/sshd: /'; "
        'awk -F: \'$2 == "" {print "empty password: " $1}\' /etc/shadow; '
        f"find {CONFIG_DIRS} -type f -perm -o=r -print0 2>/dev/null "
        "| xargs -0 -r grep -lF -f $p | sed 's/^/readable by all, a default or secret: /'; rm $p"
    )
    found = []
    for host in inv.hosts("all"):
        result = ssh(inv, host, scan, stdin=patterns)
        found += [f"{host}: {line}" for line in result.stdout.splitlines()]
    return found


# Who may log in to each database over the network: the hosts of these groups, and the control
# node where it is named (the sdp CLI and the tests read the catalog and serving).
DATABASE_CLIENTS = {
    "iceberg_catalog": ["spark_master", "spark_worker", "airflow", "control node"],
    "airflow": ["airflow"],
    "serving": ["spark_master", "spark_worker", "airflow", "superset", "monitoring",
                "control node"],
    "superset": ["superset"],
}  # fmt: skip


def pg_hba_findings(inv: Inventory) -> list[str]:
    """PostgreSQL's network rules that admit more than the platform needs, as `host: rule`: a
    database not in DATABASE_CLIENTS, an address that is not one of its clients' (each alone,
    /32; loopback is the host's own), any method but scram-sha-256, or a line PostgreSQL could
    not read."""

    def addresses(group: str) -> set[str]:
        if group == "control node":
            return {inv.var("sdp_control_node_address")}
        return {inv.address(h) for h in inv.hosts(group)}

    query = ("select line_number, array_to_string(database, ','), address, netmask, auth_method,"
             " coalesce(error, '') from pg_hba_file_rules where type <> 'local'")  # fmt: skip
    found = []
    for host in inv.hosts("postgres"):
        result = ssh(inv, host, f'runuser -u postgres -- psql -XAt -F"|" -c "{query}"')
        assert result.returncode == 0, result.stderr
        for line in result.stdout.splitlines():
            number, databases, address, mask, method, error = line.split("|")
            # a rule naming several databases must admit only what every one of them may
            clients = [DATABASE_CLIENTS.get(d, []) for d in databases.split(",")]
            allowed = set.intersection(*(set().union(*map(addresses, c)) for c in clients))
            allowed |= {"127.0.0.1", "::1"}
            single = mask in ("255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")
            if error or method != "scram-sha-256" or address not in allowed or not single:
                found.append(f"{host}: pg_hba.conf line {number}: {line}")
    return found


def recap_hosts(output: str) -> set[str]:
    """The hosts a playbook run touched, from its PLAY RECAP lines."""
    return set(re.findall(r"^(\S+)\s+: ok=", output, re.MULTILINE))
