#!/usr/bin/env bash
# Make the Secrets of this folder from its *.yaml.tpl templates.
#
#   k8s/secrets/generate-dev-secrets.sh            # random values, kept in dev-secrets.env
#   ALICE_SECRETS_ENV=/path/prod.env k8s/secrets/generate-dev-secrets.sh   # your own values
#
# Values come from an env file (KEY=value lines, git-ignored); a missing dev-secrets.env is
# created with random values. The rendered *.yaml files sit beside the templates (git-ignored)
# so both `kubectl apply -f k8s/secrets/` and the overlays (through k8s/secrets/Kustomization) pick them up.
# Re-running keeps existing values (pods keep working); delete dev-secrets.env to rotate.
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
env_file="${ALICE_SECRETS_ENV:-$dir/dev-secrets.env}"
# Each internal service accepts only its own token; ALICE_INTERNAL_TOKEN is the backend's.
internal_tokens=(ORCHESTRATOR_INTERNAL_TOKEN DATAFLOW_INTERNAL_TOKEN KAFKAFLOW_INTERNAL_TOKEN)
keys=(ALICE_INTERNAL_TOKEN "${internal_tokens[@]}" JWT_SECRET WEAVIATE_API_KEY REDIS_PASSWORD MONGODB_ROOT_USERNAME
      MONGODB_ROOT_PASSWORD MONGODB_APP_USERNAME MONGODB_APP_PASSWORD MONGODB_KEYFILE)
optional_keys=(LLM_API_KEY EMBEDDINGS_API_KEY  # only for the OpenAI-compatible providers
               OIDC_CLIENT_SECRET)  # only with single sign-on

random() {  # N alphanumeric characters (URL-safe, no quoting or escaping needed anywhere)
  local out=""
  while [ "${#out}" -lt "$1" ]; do
    out+="$(head -c 96 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
  done
  printf '%s' "${out:0:$1}"
}

if [ ! -f "$env_file" ]; then
  umask 077
  {
    echo "# Dev secrets for Alice, generated $(date -u +%Y-%m-%dT%H:%M:%SZ). Never commit."
    echo "ALICE_INTERNAL_TOKEN=$(random 48)"
    for key in "${internal_tokens[@]}"; do echo "$key=$(random 48)"; done
    echo "JWT_SECRET=$(random 64)"
    echo "WEAVIATE_API_KEY=$(random 40)"
    echo "REDIS_PASSWORD=$(random 32)"
    echo "MONGODB_ROOT_USERNAME=root"
    echo "MONGODB_ROOT_PASSWORD=$(random 32)"
    echo "MONGODB_APP_USERNAME=alice"
    echo "MONGODB_APP_PASSWORD=$(random 32)"
    echo "MONGODB_KEYFILE=$(random 756)"
    echo "# Set these when LLM_PROVIDER / EMBEDDINGS_PROVIDER is openai."
    echo "LLM_API_KEY="
    echo "EMBEDDINGS_API_KEY="
    echo "# Set this with OIDC_ISSUER and OIDC_CLIENT_ID (backend-config) for single sign-on."
    echo "OIDC_CLIENT_SECRET="
  } > "$env_file"
  echo "created $env_file"
fi

# A token added after the file was made: generated into the development file (never into yours).
if [ -z "${ALICE_SECRETS_ENV:-}" ]; then
  for key in "${internal_tokens[@]}"; do
    grep -q "^$key=." "$env_file" || echo "$key=$(random 48)" >> "$env_file"
  done
fi

declare -A value
while IFS='=' read -r key rest; do
  [[ -z "$key" || "$key" == \#* ]] && continue
  value[$key]="$rest"
done < "$env_file"
for key in "${keys[@]}"; do
  if [ -z "${value[$key]:-}" ]; then
    echo "error: $env_file has no value for $key" >&2
    exit 1
  fi
done

umask 077
for template in "$dir"/*.yaml.tpl; do
  content="$(< "$template")"
  for key in "${keys[@]}" "${optional_keys[@]}"; do
    content="${content//\$\{$key\}/${value[$key]:-}}"
  done
  out="${template%.tpl}"
  printf '%s\n' "$content" > "$out"
  echo "wrote $out"
done
