#!/bin/bash
# KAFKA_FOO_BAR=x becomes foo.bar=x (as in the apache/kafka image); formats storage on first start.
set -euo pipefail
props=/opt/kafka/config/server.properties
: >"$props"
while IFS='=' read -r name value; do
  [[ $name == KAFKA_* && $name != KAFKA_HEAP_OPTS && $name != KAFKA_OPTS ]] || continue
  key="${name#KAFKA_}"
  key="${key,,}"
  printf '%s=%s\n' "${key//_/.}" "$value" >>"$props"
done < <(env)
read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xmx512m -Xms128m}"   # one word per option, as apache/kafka splits it
java_argv=(java "${heap_opts[@]}" -XX:+UseG1GC -Djava.awt.headless=true
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.xml -cp '/opt/kafka/libs/*')
log_dir="$(sed -n 's/^log.dirs=//p' "$props")"
if [[ ! -f "${log_dir:-/var/lib/kafka/data}/meta.properties" ]]; then
  "${java_argv[@]}" kafka.tools.StorageTool format -t "${CLUSTER_ID:?CLUSTER_ID is required}" -c "$props"
fi
exec "${java_argv[@]}" kafka.Kafka "$props"
