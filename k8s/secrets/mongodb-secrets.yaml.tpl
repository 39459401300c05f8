# Template: generate-dev-secrets.sh renders it to mongodb-secrets.yaml (git-ignored).
# username/password: the root user (replica set admin, init Job); app-*: the readWrite user
# of the "alice" database that MONGODB_URL uses; keyfile: replica-set member authentication.
apiVersion: v1
kind: Secret
metadata:
  name: mongodb-secrets
  labels:
    app: alice-mongodb
    app.kubernetes.io/part-of: alice
type: Opaque
stringData:
  username: "${MONGODB_ROOT_USERNAME}"
  password: "${MONGODB_ROOT_PASSWORD}"
  app-username: "${MONGODB_APP_USERNAME}"
  app-password: "${MONGODB_APP_PASSWORD}"
  keyfile: "${MONGODB_KEYFILE}"
