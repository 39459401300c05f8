#!/usr/bin/env bash
# Create the git-ignored .env that docker-compose.yml reads its secrets from: random values on first
# use, kept afterwards (the stack's data stays readable); a secret added later (REDIS_PASSWORD, MONGODB_PASSWORD, the per-service tokens) is
# appended to an existing .env. Delete .env (or a line of it) to rotate (docs/operations.md "Security").
set -euo pipefail
env_file="${1:-$(cd "$(dirname "$0")/.." && pwd)/.env}"

random() {  # N alphanumeric characters: no quoting needed in an env file or a URL
  local out=""
  while ((${#out} < $1)); do out+="$(head -c 96 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"; done
  printf '%s' "${out:0:$1}"
}

umask 077
if [[ ! -f "$env_file" ]]; then
  {
    echo "# Secrets for docker compose, generated $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/compose-env.sh. Never commit."
    echo "# Only for LLM_PROVIDER / EMBEDDINGS_PROVIDER=openai."
    echo "LLM_API_KEY="
    echo "EMBEDDINGS_API_KEY="
    echo "# Single sign-on (docs/operations.md): all three, or none."
    echo "OIDC_ISSUER="
    echo "OIDC_CLIENT_ID="
    echo "OIDC_CLIENT_SECRET="
  } >"$env_file"
  echo "==> wrote $env_file (random secrets for docker compose)"
fi
for pair in JWT_SECRET:64 ALICE_INTERNAL_TOKEN:48 ORCHESTRATOR_INTERNAL_TOKEN:48 DATAFLOW_INTERNAL_TOKEN:48 \
  KAFKAFLOW_INTERNAL_TOKEN:48 WEAVIATE_API_KEY:40 REDIS_PASSWORD:40 MONGODB_PASSWORD:40; do
  name="${pair%%:*}"
  if ! grep -q "^${name}=." "$env_file"; then
    sed -i "/^${name}=/d" "$env_file"
    echo "${name}=$(random "${pair##*:}")" >>"$env_file"
  fi
done
