#!/bin/sh
# kafka-server-start.sh CONFIG: a KRaft broker and/or controller in the foreground.
base=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
: "${KAFKA_HEAP_OPTS:=-Xms512m -Xmx1g}"
: "${KAFKA_JVM_PERFORMANCE_OPTS:=-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true}"
: "${KAFKA_LOG4J_OPTS:=-Dlog4j2.configurationFile=$base/config/log4j2.properties}"
export KAFKA_HEAP_OPTS KAFKA_JVM_PERFORMANCE_OPTS KAFKA_LOG4J_OPTS
exec "$base/bin/kafka-run-class.sh" kafka.Kafka "$@"
