#!/usr/bin/env bash
# ShellCheck on every shell script of the repository (`make lint` and the lint step of `make test`):
# the *.sh files and the extension-less ones whose first line is a bash or sh shebang (.ci/run,
# tools/cluster/kind). Tracked and new (not ignored) files both count.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v shellcheck >/dev/null || { echo "shellcheck is missing: run scripts/bootstrap.sh" >&2; exit 1; }

scripts=()
while IFS= read -r -d '' file; do
  [[ -f "$file" ]] || continue
  if [[ "$file" == *.sh ]] || head -n 1 "$file" | grep -qE '^#!.*\b(ba)?sh\b'; then scripts+=("$file"); fi
done < <(git ls-files -z --cached --others --exclude-standard)
# -x follows `source`d files; their paths are relative to the repository root, where the scripts cd.
shellcheck -x "${scripts[@]}"
echo "ShellCheck: ${#scripts[@]} scripts, no findings"
