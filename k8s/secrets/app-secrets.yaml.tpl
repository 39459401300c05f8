# Template: generate-dev-secrets.sh renders it to app-secrets.yaml (git-ignored).
# Read by every Python service through envFrom; names = settings fields upper-cased. No internal
# token here: each service gets its own from its own Secret (only the backend holds all of them).
apiVersion: v1
kind: Secret
metadata:
  name: app-secrets
  labels:
    app.kubernetes.io/part-of: alice
type: Opaque
stringData:
  MONGODB_URL: "mongodb://${MONGODB_APP_USERNAME}:${MONGODB_APP_PASSWORD}@mongodb-0.mongodb:27017,mongodb-1.mongodb:27017,mongodb-2.mongodb:27017/alice?replicaSet=rs0&authSource=alice"
  REDIS_URL: "redis://:${REDIS_PASSWORD}@redis:6379/0"
  WEAVIATE_API_KEY: "${WEAVIATE_API_KEY}"
