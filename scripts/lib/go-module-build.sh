# Sourced: build_from_module, for tools the project builds from their Go modules (cached binaries only).
# build_from_module <module> <version> <package dir> <output> [ldflags]
build_from_module() {
  local module=$1 version=$2 pkg=$3 out=$4 ldflags=${5:-}
  local work dir
  work="$(mktemp -d)"
  # `go install` refuses modules with `exclude`/`replace` directives (compose has them) and cannot
  # list some modules' versions (skaffold): build inside a writable copy of the downloaded module.
  dir="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  cp -r "$dir" "$work/src" && chmod -R u+w "$work/src"
  # A private build cache, deleted with the copy: Go build caches reach gigabytes; we keep binaries only.
  (cd "$work/src" && GOCACHE="$work/gocache" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $ldflags" -o "$out.new" "$pkg")
  mv "$out.new" "$out"
  rm -rf "$work"
}
