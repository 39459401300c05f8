import sys

from alice_common.server import serve

from alice_backend.main import create_app
from alice_backend.settings import Settings


def main() -> None:
    if sys.argv[1:2] == ["admin"]:
        from alice_backend import admin_cli

        sys.exit(admin_cli.main(sys.argv[2:]))
    settings = Settings()
    serve(create_app(settings), settings, forwarded_allow_ips=settings.forwarded_allow_ips)


if __name__ == "__main__":
    main()
