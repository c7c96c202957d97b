"""What the platform keeps closed, tried from outside as an attacker on the network would: Spark
talks only to holders of the cluster's secret, the master's REST submission server (which takes
no authentication) is off, Kafka takes a login and each application may do only what its ACLs
allow, Prometheus takes a login and its admin and lifecycle APIs are off;
services listen on the cluster address and loopback only, a database admits its own clients
only, hosts take no passwords, and no default credential or secret is in a file anybody on a
host may read."""

import shlex
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from sdp.paths import REPO_ROOT
from sdp.platform import checks, settings
from sdp.platform.inventory import LOCAL_INVENTORY
from sdp.platform.jobs import spark_submit
from sdp.platform.secrets import secrets_dir
from tests.conftest import needs_container_hosts, sdp
from tests.multihost import smoke

pytestmark = [pytest.mark.integration, needs_container_hosts]

PROBE = "/tmp/sdp-auth-probe.py"
COUNTED = "probe counted 3"


def submit(inv, master: str, conf: dict[str, str], seconds: float) -> tuple[str, bool]:
    """A one-line Spark application, submitted on the master as the spark user with `conf`:
    what it printed until it counted, failed or ran out of `seconds` (then it is stopped), and
    whether it counted."""
    script = ("from pyspark.sql import SparkSession\n"
              "spark = SparkSession.builder.getOrCreate()\n"
              "print('probe counted', spark.range(3).count())\n")  # fmt: skip
    put = subprocess.run(inv.ssh(master, f"cat > {PROBE} && chmod 644 {PROBE}"), input=script,
                         text=True, capture_output=True, timeout=60)  # fmt: skip
    assert put.returncode == 0, put.stderr
    job = spark_submit(PROBE, "sdp-auth-probe", conf=conf)
    user = settings.role("spark", "spark_user")
    run = subprocess.Popen(inv.ssh(master, f"cd /tmp && runuser -u {user} -- {job} 2>&1"),
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    lines, deadline = [], time.monotonic() + seconds
    try:
        for line in run.stdout:
            lines.append(line)
            if COUNTED in line or "Failed to connect to master" in line:
                break
            if time.monotonic() > deadline:
                break
    finally:
        subprocess.run(inv.ssh(master, f"pkill -f {PROBE}"), capture_output=True, timeout=30)
        run.kill()
    return "".join(lines), any(COUNTED in line for line in lines)


def test_spark_runs_only_applications_that_know_the_secret_and_has_no_rest_server(platform):
    master = platform.first("spark_master")
    address = platform.address(master)
    with pytest.raises(OSError):  # port 6066: refused, nothing listens
        socket.create_connection((address, 6066), timeout=5).close()

    said, counted = submit(platform, master, {}, 180)
    assert counted, said[-3000:]
    said, counted = submit(platform, master, {"spark.authenticate.secret": "guessed"}, 90)
    assert not counted
    assert "Failed to connect to master" in said, said[-3000:]


def test_the_spark_master_ui_cannot_kill_the_stream(platform):
    app = checks.stream_application(platform)
    assert app is not None, "the stream is not running"
    ui = f"http://{platform.first_address('spark_master')}:{settings.platform('spark_master_ui_port')}"
    request = urllib.request.Request(f"{ui}/app/kill/?id={app['id']}&terminate=true", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:  # no such handler: 405, not a redirect
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 405
    time.sleep(2)
    assert (checks.stream_application(platform) or {}).get("id") == app["id"]


def test_prometheus_takes_its_login_and_cannot_be_stopped_or_have_its_data_deleted(platform):
    base, login = checks.prometheus_url(platform), checks.prometheus_login(platform)
    wrong = checks.basic_auth(platform, settings.platform("prometheus_user"), "postgres-serving")
    for headers in ({}, wrong):  # no login, a wrong password
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(f"{base}/graph", headers=headers))
        assert refused.value.code == 401
    for path, answer in (("/api/v1/admin/tsdb/delete_series?match[]=up", "admin APIs disabled"),
                         ("/-/quit", "Lifecycle API is not enabled")):  # fmt: skip
        request = urllib.request.Request(base + path, method="POST", headers=login)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert answer in refused.value.read().decode(), path
    healthy = urllib.request.Request(f"{base}/-/healthy", headers=login)
    assert urllib.request.urlopen(healthy, timeout=10).status == 200  # still up


def produce_error(client: dict, topic: str):
    """The error of one message's delivery to `topic` with `client`'s login (None: delivered)."""
    from confluent_kafka import Producer

    reports = []
    producer = Producer({**client, "message.timeout.ms": 20000})
    producer.produce(topic, b"security probe", on_delivery=lambda err, _msg: reports.append(err))
    producer.flush(30)
    assert reports, f"no delivery report for {topic} within 30 s"
    return reports[0]


def read_error(client: dict, topic: str):
    """The error of reading partition 0 of `topic` from its start (None: a message or its end)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition

    consumer = Consumer({**client, "group.id": "spark-kafka-source-security-probe",
                         "enable.partition.eof": True, "enable.auto.commit": False})  # fmt: skip
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])  # OFFSET_BEGINNING
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            message = consumer.poll(1)
            if message is not None:
                error = message.error()
                return None if error is None or error.code() == KafkaError._PARTITION_EOF else error
    finally:
        consumer.close()
    raise AssertionError(f"nothing from {topic} within 30 s")


def test_kafka_takes_a_login_and_each_application_does_only_what_its_acls_allow(platform):
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import AdminClient

    assert settings.platform("kafka_auth"), "the platform turns Kafka's logins on by default"
    generator = checks.kafka_client(platform, "generator")
    stream = checks.kafka_client(platform, "stream")
    assert generator["security.protocol"] == "SASL_SSL"
    wrong = {**generator, "sasl.password": "not-the-password"}
    untrusting = {k: v for k, v in generator.items() if k != "ssl.ca.location"}  # system CAs
    plain = {**generator, "security.protocol": "SASL_PLAINTEXT"}
    anonymous = {"bootstrap.servers": checks.kafka_bootstrap(platform)}  # a stock client, kcat's
    for client in (anonymous, plain, wrong, untrusting):
        with pytest.raises(KafkaException):
            AdminClient(client).list_topics(timeout=10)
    refused = KafkaError.TOPIC_AUTHORIZATION_FAILED
    # The generator writes its topics (every test that generates shows it) and nothing else.
    assert produce_error(generator, checks.HEALTH_TOPIC).code() == refused
    # (librdkafka's consumer asks for its group's coordinator first, which is refused too)
    assert read_error(generator, "shopping-events").code() in {
        refused, KafkaError.GROUP_AUTHORIZATION_FAILED}  # fmt: skip
    # The stream reads them and writes nothing.
    assert read_error(stream, "shopping-events") is None
    assert produce_error(stream, "shopping-events").code() == refused
    # What a user evals before `sdp generate`: the generator's login, nothing more.
    exports = sdp("platform", "kafka-env", "-i", str(LOCAL_INVENTORY)).stdout
    assert dict(shlex.split(line)[1].split("=", 1) for line in exports.splitlines()) == {
        "SDP_KAFKA_BOOTSTRAP": generator["bootstrap.servers"],
        "SDP_KAFKA_USER": generator["sasl.username"],
        "SDP_KAFKA_PASSWORD": generator["sasl.password"],
        "SDP_KAFKA_CA": generator["ssl.ca.location"],
    }


def test_the_control_nodes_secrets_are_private_and_outside_the_clone(platform):
    kept = secrets_dir(platform.cluster_name)
    assert not kept.resolve().is_relative_to(REPO_ROOT)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in [kept, *kept.rglob("*")]}
    assert set(modes.values()) <= {"0o700", "0o600"}, modes
    assert modes[kept.name] == "0o700"
    assert {"ca.key", "ca.crt", "sdp-local.key", "sdp-local.crt"} <= set(modes)  # roles/tls


def test_services_listen_only_on_the_cluster_address_and_loopback(platform):
    assert smoke.unexpected_listeners(platform) == []


def test_no_password_logins_default_credentials_or_secrets_readable_by_all(platform):
    assert smoke.credential_findings(platform) == []
    assert smoke.pg_hba_findings(platform) == []  # each database admits its own clients only


def test_a_database_refuses_a_host_that_is_not_its_client_even_with_the_password(platform):
    import psycopg

    # The control node reads serving and the catalog; Airflow's metadata is the airflow host's.
    checks.postgres_connection(platform, settings.platform("sdp_serving_db"), "serving").close()
    with pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"):
        checks.postgres_connection(platform, settings.platform("sdp_airflow_db"), "airflow")
