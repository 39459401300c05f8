# Template: generate-dev-secrets.sh renders it to dataflow-secrets.yaml (git-ignored).
# Key of an OpenAI-compatible embeddings endpoint; empty while EMBEDDINGS_PROVIDER is "local".
apiVersion: v1
kind: Secret
metadata:
  name: dataflow-secrets
  labels:
    app: alice-dataflow
    app.kubernetes.io/part-of: alice
type: Opaque
stringData:
  ALICE_INTERNAL_TOKEN: "${DATAFLOW_INTERNAL_TOKEN}"  # its internal API's own token
  EMBEDDINGS_API_KEY: "${EMBEDDINGS_API_KEY}"
