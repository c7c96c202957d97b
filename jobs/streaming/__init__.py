"""The streaming job: Kafka → Iceberg bronze/silver/gold on MinIO, dead letters, serving."""
