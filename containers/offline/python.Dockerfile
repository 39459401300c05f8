# Python 3.11 on Debian bookworm, like python:3.11-slim-bookworm but from Debian's own package.
ARG DEBIAN_IMAGE=alice-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 ca-certificates \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python \
    && ln -s /usr/bin/python3.11 /usr/local/bin/python3 \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["python3.11"]
