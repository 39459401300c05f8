from alice_common.settings import AliceSettings


class Settings(AliceSettings):
    service_name: str = "dataflow"
    port: int = 8002
