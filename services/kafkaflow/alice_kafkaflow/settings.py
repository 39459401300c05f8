from alice_common.settings import AliceSettings


class Settings(AliceSettings):
    service_name: str = "kafkaflow"
    port: int = 9094
    # The names this service answers to in the Host header (probes are exempt): the backend calls
    # it by its service name in compose and k8s.
    allowed_hosts: str = "127.0.0.1,localhost"

    # Seconds between two snapshots of every topic and consumer group.
    poll_interval_s: float = 5.0
    # Rates are the offset slope over this many seconds.
    rate_window_s: float = 60.0
    # Most DLQ records one `GET /api/flows/dlq/{topic}` returns.
    dlq_max_list: int = 500
