"""The daily batch: Spark jobs Airflow submits (dags/), one logical day each."""
