from alice_common.server import serve

from alice_backend.main import create_app
from alice_backend.settings import Settings


def main() -> None:
    settings = Settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
