"""Operator commands of ``skyalert``: users, credentials, signing keys, Kafka ACLs.

``skyalert.broker.run.cli`` registers them; each one is a thin call into this package.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from skyalert.broker.core.settings import Settings

if TYPE_CHECKING:
    from skyalert.auth.context import AuthContext

CLI_ACTOR = "cli"


@contextmanager
def _context(settings: Settings) -> Iterator[AuthContext]:
    # Imported here: every `skyalert` command registers these, few run them.
    from skyalert.auth.context import AuthContext
    from skyalert.broker.core.db import make_sessionmaker
    from skyalert.broker.core.migrate import migrated_engine
    from skyalert.schemas.catalog import load_catalog

    engine = migrated_engine(settings)
    try:
        yield AuthContext.build(settings, make_sessionmaker(engine), load_catalog())
    finally:
        engine.dispose()


def _warn_if_kafka_unchanged(context: AuthContext) -> None:
    """The change is saved, but Kafka keeps the old permissions until an ACL sync: say so."""
    acls = context.directory.acls
    if not acls.enabled:
        print(
            f"skyalert: warning: Kafka ACLs were not updated ({acls.why_disabled()}); "
            "run `skyalert acls sync` with SKYALERT_KAFKA_BOOTSTRAP set",
            file=sys.stderr,
        )


def cmd_users_create(args: argparse.Namespace, settings: Settings) -> int:
    from skyalert.broker.core.secrets import random_token

    password = args.password or random_token(12)
    with _context(settings) as ctx:
        user = ctx.directory.create_user(
            args.email, password, verified=args.verified, admin=args.admin, actor=CLI_ACTOR
        )
    roles = " (admin)" if args.admin else ""
    print(f"created {user.email}{roles}" + ("" if args.verified else ", not yet verified"))
    if not args.password:
        print(f"password: {password}  (shown once; change it at {settings.base_url}/account)")
    return 0


def cmd_users_grant(args: argparse.Namespace, settings: Settings) -> int:
    with _context(settings) as ctx:
        changed = ctx.directory.grant(args.email, args.group, actor=CLI_ACTOR)
        _warn_if_kafka_unchanged(ctx)
    print(f"{args.email} {'is now' if changed else 'was already'} in {args.group}")
    return 0


def cmd_users_revoke(args: argparse.Namespace, settings: Settings) -> int:
    with _context(settings) as ctx:
        changed = ctx.directory.revoke(args.email, args.group, actor=CLI_ACTOR)
        _warn_if_kafka_unchanged(ctx)
    print(f"{args.email} {'left' if changed else 'was not in'} {args.group}")
    return 0


def cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
    disable = args.users_command == "disable"
    with _context(settings) as ctx:
        changed = ctx.directory.set_disabled(args.email, disable, actor=CLI_ACTOR)
        _warn_if_kafka_unchanged(ctx)
    state = "disabled" if disable else "enabled"
    print(f"{args.email} {'is now' if changed else 'was already'} {state}")
    return 0


def cmd_credentials_create(args: argparse.Namespace, settings: Settings) -> int:
    from skyalert.auth.credentials import ALL
    from skyalert.auth.errors import NotFound

    scopes: Any = ALL if not args.scope or ALL in args.scope else args.scope
    with _context(settings) as ctx:
        user = ctx.directory.find(args.user)
        if user is None:
            raise NotFound(f"there is no account with the email address {args.user!r}")
        shown, secret = ctx.directory.create_credential(user.id, args.name, scopes, actor=CLI_ACTOR)
        _warn_if_kafka_unchanged(ctx)
    if args.json:
        print(json.dumps({**shown.as_json(), "client_secret": secret}))
    else:
        print(f"client_id:     {shown.client_id}")
        print(f"client_secret: {secret}  (shown once)")
        print(f"scopes:        {' '.join(shown.scopes)}")
        print(f"token URL:     {settings.base_url}/oauth2/token")
    return 0


def cmd_credentials_delete(args: argparse.Namespace, settings: Settings) -> int:
    with _context(settings) as ctx:
        ctx.directory.delete_credential(None, args.client_id, actor=CLI_ACTOR)
        _warn_if_kafka_unchanged(ctx)
    print(f"deleted {args.client_id}; its tokens are refused from now on")
    return 0


def cmd_keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from skyalert.auth.keys import create_key

    with _context(settings) as ctx:
        with ctx.sessions.begin() as session:
            kid = create_key(session, settings).kid
        ctx.ring.reload()  # rewrites the local JWKS file too
    print(
        f"new signing key {kid}; older keys stay published for {settings.token_lifetime} s "
        "so the tokens they signed keep working until they expire"
    )
    return 0


def cmd_acls_sync(args: argparse.Namespace, settings: Settings) -> int:
    with _context(settings) as ctx:
        if not ctx.acls.enabled:
            print(f"warning: Kafka ACL sync skipped: {ctx.acls.why_disabled()}")
            return 0
        report = ctx.acls.sync_all()
    for line in report.lines():
        print(line)
    return 0


def register(sub: Any) -> None:
    """Add the subcommands to ``skyalert``'s argparse subparsers."""
    users = sub.add_parser("users", help="accounts and groups").add_subparsers(
        dest="users_command", required=True, metavar="ACTION"
    )
    create = users.add_parser("create", help="create an account")
    create.add_argument("email")
    create.add_argument("--password", help="default: a random one, printed once")
    create.add_argument("--verified", action="store_true", help="skip the email verification")
    create.add_argument("--admin", action="store_true", help="add to the admins group")
    create.set_defaults(func=cmd_users_create)
    for name, func, text in (
        ("grant", cmd_users_grant, "add an account to a group"),
        ("revoke", cmd_users_revoke, "remove an account from a group"),
    ):
        action = users.add_parser(name, help=text)
        action.add_argument("email")
        action.add_argument("group", help="e.g. producers.gcn, restricted.lvk_early, admins")
        action.set_defaults(func=func)
    for name, text in (
        ("disable", "disable an account: no login, tokens refused, Kafka ACLs removed"),
        ("enable", "re-enable a disabled account"),
    ):
        toggle = users.add_parser(name, help=text)
        toggle.add_argument("email")
        toggle.set_defaults(func=cmd_users_disable)

    credentials = sub.add_parser("credentials", help="client credentials").add_subparsers(
        dest="credentials_command", required=True, metavar="ACTION"
    )
    new = credentials.add_parser("create", help="create a credential for an account")
    new.add_argument("--user", required=True, metavar="EMAIL")
    new.add_argument("--name", required=True)
    new.add_argument(
        "--scope",
        action="append",
        metavar="S",
        help="a scope the account holds; repeat; 'all' (default) for every one",
    )
    new.add_argument(
        "--json", action="store_true", help="print JSON with client_id and client_secret"
    )
    new.set_defaults(func=cmd_credentials_create)
    gone = credentials.add_parser("delete", help="delete (revoke) a credential")
    gone.add_argument("client_id")
    gone.set_defaults(func=cmd_credentials_delete)

    keys = sub.add_parser("keys", help="token signing keys").add_subparsers(
        dest="keys_command", required=True, metavar="ACTION"
    )
    keys.add_parser("rotate", help="start signing with a new key").set_defaults(
        func=cmd_keys_rotate
    )

    acls = sub.add_parser("acls", help="Kafka ACLs").add_subparsers(
        dest="acls_command", required=True, metavar="ACTION"
    )
    acls.add_parser("sync", help="make Kafka's ACLs match credentials and groups").set_defaults(
        func=cmd_acls_sync
    )
