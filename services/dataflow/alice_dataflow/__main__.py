from alice_common.server import serve

from alice_dataflow.main import create_app
from alice_dataflow.settings import Settings


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
