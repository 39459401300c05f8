"""Operator command: who is an administrator. Run where the backend's settings are (its env):

    python -m alice_backend admin grant you@example.com     # the account must exist
    python -m alice_backend admin revoke you@example.com
    python -m alice_backend admin list

In Docker Compose: `docker compose exec backend python -m alice_backend admin grant EMAIL`;
in Kubernetes: `kubectl exec -n alice deploy/backend -- python -m alice_backend admin grant EMAIL`.
"""

import argparse
import asyncio

from alice_common import clients

from alice_backend.emails import canonical_email
from alice_backend.settings import Settings
from alice_backend.users import Users


async def run(action: str, email: str | None) -> int:
    settings = Settings()
    mongo = clients.mongo_client(settings)
    try:
        users = Users(mongo[settings.mongodb_database])
        if action == "list":
            for user in await users.admins():
                print(user["email"])
            return 0
        address = canonical_email(email or "")
        user = await users.set_admin(address, action == "grant")
        if user is None:
            print(f"no account with the email {address}: sign up first, then grant")
            return 1
        print(f"{address}: {'administrator' if user['is_admin'] else 'not an administrator'}")
        return 0
    finally:
        await mongo.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m alice_backend admin", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["grant", "revoke", "list"])
    parser.add_argument("email", nargs="?")
    args = parser.parse_args(argv)
    if args.action != "list" and not args.email:
        parser.error(f"{args.action} needs an email")
    return asyncio.run(run(args.action, args.email))
