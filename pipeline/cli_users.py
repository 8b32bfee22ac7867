"""`threatline users add|passwd|list`: who may log in to the review console (review.users_file,
by default users.yaml in the data dir)."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from pipeline.cli import ConfigOption, app, settings
from pipeline.private_files import private_dir
from pipeline.terminal import printable

users_app = typer.Typer(help="Manage review console users (review.users_file).", no_args_is_help=True)
app.add_typer(users_app, name="users")

RoleOption = Annotated[str, typer.Option("--role", "-r", help="sro | counselor | analyst | admin")]


def _users_file(config):
    from pipeline.review.users import UsersFile

    s = settings(config)
    if s.review.users_file is None:  # the default, in the data dir: private like the rest of it
        private_dir(s.data_dir)
    return UsersFile(s.users_path)


PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="read the password from the first line of standard input (scripts, secret stores)")]


def _new_password(username: str, from_stdin: bool = False) -> str:
    """Asked twice, never echoed; asked again while it is too short or the two differ. With
    ``from_stdin``: the first line of standard input, once, with no prompt."""
    from pipeline.review.users import UserError, check_password

    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        try:
            return check_password(line, username)
        except UserError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
    for _ in range(3):
        password = typer.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True)
        try:
            return check_password(password, username)
        except UserError as exc:
            typer.echo(str(exc), err=True)
    raise typer.Exit(1)


def _run(call, *args):
    from pipeline.review.users import UserError

    try:
        return call(*args)
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@users_app.command("add")
def users_add(username: Annotated[str, typer.Argument(help="login name, e.g. the roster id 'reyes'")],
              role: RoleOption,
              name: Annotated[Optional[str], typer.Option("--name", help='full name, e.g. "Officer Dana Reyes"')] = None,
              no_password: Annotated[bool, typer.Option(
                  "--no-password", help="single sign-on only (review.trusted_user_header): no password login")] = False,
              password_stdin: PasswordStdin = False, config: ConfigOption = None) -> None:
    """Add a console user; prompts for the password (hidden, twice) and stores only its argon2 hash."""
    from pipeline.review.users import check_role, check_username

    users = _users_file(config)
    _run(check_username, username)
    _run(check_role, role)
    if users.get(username) is not None:
        typer.echo(f"error: there is already a user {username!r}; use `threatline users passwd {username}`", err=True)
        raise typer.Exit(1)
    if no_password and password_stdin:
        typer.echo("error: --no-password and --password-stdin contradict each other", err=True)
        raise typer.Exit(2)
    password = None if no_password else _new_password(username, password_stdin)
    _run(users.add, username, role, password, name or "")
    typer.echo(f"added {username} ({role}) to {users.path}")


@users_app.command("passwd")
def users_passwd(username: Annotated[str, typer.Argument(help="login name")], password_stdin: PasswordStdin = False,
                 config: ConfigOption = None) -> None:
    """Set a user's password (hidden, twice); their open sessions end."""
    users = _users_file(config)
    if users.get(username) is None:
        typer.echo(f"error: there is no user {username!r}; add one with `threatline users add`", err=True)
        raise typer.Exit(1)
    _run(users.set_password, username, _new_password(username, password_stdin))
    typer.echo(f"password of {username} changed in {users.path}")


@users_app.command("list")
def users_list(config: ConfigOption = None) -> None:
    """List console users: name, role, state (never a hash)."""
    users = _users_file(config)
    for user in sorted(users.all().values(), key=lambda u: u.username):
        state = "disabled" if user.disabled else ("enabled" if user.password_hash else "enabled, single sign-on only")
        typer.echo(printable(f"{user.username}\t{user.role}\t{state}\t{user.name}"))
