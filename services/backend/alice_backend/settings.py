from alice_common.settings import AliceSettings


class Settings(AliceSettings):
    service_name: str = "backend"
    port: int = 8000
