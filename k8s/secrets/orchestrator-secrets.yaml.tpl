# Template: generate-dev-secrets.sh renders it to orchestrator-secrets.yaml (git-ignored).
# Keys of OpenAI-compatible providers; empty while LLM_PROVIDER/EMBEDDINGS_PROVIDER are "local".
apiVersion: v1
kind: Secret
metadata:
  name: orchestrator-secrets
  labels:
    app: alice-orchestrator
    app.kubernetes.io/part-of: alice
type: Opaque
stringData:
  ALICE_INTERNAL_TOKEN: "${ORCHESTRATOR_INTERNAL_TOKEN}"  # its internal API's own token
  LLM_API_KEY: "${LLM_API_KEY}"
  EMBEDDINGS_API_KEY: "${EMBEDDINGS_API_KEY}"
