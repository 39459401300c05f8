# Debian's curl: the backup CronJobs' Weaviate client (k8s/backup), as curlimages/curl is.
ARG DEBIAN_IMAGE=alice-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends curl ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
USER 10001:10001
ENTRYPOINT ["curl"]
