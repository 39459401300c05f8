#!/bin/bash
# Same name and use as in the apache/kafka image (the compose healthcheck calls it).
exec java -Xmx64m -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.xml -cp '/opt/kafka/libs/*' \
  org.apache.kafka.tools.BrokerApiVersionsCommand "$@"
