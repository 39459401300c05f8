# Template: generate-dev-secrets.sh renders it to redis-secrets.yaml (git-ignored).
apiVersion: v1
kind: Secret
metadata:
  name: redis-secrets
  labels:
    app: alice-redis
    app.kubernetes.io/part-of: alice
type: Opaque
stringData:
  password: "${REDIS_PASSWORD}"
