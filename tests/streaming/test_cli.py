"""What `sdp stream maintain` reports when its Spark job fails, and how the stream's job takes
its Kafka login."""

import pytest

from jobs.streaming.config import kafka_properties
from sdp.platform.jobs import job_error

JVM_NOISE = [
    "org.apache.spark.sql.connector.catalog.CatalogNotFoundException: [CATALOG_NOT_FOUND] x",
    "        at org.apache.spark.sql.SparkSession.withActive(SparkSession.scala:804)",
]


def test_the_exception_a_traceback_ends_with_not_the_jvm_lines_around_it():
    output = [*JVM_NOISE, "Traceback (most recent call last):",
              '  File "/opt/sdp/app/jobs/streaming/maintenance.py", line 71, in maintain',
              "    orphans = spark.sql(",
              "pyspark.errors.exceptions.captured.IllegalArgumentException: Cannot remove orphans",
              *JVM_NOISE]  # fmt: skip
    assert job_error(output).startswith("pyspark.errors.exceptions.captured.IllegalArgument")


def test_a_jvm_error_names_the_jvm_exception():
    output = ["Traceback (most recent call last):", '  File "/opt/sdp/app/jobs/x.py", line 9, in f',
              "py4j.protocol.Py4JJavaError: An error occurred while calling o77.create.",
              ": org.apache.spark.SparkException: Job aborted due to stage failure: Task 16 in "
              "stage 0.0 failed 4 times: java.io.IOException: No space left on device",
              "\tat org.apache.spark.scheduler.DAGScheduler.failJob"]  # fmt: skip
    assert job_error(output).endswith("calling o77.create. org.apache.spark.SparkException: "
                                      "Job aborted due to stage failure: Task 16 in stage 0.0 "
                                      "failed 4 times: java.io.IOException: No space left on "
                                      "device")  # fmt: skip


def test_a_usage_error_is_named():
    output = ["usage: jobs.streaming.maintenance [-h]",
              "jobs.streaming.maintenance: error: --orphans-older-than-hours below 24"]  # fmt: skip
    assert job_error(output) == output[1]


def test_the_stream_takes_its_kafka_password_from_the_environment_only(monkeypatch, capsys):
    from jobs.streaming.main import parse_args

    args = ["--spec", "s.json", "--bootstrap", "b:9092", "--checkpoint", "/c", "--kafka-user", "st"]
    monkeypatch.delenv("SDP_KAFKA_PASSWORD", raising=False)
    with pytest.raises(SystemExit):
        parse_args(args)
    assert "--kafka-user st needs SDP_KAFKA_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("SDP_KAFKA_PASSWORD", "pw")
    _, settings = parse_args(args)
    assert "pw" not in repr(settings)  # logged settings keep it out
    assert kafka_properties(settings.bootstrap, settings.kafka_user, settings.kafka_password) == {
        "bootstrap.servers": "b:9092",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="st" password="pw";',
    }
    _, settings = parse_args([*args, "--kafka-truststore", "/etc/sdp/tls/ca.crt"])
    tls = kafka_properties(settings.bootstrap, truststore=settings.kafka_truststore)
    assert tls == {"bootstrap.servers": "b:9092", "security.protocol": "SSL",
                   "ssl.truststore.type": "PEM",
                   "ssl.truststore.location": "/etc/sdp/tls/ca.crt"}  # fmt: skip
