#!/bin/sh
# Launcher for the Kafka distribution the bundle assembles from Maven Central jars (upstream's
# scripts ship only in its tarball). Same names and environment variables as upstream's, so the
# roles treat both distributions alike.
set -e
base=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
: "${KAFKA_HEAP_OPTS:=-Xmx256m}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j2.configurationFile=$base/config/tools-log4j2.properties}"
: "${LOG_DIR:=$base/logs}"
# shellcheck disable=SC2086 # the *_OPTS variables hold several JVM flags each
exec "$java" $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS $KAFKA_JMX_OPTS $KAFKA_OPTS \
  -Dkafka.logs.dir="$LOG_DIR" $KAFKA_LOG4J_OPTS -cp "$base/libs/*" "$@"
