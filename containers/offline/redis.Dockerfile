# Debian's Redis; data in /data (the compose volume), as the upstream image.
ARG DEBIAN_IMAGE=alice-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && mkdir /data && chown redis:redis /data
COPY redis-run.sh /usr/local/bin/redis-run.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-run.sh"]
CMD ["redis-server"]
