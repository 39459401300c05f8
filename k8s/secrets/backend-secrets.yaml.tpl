# Template: generate-dev-secrets.sh renders it to backend-secrets.yaml (git-ignored).
# Only the backend signs and verifies access tokens, and only the backend holds the token of each
# internal service (orchestrator, dataflow, kafkaflow accept only their own).
apiVersion: v1
kind: Secret
metadata:
  name: backend-secrets
  labels:
    app: alice-backend
    app.kubernetes.io/part-of: alice
type: Opaque
stringData:
  JWT_SECRET: "${JWT_SECRET}"
  ALICE_INTERNAL_TOKEN: "${ALICE_INTERNAL_TOKEN}"
  ORCHESTRATOR_INTERNAL_TOKEN: "${ORCHESTRATOR_INTERNAL_TOKEN}"
  DATAFLOW_INTERNAL_TOKEN: "${DATAFLOW_INTERNAL_TOKEN}"
  KAFKAFLOW_INTERNAL_TOKEN: "${KAFKAFLOW_INTERNAL_TOKEN}"
  # Single sign-on's client secret: empty while OIDC_ISSUER is unset (docs/operations.md).
  OIDC_CLIENT_SECRET: "${OIDC_CLIENT_SECRET}"
