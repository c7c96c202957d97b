"""The bundle is complete: Kafka, MinIO, PostgreSQL, Spark + Iceberg + pyiceberg work together
using only bundle artifacts and processes started on loopback."""

import json
import uuid

import pytest

from jobs.lake import CATALOG, LakeSettings, pyiceberg_properties, spark_conf
from sdp.bundle import layout

pytestmark = pytest.mark.integration

MESSAGES = 200


@pytest.fixture(scope="module")
def topic_with_events(kafka_bootstrap):
    from confluent_kafka import Producer

    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "acks": "all", "enable.idempotence": True}
    )
    events = [
        {"event_id": f"e{i}", "price": round(i * 1.25, 2), "category": f"c{i % 5}"}
        for i in range(MESSAGES)
    ]
    failures = []
    for event in events:
        producer.produce(
            topic,
            key=event["event_id"],
            value=json.dumps(event),
            on_delivery=lambda err, _msg: err and failures.append(err),
        )
    assert producer.flush(30) == 0
    assert failures == []
    return topic, events


def test_kafka_produce_and_consume(kafka_bootstrap, topic_with_events):
    from confluent_kafka import Consumer

    topic, events = topic_with_events
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"smoke-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    seen = []
    try:
        for _ in range(300):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                seen.append(json.loads(msg.value()))
            if len(seen) == len(events):
                break
    finally:
        consumer.close()
    assert sorted(e["event_id"] for e in seen) == sorted(e["event_id"] for e in events)


@pytest.fixture(scope="module")
def s3(minio_service):
    import boto3

    secrets = minio_service.cfg.secrets
    return boto3.client(
        "s3",
        endpoint_url=minio_service.endpoint,
        region_name="us-east-1",
        aws_access_key_id=secrets["minio_user"],
        aws_secret_access_key=secrets["minio_password"],
    )


def test_minio_put_and_get(s3):
    s3.create_bucket(Bucket="smoke")
    body = "주문 완료 ✓ order done".encode()
    s3.put_object(Bucket="smoke", Key="a/b.txt", Body=body)
    assert s3.get_object(Bucket="smoke", Key="a/b.txt")["Body"].read() == body


def test_minio_rejects_wrong_credentials(minio_service):
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client(
        "s3",
        endpoint_url=minio_service.endpoint,
        region_name="us-east-1",
        aws_access_key_id="minioadmin",
        aws_secret_access_key="minioadmin",
    )
    with pytest.raises(ClientError):
        client.list_buckets()


def test_postgres_login(postgres_service):
    import psycopg

    with psycopg.connect(postgres_service.dsn()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            postgres_service.dsn().replace(
                postgres_service.cfg.secrets["postgres_password"], "wrong"
            )
        )


def test_spark_reads_kafka_writes_iceberg_pyiceberg_reads_back(
    kafka_bootstrap, topic_with_events, minio_service, postgres_service, s3, tmp_path
):
    import psycopg
    from pyiceberg.catalog import load_catalog
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    topic, events = topic_with_events
    with psycopg.connect(postgres_service.dsn(), autocommit=True) as conn:
        conn.execute("create database lake_catalog")
    s3.create_bucket(Bucket="warehouse")
    secrets = minio_service.cfg.secrets
    lake = LakeSettings(
        pg_host="127.0.0.1",
        pg_port=postgres_service.port,
        pg_database="lake_catalog",
        pg_user="postgres",
        pg_password=secrets["postgres_password"],
        s3_endpoint=minio_service.endpoint,
        s3_access_key=secrets["minio_user"],
        s3_secret_key=secrets["minio_password"],
        warehouse="s3://warehouse/lake",
    )
    jars = layout.jars("spark-kafka", "iceberg", "hadoop-aws", "postgresql-jdbc")
    builder = SparkSession.builder.master("local[2]").appName("bundle-smoke")
    for key, value in {
        **spark_conf(lake, jars),
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.local.dir": str(tmp_path),
    }.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    try:
        schema = StructType(
            [
                StructField("event_id", StringType()),
                StructField("price", DoubleType()),
                StructField("category", StringType()),
            ]
        )
        raw = (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", kafka_bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
            .load()
        )
        parsed = raw.select(
            F.from_json(F.col("value").cast("string"), schema).alias("e"), "offset"
        ).select("e.*")
        spark.sql(f"create namespace if not exists {CATALOG}.smoke")
        parsed.writeTo(f"{CATALOG}.smoke.events").using("iceberg").create()
        assert spark.table(f"{CATALOG}.smoke.events").count() == len(events)
        # hadoop-aws + the AWS SDK bundle: S3A is what checkpoints and event logs use.
        parsed.limit(5).write.mode("overwrite").parquet("s3a://warehouse/s3a-check")
        assert spark.read.parquet("s3a://warehouse/s3a-check").count() == 5
    finally:
        spark.stop()

    table = load_catalog(CATALOG, **pyiceberg_properties(lake)).load_table("smoke.events")
    rows = table.scan().to_arrow().to_pylist()
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in events)
    assert round(sum(r["price"] for r in rows), 2) == round(sum(e["price"] for e in events), 2)
