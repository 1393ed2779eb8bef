"""Create the console's first admin (or any account), or reset an account's password, from the command line.

    python -m tools.create_admin --config config.yaml --username admin --org 370000
    SDGH_ADMIN_PW='...' python -m tools.create_admin --config config.yaml --username admin --org 370000 \
        --password-env SDGH_ADMIN_PW
    python -m tools.create_admin --config config.yaml --username admin --reset   # forgotten password

The password is read from a prompt (twice, not echoed) unless `--password-env VAR` names an environment
variable holding it. With the embedded MongoDB (empty mongo.url) the service must be stopped first,
since the database files belong to one process at a time; with a configured mongo.url it may run.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from core.config import ConfigError, Settings, load_settings
from core.db import connect_mongo
from core.embedded import EmbeddedServer, start_mongo
from core.errors import ServiceError
from services.editors import accounts as editors
from services.editors import store
from storage.indexes import ensure_indexes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.create_admin", description="创建控制台账号 / 重置密码")
    p.add_argument("--config", type=Path, default=Path("config.yaml"), help="path of config.yaml")
    p.add_argument("--username", required=True, help="login name (2-32 lower-case letters, digits, _ . -)")
    p.add_argument("--org", default="370000", help="org code the account manages (default: the province)")
    p.add_argument("--name", default="", help="the person's name shown in the console and the audit log")
    p.add_argument("--role", default="admin", choices=sorted(editors.ROLES), help="default: admin")
    p.add_argument("--password-env", metavar="VAR", help="read the password from this environment variable")
    p.add_argument("--reset", action="store_true", help="set a new password for an existing account and enable it")
    return p


def _password(args: argparse.Namespace) -> str:
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise SystemExit(f"error: environment variable {args.password_env} is empty or not set")
        return value
    first = getpass.getpass("新密码（至少 10 位，含字母、数字、符号中的两类）: ")
    if getpass.getpass("再输入一次: ") != first:
        raise SystemExit("error: the two passwords differ")
    return first


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, os.environ)
    embedded: EmbeddedServer | None = None
    url = settings.mongo.url
    if not url:
        try:
            embedded = await start_mongo(settings.data_path)
        except RuntimeError:
            print(
                "error: cannot open the embedded database under "
                f"{settings.data_path / 'mongo'}: is the service running? Stop it and try again "
                "(or set mongo.url / SDGH_MONGO_URL to a shared MongoDB).",
                file=sys.stderr,
            )
            return 1
        url = embedded.url
    mongo = connect_mongo(url)
    try:
        db = mongo[settings.mongo.db]
        await ensure_indexes(db)
        from seed import seed_all

        await seed_all(db)  # the org tree must exist to place the account
        username = editors.check_username(args.username)
        if args.reset:
            if await store.get(db, username) is None:
                print(f"error: no account named {username}", file=sys.stderr)
                return 1
            await editors.set_password(db, username, editors.check_password(_password(args), username), "命令行")
            await store.update(db, username, {"disabled": False})
            print(f"password of {username} reset; the account is enabled. Log in at {_login_url(settings)}")
            return 0
        password = editors.check_password(_password(args), username)
        data = {
            "username": username,
            "name": args.name or username,
            "role": args.role,
            "org": args.org,
            "password": password,
        }
        doc = await editors.create(db, None, data)
        from services.editors import audit

        await audit.record(
            db,
            None,
            "editor.create",
            "editor",
            username,
            doc["org_path"],
            summary=f"命令行创建账号 {username}（{editors.ROLES[doc['role']]}）",
            after=editors.public(doc),
        )
        print(f"created {editors.ROLES[doc['role']]} {username} for org {doc['org']}. Log in at {_login_url(settings)}")
        return 0
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await mongo.close()
        if embedded is not None:
            embedded.stop()


def _login_url(settings: Settings) -> str:
    return settings.server.public_url.rstrip("/") + "/admin/login"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
