# Template: generate-dev-secrets.sh renders it to backend-secrets.yaml (git-ignored).
# Only the backend signs and verifies access tokens.
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
