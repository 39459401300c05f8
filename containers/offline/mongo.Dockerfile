# A MongoDB wire-protocol server: FerretDB with SQLite, as devstack runs it (context: its binary).
ARG DEBIAN_IMAGE=alice-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
RUN groupadd --gid 999 mongodb && useradd --uid 999 --gid 999 --no-create-home mongodb \
    && mkdir -p /data/db && chown 999:999 /data/db
COPY ferretdb /usr/local/bin/ferretdb
USER 999:999
EXPOSE 27017
ENTRYPOINT ["/usr/local/bin/ferretdb", "--listen-addr=0.0.0.0:27017", "--data-dir=/data/db"]
