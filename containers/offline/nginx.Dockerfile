# Debian's nginx laid out like nginxinc/nginx-unprivileged: runs as any non-root UID, writes only
# /tmp (pid, temp files), logs to stdout/stderr, serves /etc/nginx/conf.d/*.conf. wget for healthchecks.
ARG DEBIAN_IMAGE=alice-offline/debian:bookworm
FROM ${DEBIAN_IMAGE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx-light wget \
    && apt-get clean && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && mkdir -p /usr/share/nginx/html /etc/nginx/conf.d
COPY nginx-main.conf /etc/nginx/nginx.conf
STOPSIGNAL SIGQUIT
CMD ["nginx", "-e", "stderr", "-g", "daemon off;"]
