#!/usr/bin/env bash
# Create the git-ignored .env that docker-compose.yml reads its secrets from: random values on first
# use, kept afterwards (the stack's data stays readable). Delete .env to rotate.
set -euo pipefail
env_file="${1:-$(cd "$(dirname "$0")/.." && pwd)/.env}"
[[ -f "$env_file" ]] && exit 0

random() {  # N alphanumeric characters: no quoting needed in an env file or a URL
  local out=""
  while ((${#out} < $1)); do out+="$(head -c 96 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"; done
  printf '%s' "${out:0:$1}"
}

umask 077
{
  echo "# Secrets for docker compose, generated $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/compose-env.sh. Never commit."
  echo "JWT_SECRET=$(random 64)"
  echo "ALICE_INTERNAL_TOKEN=$(random 48)"
  echo "WEAVIATE_API_KEY=$(random 40)"
  echo "# Only for LLM_PROVIDER / EMBEDDINGS_PROVIDER=openai."
  echo "LLM_API_KEY="
  echo "EMBEDDINGS_API_KEY="
} >"$env_file"
echo "==> wrote $env_file (random secrets for docker compose)"
