#!/bin/sh
# As in the official image: protected mode off, since the container network is the boundary (a
# redis-server started without a config file otherwise refuses every client but loopback).
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
