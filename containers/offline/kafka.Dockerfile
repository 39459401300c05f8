# Apache Kafka (KRaft) from the pinned jars devstack fetched, on Debian's JRE 17. Configured like
# apache/kafka: every KAFKA_* variable becomes a server property; CLUSTER_ID formats fresh storage.
ARG DEBIAN_IMAGE=alice-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 1000 appuser && useradd --uid 1000 --gid 1000 --no-create-home appuser \
    && mkdir -p /var/lib/kafka/data /opt/kafka/bin /opt/kafka/config /etc/kafka/docker \
    && chown -R 1000:1000 /var/lib/kafka /opt/kafka/config \
    && ln -s /opt/kafka/bin/kafka-run.sh /etc/kafka/docker/run
# /etc/kafka/docker/run is apache/kafka's entry point, which the Kubernetes StatefulSet execs.
# Context (staged by scripts/offline-images.sh): libs/, devstack's log4j2.xml and the two scripts.
COPY libs /opt/kafka/libs/
COPY kafka-run.sh kafka-broker-api-versions.sh /opt/kafka/bin/
COPY log4j2.xml /opt/kafka/config/log4j2.xml
USER 1000:1000
EXPOSE 9092
ENTRYPOINT ["/opt/kafka/bin/kafka-run.sh"]
