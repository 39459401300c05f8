# Template: generate-dev-secrets.sh renders it to kafkaflow-secrets.yaml (git-ignored).
# The token kafkaflow's API accepts (only the backend holds it too).
apiVersion: v1
kind: Secret
metadata:
  name: kafkaflow-secrets
  labels:
    app: alice-kafkaflow
    app.kubernetes.io/part-of: alice
type: Opaque
stringData:
  ALICE_INTERNAL_TOKEN: "${KAFKAFLOW_INTERNAL_TOKEN}"
