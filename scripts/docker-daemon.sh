#!/usr/bin/env bash
# Make sure a Docker daemon answers, without systemd:
#   scripts/docker-daemon.sh start [RECORD]   start dockerd in the background when none answers; when
#                                             it started one and RECORD is given, write "dockerd" there
#   scripts/docker-daemon.sh stop             stop the dockerd this script started (nothing else)
#   scripts/docker-daemon.sh check            fail with a clear message unless containers can run
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
state_dir="${ALICE_DOCKERD_DIR:-$ALICE_CACHE_DIR/dockerd}"
pid_file="$state_dir/dockerd.pid"
log_file="$state_dir/dockerd.log"

answers() { timeout 20 docker info >/dev/null 2>&1; }

case "${1:-}" in
  start)
    answers && exit 0
    command -v dockerd >/dev/null || { echo "dockerd not found: run scripts/bootstrap.sh --containers" >&2; exit 1; }
    mkdir -p "$state_dir"
    echo "==> starting dockerd (log: $log_file)"
    # BuildKit's default garbage collection keeps at most 512 MB of cache mounts, so the uv cache
    # mount holding the compiled llama-cpp-python wheel (a 5-20 minute build) was dropped between
    # two builds. Keep the build cache, cache mounts included, up to a size instead.
    cat >"$state_dir/daemon.json" <<JSON
{"builder": {"gc": {"enabled": true, "defaultKeepStorage": "${ALICE_DOCKER_BUILD_CACHE:-20GB}",
  "policy": [{"keepStorage": "${ALICE_DOCKER_BUILD_CACHE:-20GB}", "all": true}]}}}
JSON
    # The daemon outlives this script: it must not keep the caller's open files, above all a lock
    # (`flock /tmp/alice-cluster.lock tools/cluster/cluster.sh up` left the lock held by dockerd).
    inherited=()
    for fd in /proc/self/fd/*; do
      fd="${fd##*/}"
      ((fd > 2)) && inherited+=("$fd")
    done
    (
      for fd in "${inherited[@]}"; do eval "exec $fd>&-" 2>/dev/null || true; done
      exec setsid dockerd --config-file "$state_dir/daemon.json" >>"$log_file" 2>&1 </dev/null
    ) &
    echo $! >"$pid_file"
    for _ in $(seq 60); do
      answers && { [[ -n "${2:-}" ]] && echo dockerd >>"$2"; exit 0; }
      kill -0 "$(cat "$pid_file")" 2>/dev/null || break
      sleep 1
    done
    echo "dockerd did not come up; last lines of $log_file:" >&2
    tail -20 "$log_file" >&2
    exit 1
    ;;
  stop)
    [[ -f "$pid_file" ]] || exit 0
    pid="$(cat "$pid_file")"
    if kill -0 "$pid" 2>/dev/null && grep -q dockerd "/proc/$pid/cmdline" 2>/dev/null; then
      echo "==> stopping the dockerd started by scripts/docker-daemon.sh (pid $pid)"
      kill -TERM "$pid"
      for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    rm -f "$pid_file"
    ;;
  check)
    if ! answers; then
      echo "no Docker daemon answers: run scripts/docker-daemon.sh start (or scripts/bootstrap.sh --containers)" >&2
      exit 1
    fi
    # A container must actually start here (cgroups, capabilities, seccomp): run /usr/bin/true from
    # an image made of this machine's own files, so the check needs no registry.
    if ! docker image inspect alice-probe:true >/dev/null 2>&1; then
      tar -C / -ch usr/bin/true lib64/ld-linux-x86-64.so.2 usr/lib/x86_64-linux-gnu/libc.so.6 2>/dev/null \
        | docker import - alice-probe:true >/dev/null
    fi
    if ! out="$(timeout 60 docker run --rm --read-only --network none alice-probe:true /usr/bin/true 2>&1)"; then
      echo "Docker answers but cannot run a container: $out" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start [RECORD] | stop | check" >&2
    exit 2
    ;;
esac
