# shellcheck shell=bash
# Sourced: helpers for tools the project builds from their Go modules (cached binaries only).

# module_source <module> <version> <dest>: a writable copy of the downloaded module at <dest>.
# `go install` refuses modules with `exclude`/`replace` directives (compose has them) and cannot
# list some modules' versions (skaffold): builds happen inside such a copy instead.
module_source() {
  local module=$1 version=$2 dest=$3 dir
  dir="$(GOFLAGS=-mod=mod go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  cp -r "$dir" "$dest" && chmod -R u+w "$dest"
}

# build_from_module <module> <version> <package dir> <output> [ldflags]
# A private build cache, deleted with the copy (Go build caches reach gigabytes; we keep binaries
# only), unless the caller passes its own in GO_BUILD_CACHE (and deletes it).
build_from_module() {
  local module=$1 version=$2 pkg=$3 out=$4 ldflags=${5:-}
  local work
  work="$(mktemp -d)"
  module_source "$module" "$version" "$work/src"
  (cd "$work/src" && GOCACHE="${GO_BUILD_CACHE:-$work/gocache}" CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w $ldflags" -o "$out.new" "$pkg")
  mv "$out.new" "$out"
  rm -rf "$work"
}
