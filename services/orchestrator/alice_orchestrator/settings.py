from alice_common.settings import AliceSettings


class Settings(AliceSettings):
    service_name: str = "orchestrator"
    port: int = 8001
