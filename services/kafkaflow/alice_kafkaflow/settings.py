from alice_common.settings import AliceSettings


class Settings(AliceSettings):
    service_name: str = "kafkaflow"
    port: int = 9094
