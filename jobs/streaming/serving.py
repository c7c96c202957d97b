"""Gold windows upserted into PostgreSQL's serving schema for the dashboards.

The driver talks JDBC through the PostgreSQL driver already on Spark's classpath (the driver's
host has no Python database client). Rows travel as one JSON array per table and statement:
`json_populate_recordset` types them by the table's own columns, and `ON CONFLICT` makes a
replayed batch rewrite the same rows.
"""

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from jobs.streaming.config import ServingSettings
from jobs.streaming.gold import GoldTable

_PG_TYPES = {
    T.TimestampType: "timestamptz",
    T.StringType: "text",
    T.LongType: "bigint",
    T.IntegerType: "integer",
    T.DoubleType: "double precision",
    T.BooleanType: "boolean",
    T.DateType: "date",
}


def _pg_type(data_type: T.DataType) -> str:
    if isinstance(data_type, T.DecimalType):
        return f"numeric({data_type.precision},{data_type.scale})"
    return _PG_TYPES[type(data_type)]


def create_table_sql(schema_name: str, name: str, schema: T.StructType, key: list[str]) -> str:
    columns = [f'"{f.name}" {_pg_type(f.dataType)}' for f in schema]  # quoted: `check` is a keyword
    columns.append("served_at timestamptz NOT NULL DEFAULT clock_timestamp()")
    if key:
        columns.append(f"PRIMARY KEY ({', '.join(key)})")
    return f"CREATE TABLE IF NOT EXISTS {schema_name}.{name} ({', '.join(columns)})"


def insert_sql(schema_name: str, name: str, schema: T.StructType) -> str:
    """INSERT of the rows of one JSON array parameter, typed by the table's own columns."""
    names = ", ".join(f'"{f.name}"' for f in schema)
    target = f"{schema_name}.{name}"
    return (
        f"INSERT INTO {target} ({names}) "
        f"SELECT {names} FROM json_populate_recordset(NULL::{target}, ?::json)"
    )


def upsert_sql(schema_name: str, table: GoldTable, schema: T.StructType) -> str:
    key = ["window_start", *table.key]
    updates = [f"{f.name} = EXCLUDED.{f.name}" for f in schema if f.name not in key]
    return (
        f"{insert_sql(schema_name, table.name, schema)} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        f"{', '.join([*updates, 'served_at = clock_timestamp()'])}"
    )


def _json_array(rows: DataFrame) -> str:
    return "[" + ",".join(rows.toJSON().collect()) + "]"


class Serving:
    def __init__(self, spark: SparkSession, settings: ServingSettings):
        self._spark = spark
        self._settings = settings
        self._connection = None

    def _connect(self):
        if self._connection is None or self._connection.isClosed():
            jvm = self._spark._jvm
            loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
            # Class.newInstance: py4j cannot pass getDeclaredConstructor's empty varargs.
            driver = loader.loadClass("org.postgresql.Driver").newInstance()
            props = jvm.java.util.Properties()
            props.setProperty("user", self._settings.user)
            props.setProperty("password", self._settings.password)
            props.setProperty("connectTimeout", "10")
            self._connection = driver.connect(self._settings.jdbc_url, props)
            if self._connection is None:
                raise ValueError(f"the PostgreSQL driver refused {self._settings.jdbc_url}")
        return self._connection

    def execute(self, sql: str, *params: str) -> int:
        statement = self._connect().prepareStatement(sql)
        try:
            for i, value in enumerate(params, start=1):
                statement.setString(i, value)
            return statement.executeUpdate()
        finally:
            statement.close()

    def ensure_tables(self, tables: dict[GoldTable, T.StructType]) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self._settings.schema}")
        for table, schema in tables.items():
            key = ["window_start", *table.key]
            self.execute(create_table_sql(self._settings.schema, table.name, schema, key))

    def upsert(self, table: GoldTable, rows: DataFrame) -> int:
        """Upsert `rows` (small: one batch's windows); returns how many rows were written."""
        payload = _json_array(rows)
        if payload == "[]":
            return 0
        return self.execute(upsert_sql(self._settings.schema, table, rows.schema), payload)

    def replace(self, name: str, rows: DataFrame, day: date | None = None) -> int:
        """Table `name` (created from the rows' schema if missing) holds `rows` (a batch job's
        result, small) in place of what it held, in one transaction; returns how many rows were
        written. With `day`, only the rows of that day (column `day`) are replaced."""
        schema = self._settings.schema
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        self.execute(create_table_sql(schema, name, rows.schema, []))
        payload = _json_array(rows)
        connection = self._connect()
        connection.setAutoCommit(False)
        try:
            if day is None:
                self.execute(f"DELETE FROM {schema}.{name}")
            else:
                self.execute(f"DELETE FROM {schema}.{name} WHERE day = CAST(? AS date)", str(day))
            written = self.execute(insert_sql(schema, name, rows.schema), payload)
            connection.commit()
        except Exception:
            connection.rollback()
            raise
        finally:
            connection.setAutoCommit(True)
        return written

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
