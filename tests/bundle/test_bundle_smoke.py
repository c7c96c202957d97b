"""The bundle is complete: Kafka, MinIO, PostgreSQL, Spark + Iceberg + pyiceberg work together,
the services as the platform runs them (`make up`) and a local Spark session from the bundle's jars.

The platform is shared and long-lived: every run works in its own topic, object prefix and
catalog namespace (a uuid in the name), assumes nothing about what else is there, and removes
what it made.
"""

import json
import uuid
from urllib.parse import urlparse

import pytest

from jobs.lake import CATALOG, pyiceberg_properties, spark_conf
from sdp.bundle import layout
from sdp.lake.catalog import lake_settings
from sdp.platform import checks, settings

pytestmark = pytest.mark.integration

MESSAGES = 200
RUN = uuid.uuid4().hex[:8]
BUCKET = settings.platform("sdp_bucket_prefix") + "warehouse"
PREFIX = f"_tests/smoke-{RUN}/"  # this run's objects in the platform's warehouse bucket


@pytest.fixture(scope="module")
def topic_with_events(kafka_client):
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"smoke-{RUN}"
    admin = AdminClient(kafka_client)
    admin.create_topics([NewTopic(topic, 1)])[topic].result(30)  # the brokers' replication
    producer = Producer({**kafka_client, "acks": "all", "enable.idempotence": True})
    events = [
        {"event_id": f"e{i}", "price": round(i * 1.25, 2), "category": f"c{i % 5}"}
        for i in range(MESSAGES)
    ]
    failures = []
    try:
        for event in events:
            producer.produce(
                topic,
                key=event["event_id"],
                value=json.dumps(event),
                on_delivery=lambda err, _msg: err and failures.append(err),
            )
        assert producer.flush(30) == 0
        assert failures == []
        yield topic, events
    finally:
        admin.delete_topics([topic])[topic].result(30)


def test_kafka_produce_and_consume(kafka_client, topic_with_events):
    from confluent_kafka import Consumer
    from confluent_kafka.admin import AdminClient

    topic, events = topic_with_events
    group = f"smoke-{uuid.uuid4()}"
    consumer = Consumer(
        {
            **kafka_client,
            "group.id": group,
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
        admin = AdminClient(kafka_client)
        admin.delete_consumer_groups([group])[group].result(30)
    assert sorted(e["event_id"] for e in seen) == sorted(e["event_id"] for e in events)


@pytest.fixture(scope="module")
def s3(platform):
    """Spark's key, which may use the platform's buckets only: this run's objects go under PREFIX
    and are deleted at the end."""
    client = checks.s3_client(platform, checks.s3_endpoint(platform))
    yield client
    delete_objects(client, BUCKET, PREFIX)


def delete_objects(s3, bucket: str, prefix: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def test_minio_put_and_get(s3):
    body = "주문 완료 ✓ order done".encode()
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}a/b.txt", Body=body)
    assert s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}a/b.txt")["Body"].read() == body


def test_minio_rejects_wrong_credentials(platform):
    import boto3
    from botocore.exceptions import ClientError

    client = boto3.client(
        "s3",
        endpoint_url=checks.s3_endpoint(platform),
        region_name="us-east-1",
        aws_access_key_id="minioadmin",
        aws_secret_access_key="minioadmin",
    )
    with pytest.raises(ClientError):
        client.list_buckets()


def test_postgres_login(platform):
    import psycopg

    catalog = settings.platform("sdp_catalog_db")
    with checks.postgres_connection(platform, catalog, settings.platform("sdp_catalog_owner")) as c:
        assert c.execute("select 1").fetchone() == (1,)
        info = c.info
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host=info.host,
            port=info.port,
            dbname=info.dbname,
            user=info.user,
            password="wrong",
            connect_timeout=15,
        )


def test_spark_reads_kafka_writes_iceberg_pyiceberg_reads_back(
    platform, topic_with_events, s3, tmp_path
):
    from pyiceberg.catalog import load_catalog
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType
    from sqlalchemy import text

    topic, events = topic_with_events
    # The platform's catalog (its PostgreSQL database and warehouse bucket) with the keys the
    # stream uses; this run's table in its own namespace.
    lake = lake_settings(platform)
    namespace = f"smoke_{RUN}"
    table_name = f"{namespace}.events"
    jars = layout.jars("spark-kafka", "iceberg", "hadoop-aws", "postgresql-jdbc")
    builder = SparkSession.builder.master("local[2]").appName("bundle-smoke")
    for key, value in {
        **spark_conf(lake, jars),
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.local.dir": str(tmp_path),
    }.items():
        builder = builder.config(key, value)
    catalog = load_catalog(CATALOG, **pyiceberg_properties(lake))
    spark = builder.getOrCreate()
    try:
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
                .options(**{f"kafka.{k}": v for k, v in checks.kafka_java_client(platform).items()})
                .option("subscribe", topic)
                .option("startingOffsets", "earliest")
                .load()
            )
            parsed = raw.select(
                F.from_json(F.col("value").cast("string"), schema).alias("e"), "offset"
            ).select("e.*")
            spark.sql(f"create namespace {CATALOG}.{namespace}")
            parsed.writeTo(f"{CATALOG}.{table_name}").using("iceberg").create()
            assert spark.table(f"{CATALOG}.{table_name}").count() == len(events)
            # hadoop-aws + the AWS SDK bundle: S3A is what checkpoints and event logs use.
            s3a = f"s3a://{BUCKET}/{PREFIX}s3a-check"
            parsed.limit(5).write.mode("overwrite").parquet(s3a)
            assert spark.read.parquet(s3a).count() == 5
        finally:
            spark.stop()

        # Both sides on the catalog's schema version 1: Spark's JdbcCatalog typed its row.
        with catalog.engine.connect() as conn:
            typed = conn.execute(
                text("SELECT iceberg_type FROM iceberg_tables WHERE table_namespace = :ns"),
                {"ns": namespace},
            ).scalar_one()
        assert typed == "TABLE"
        rows = catalog.load_table(table_name).scan().to_arrow().to_pylist()
        assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in events)
        assert round(sum(r["price"] for r in rows), 2) == round(sum(e["price"] for e in events), 2)
    finally:
        if catalog.table_exists(table_name):
            # Every file under the table's location (pyiceberg's purge_table leaves the
            # folders behind as empty objects).
            location = urlparse(catalog.load_table(table_name).location())
            catalog.drop_table(table_name)
            delete_objects(s3, location.netloc, location.path.strip("/") + "/")
        if (namespace,) in catalog.list_namespaces():
            catalog.drop_namespace(namespace)
