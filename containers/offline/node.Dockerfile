# Node 20.19 with npm from Debian trixie (bookworm's Node 18 is too old for Vite 7): a build stage only.
ARG DEBIAN_IMAGE=alice-offline/debian:trixie
FROM ${DEBIAN_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm ca-certificates \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["node"]
