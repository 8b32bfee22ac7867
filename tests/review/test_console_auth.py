"""The console's door: login and logout, sessions and their timeouts, CSRF, every route closed
without a session, security headers, single sign-on behind a proxy, the users CLI and the admin page."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import fastapi.routing
import pytest
import yaml
from console_support import PASSWORD, PEOPLE, AuditSpy, csrf_of, log_in, logged_in, token
from fastapi.testclient import TestClient
from pydantic import SecretStr
from review_support import PAGED_AT
from starlette.routing import Mount
from typer.testing import CliRunner

from pipeline.cli import app as cli
from pipeline.config import ConfigError, ReviewConfig
from pipeline.review import create_review_app
from pipeline.review.sessions import SECRET_FILE
from pipeline.review.users import UsersFile

PUBLIC = {"/login", "/healthz", "/readyz", "/ack/{token}", "/static"}
# Not a page: answers only review.metrics_from's addresses, 404 to everyone else (test_review_metrics.py).
BY_ADDRESS = {"/metrics"}


def with_review(rt, **changes):
    return dataclasses.replace(rt, settings=rt.settings.model_copy(update={
        "review": rt.settings.review.model_copy(update=changes)}))


def cookie_header(response) -> str:
    [cookie] = response.headers.get_list("set-cookie")
    return cookie


# --- logging in and out -----------------------------------------------------------------------


def test_login_opens_the_queue_and_logout_closes_it(console, rt):
    r = console.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"
    form = console.get("/login")
    assert form.status_code == 200 and 'name="password" type="password"' in form.text
    before = cookie_header(form)
    r = log_in(console, "reyes")
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = cookie_header(r)
    assert cookie.startswith("tl_session=") and cookie != before
    attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attrs and "secure" not in attrs
    page = console.get("/")
    assert page.status_code == 200 and "Officer Dana Reyes" in page.text and "Review queue" in page.text
    kept = dict(console.cookies)
    r = console.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/login?msg=out"
    assert "Max-Age=0" in cookie_header(r)
    assert console.get("/").headers["location"] == "/login"
    # Someone who copied the cookie before logout gets nowhere with it either.
    console.cookies.clear()
    console.cookies.update(kept)
    assert console.get("/").status_code == 303
    assert "You are logged out." in console.get("/login?msg=out").text


def test_login_gives_a_new_session_id_and_csrf_token(console):
    before = csrf_of(console.get("/login").text)
    logged_in(console, "reyes")
    assert token(console) != before


def test_wrong_password_unknown_and_disabled_users_get_the_same_answer_for_the_same_work(console, users,
                                                                                       monkeypatch):
    users.set_disabled("ana", True)
    verified = []
    passwords = console.app.state.console.users.passwords
    real = passwords.hasher

    class Counting:
        def verify(self, password_hash, password):
            verified.append(password_hash)
            return real.verify(password_hash, password)

    monkeypatch.setattr(passwords, "hasher", Counting())
    answers = []
    for username, password in (("reyes", "wrong password here"), ("nobody", PASSWORD), ("ana", PASSWORD),
                               ("reyes", "x" * 5000)):
        r = log_in(console, username, password)
        assert r.status_code == 401
        answers.append(re.sub(r'value="[^"]*"', "", r.text))
    assert all("Wrong username or password." in a for a in answers)
    assert len({a.replace("reyes", "X").replace("nobody", "X").replace("ana", "X") for a in answers}) == 1
    assert len(verified) == 4  # one argon2 verification each, a dummy hash for the unknown user
    assert console.get("/").status_code == 303


def test_the_typed_username_is_logged_only_if_it_is_a_user(console, caplog):
    caplog.set_level("INFO", logger="threatline.review")
    log_in(console, "reyes", "wrong password here")
    log_in(console, "my secret password", PASSWORD)
    messages = [r.getMessage() for r in caplog.records if r.name == "threatline.review"]
    assert "console login refused for user reyes" in messages and "console login refused" in messages
    assert not any("my secret password" in m for m in messages)


def test_login_is_rate_limited_per_client_even_with_the_right_password(rt, pager, users):
    limited = with_review(rt, login_limit=3)
    with TestClient(create_review_app(limited, pager=pager), follow_redirects=False) as c:
        assert [log_in(c, "reyes", "wrong password here").status_code for _ in range(3)] == [401] * 3
        r = log_in(c, "reyes")
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "Too many login attempts" in r.text
    with TestClient(create_review_app(limited, pager=pager), follow_redirects=False,
                    client=("192.0.2.7", 4000)) as other:
        assert log_in(other, "reyes").status_code == 303  # another client is not held back


@pytest.mark.parametrize("target, expected", [
    ("/items/abc?x=1", "/items/abc?x=1"), ("//evil.example/", "/"), ("/\\evil.example", "/"),
    ("https://evil.example/", "/"), ("/login", "/"), ("", "/"),
])
def test_after_login_only_paths_of_the_console(console, target, expected):
    r = log_in(console, "reyes", next=target)
    assert r.status_code == 303 and r.headers["location"] == expected


def test_a_page_asked_for_before_login_is_where_login_leads(console):
    r = console.get("/items/abc", params={"x": "1"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fitems%2Fabc%3Fx%3D1"
    form = console.get(r.headers["location"])
    assert 'name="next" value="/items/abc?x=1"' in form.text
    r = console.post("/login", data={"username": "reyes", "password": PASSWORD, "csrf_token": csrf_of(form.text),
                                     "next": "/items/abc?x=1"})
    assert r.headers["location"] == "/items/abc?x=1"


def test_logins_and_logouts_are_audited(console, rt, monkeypatch):
    spy = AuditSpy(rt.store, monkeypatch)
    logged_in(console, "cole")
    console.post("/logout", data={"csrf_token": token(console)})
    [login] = spy.actions("login")
    [logout] = spy.actions("logout")
    assert login["user"] == {"name": "cole", "roles": ["counselor"]} and login["details"]["method"] == "password"
    assert logout["user"]["name"] == "cole"


def test_login_on_a_read_only_store_is_a_503_and_logs_no_one_in(console, rt):
    # The login's audit record is mandatory (accountability): a store that cannot take it (file
    # 0444, data dir read-only) means no login, a 503 saying to try again, never a 500. Tests run
    # as root, which writes a 0444 file anyway: SQLite's query_only refuses writes the same way
    # (SQLITE_READONLY, "attempt to write a readonly database").
    rt.store._db.execute("PRAGMA query_only = ON")
    r = log_in(console, "cole")
    assert r.status_code == 503, r.text
    assert "Try again" in r.text and r.headers["retry-after"]
    assert "cole" not in r.text  # no page of a logged-in person
    assert console.get("/").status_code in (302, 303)  # and no session that would open the queue
    rt.store._db.execute("PRAGMA query_only = OFF")
    logged_in(console, "cole")  # once the store takes writes again, so does the login


# --- sessions end --------------------------------------------------------------------------------


def test_session_ends_after_30_idle_minutes(console, clock):
    logged_in(console, "reyes")
    clock.now = PAGED_AT + timedelta(minutes=29)
    assert console.get("/").status_code == 200  # and this request restarts the idle clock
    clock.now = PAGED_AT + timedelta(minutes=29 + 29)
    assert console.get("/").status_code == 200
    clock.now = PAGED_AT + timedelta(minutes=29 + 29 + 30)
    r = console.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_session_ends_12_hours_after_login_however_busy(console, clock):
    logged_in(console, "reyes")
    for minutes in range(20, 12 * 60, 20):
        clock.now = PAGED_AT + timedelta(minutes=minutes)
        assert console.get("/").status_code == 200, minutes
    clock.now = PAGED_AT + timedelta(hours=12)
    assert console.get("/").status_code == 303


def test_timeouts_come_from_config(rt, pager, users, clock):
    short = with_review(rt, session_timeout_s=120)
    with TestClient(create_review_app(short, pager=pager), follow_redirects=False) as c:
        logged_in(c, "reyes")
        clock.now = PAGED_AT + timedelta(seconds=119)
        assert c.get("/").status_code == 200
        clock.now = PAGED_AT + timedelta(seconds=119 + 120)
        assert c.get("/").status_code == 303


def test_a_new_password_a_disabled_account_or_a_forged_cookie_ends_the_session(console, users):
    logged_in(console, "reyes")
    users.set_password("reyes", "another long password")
    assert console.get("/").status_code == 303
    assert log_in(console, "reyes", "another long password").status_code == 303
    users.set_disabled("reyes", True)
    assert console.get("/").status_code == 303
    logged_in(console, "cole")
    value = console.cookies["tl_session"]
    console.cookies.set("tl_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert console.get("/").status_code == 303


def test_a_role_change_applies_at_the_next_request(console, users):
    logged_in(console, "ana")
    assert console.get("/admin/users").status_code == 403
    users.set_role("ana", "admin")
    assert console.get("/admin/users").status_code == 200


def test_secure_cookies_when_configured(rt, pager, users):
    with TestClient(create_review_app(with_review(rt, secure_cookies=True), pager=pager), follow_redirects=False,
                    base_url="https://testserver") as c:
        r = log_in(c, "reyes")
        cookie = cookie_header(r)
        assert cookie.startswith("__Host-tl_session=") and "; Secure" in cookie
        assert c.get("/").status_code == 200


def test_the_session_secret_is_generated_once_or_must_be_strong(rt, pager, users):
    path = rt.settings.data_dir / SECRET_FILE
    create_review_app(rt, pager=pager)
    assert path.stat().st_mode & 0o777 == 0o600
    first = path.read_text()
    create_review_app(rt, pager=pager)
    assert path.read_text() == first
    with pytest.raises(ConfigError, match="session_secret"):
        create_review_app(with_review(rt, session_secret=SecretStr("short")), pager=pager)


def test_a_broken_users_file_stops_the_start_and_later_closes_the_door(rt, pager, users, console):
    logged_in(console, "reyes")
    users.path.write_text("users:\n  reyes: {role: sheriff}\n")
    r = console.get("/")
    assert r.status_code == 503 and "cannot be read" in r.text
    with pytest.raises(ConfigError, match="sheriff"):
        create_review_app(rt, pager=pager)


# --- CSRF ----------------------------------------------------------------------------------------


def test_posts_without_the_sessions_csrf_token_are_refused(console, users):
    page = console.get("/login")
    r = console.post("/login", data={"username": "reyes", "password": PASSWORD})
    assert r.status_code == 403 and "This form has expired" in r.text
    r = console.post("/login", data={"username": "reyes", "password": PASSWORD, "csrf_token": "x" * 43})
    assert r.status_code == 403
    fresh = TestClient(console.app, follow_redirects=False)  # no cookie: a token from elsewhere proves nothing
    assert fresh.post("/login", data={"username": "reyes", "password": PASSWORD,
                                      "csrf_token": csrf_of(page.text)}).status_code == 403
    logged_in(console, "ada")
    good = token(console)
    for path, form in (("/logout", {}), ("/admin/users", {"username": "mallory", "role": "admin",
                                                          "password": "x" * 20, "password2": "x" * 20}),
                       ("/admin/users/reyes/disabled", {"disabled": "true"})):
        assert console.post(path, data=form).status_code == 403, path
        assert console.post(path, data={**form, "csrf_token": good[:-1] + "x"}).status_code == 403, path
        assert console.post(path, json={**form, "csrf_token": good}).status_code == 403, path
    assert users.get("mallory") is None and not users.get("reyes").disabled
    assert console.get("/").status_code == 200  # still logged in
    # htmx and scripts send it as a header instead.
    r = console.post("/admin/users/reyes/disabled", data={"disabled": "true"}, headers={"X-CSRF-Token": good})
    assert r.status_code == 303 and users.get("reyes").disabled


# --- every route is closed without a session ----------------------------------------------------


def routes(app):
    """(path, method) of every route, those of included routers too ("MOUNT" for a mount)."""
    # FastAPI 0.152 keeps an included router as one entry of app.routes; its iter_route_contexts
    # flattens them (older releases copied each route into app.routes).
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    for route in (flatten(app.routes) if flatten else app.routes):
        if isinstance(getattr(route, "original_route", route), Mount):
            yield route.path, "MOUNT"
        else:
            for method in sorted(route.methods or ()):
                yield route.path, method


def test_every_route_but_login_health_static_and_ack_links_needs_a_session(console):
    found = list(routes(console.app))
    assert {path for path, _ in found} >= PUBLIC | {"/", "/items/{item_id}", "/admin/users", "/logout"}
    checked = 0
    for path, method in found:
        if path in PUBLIC:
            continue
        if path in BY_ADDRESS:
            assert console.request(method, path).status_code == 404, path
            continue
        url = re.sub(r"\{[^}]+\}", "x1", path)
        html = console.request(method, url)
        assert html.status_code == 303, (method, path, html.status_code)
        assert html.headers["location"].startswith("/login"), (method, path)
        for headers in ({"HX-Request": "true"}, {"Accept": "application/json"}):
            r = console.request(method, url, headers=headers)
            assert r.status_code == 401 and r.json() == {"error": "login required"}, (method, path, headers)
        checked += 1
    assert checked >= 6


# --- headers ---------------------------------------------------------------------------------------


def test_console_pages_carry_a_strict_csp_and_the_security_headers(console):
    pages = [console.get("/login")]
    logged_in(console, "ada")
    pages += [console.get("/"), console.get("/admin/users"), console.get("/items/nothing-here")]
    for r in pages:
        csp = r.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
        assert "<style" not in r.text and " style=" not in r.text and not re.search(r"<[^>]+\son\w+=", r.text)
        # Scripts only from /static, none inline (the queue's poll for new items).
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.text, re.DOTALL)
        assert r.text.count("<script") == len(scripts)
        assert all(re.fullmatch(r' src="/static/[\w-]+\.js" defer', attrs) and not body for attrs, body in scripts)
    assert re.findall(r"<script[^>]*>", pages[1].text) == ['<script src="/static/queue.js" defer>']
    css = console.get("/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert console.get("/static/../app.py").status_code == 404


def test_ack_pages_keep_their_headers(client):
    r = client.get("/ack/abc")
    assert r.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "set-cookie" not in r.headers


# --- single sign-on behind a proxy ------------------------------------------------------------


def test_trusted_user_header_needs_trusted_proxies():
    with pytest.raises(ValueError, match="trusted_proxies"):
        ReviewConfig(trusted_user_header="X-Forwarded-User")


def test_the_user_header_is_believed_only_from_a_trusted_proxy(rt, pager, users, monkeypatch):
    spy = AuditSpy(rt.store, monkeypatch)
    sso = with_review(rt, trusted_user_header="X-Forwarded-User", trusted_proxies=["10.0.0.0/24"])
    app = create_review_app(sso, pager=pager)
    with TestClient(app, follow_redirects=False, client=("10.0.0.5", 5000)) as proxy:
        r = proxy.get("/", headers={"X-Forwarded-User": "Reyes"})
        assert r.status_code == 200 and "Officer Dana Reyes" in r.text
        assert proxy.get("/", headers={"X-Forwarded-User": "reyes"}).status_code == 200
        assert len(spy.actions("login")) == 1 and spy.actions("login")[0]["details"]["method"] == "proxy"
        r = proxy.get("/", headers={"X-Forwarded-User": "stranger"})
        assert r.status_code == 403 and "not as a user of the review console" in r.text
        assert proxy.get("/").status_code == 303  # no header, a proxy session: log in again
    with TestClient(app, follow_redirects=False, client=("192.0.2.9", 5000)) as direct:
        assert direct.get("/", headers={"X-Forwarded-User": "ada"}).status_code == 303
        assert log_in(direct, "ada").status_code == 303  # passwords still work where configured


# --- the users CLI ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("THREATLINE_REVIEW__USERS_FILE", str(settings.review.users_file))
    return UsersFile(settings.review.users_file)


def test_users_add_prompts_twice_and_stores_only_an_argon2_hash(cli_env):
    run = CliRunner().invoke(cli, ["users", "add", "reyes", "--role", "sro", "--name", "Officer Dana Reyes"],
                             input=f"{PASSWORD}\n{PASSWORD}\n")
    assert run.exit_code == 0, run.output
    assert PASSWORD not in run.output and "added reyes (sro)" in run.output
    text = cli_env.path.read_text()
    assert PASSWORD not in text and "$argon2id$" in text
    assert cli_env.path.stat().st_mode & 0o777 == 0o600
    entry = yaml.safe_load(text)["users"]["reyes"]
    assert entry["role"] == "sro" and entry["name"] == "Officer Dana Reyes" and entry["disabled"] is False
    assert cli_env.authenticate("reyes", PASSWORD).role == "sro"


def test_users_add_asks_again_when_the_passwords_differ_or_are_short(cli_env):
    run = CliRunner().invoke(cli, ["users", "add", "ada", "--role", "admin"],
                             input=f"{PASSWORD}\nsomething else entirely\nshort\nshort\n{PASSWORD}\n{PASSWORD}\n")
    assert run.exit_code == 0, run.output
    assert "at least 12 characters" in run.output
    assert cli_env.authenticate("ada", PASSWORD) is not None


@pytest.mark.parametrize("args, message", [
    (["users", "add", "Bad Name", "--role", "sro"], "A username is"),
    (["users", "add", "reyes", "--role", "sheriff"], "Unknown role"),
    (["users", "passwd", "nobody"], "there is no user"),
])
def test_users_cli_refuses_bad_input(cli_env, args, message):
    run = CliRunner().invoke(cli, args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert run.exit_code == 1 and message in run.output
    assert not cli_env.path.exists()


def test_users_passwd_changes_the_hash_and_list_shows_no_hash(cli_env):
    cli_env.add("reyes", "sro", PASSWORD, "Officer Dana Reyes")
    before = cli_env.get("reyes").password_hash
    assert CliRunner().invoke(cli, ["users", "add", "reyes", "--role", "sro"]).exit_code == 1
    run = CliRunner().invoke(cli, ["users", "passwd", "reyes"], input="a brand new passphrase\n" * 2)
    assert run.exit_code == 0, run.output
    assert cli_env.get("reyes").password_hash != before
    assert cli_env.authenticate("reyes", "a brand new passphrase") and not cli_env.authenticate("reyes", PASSWORD)
    listed = CliRunner().invoke(cli, ["users", "list"])
    assert "reyes\tsro\tenabled\tOfficer Dana Reyes" in listed.output and "argon2" not in listed.output


def test_the_users_file_defaults_to_the_private_data_dir_and_takes_a_password_on_stdin(tmp_path, monkeypatch):
    """Not config/users.yaml in a git checkout: password hashes live with the other private state."""
    from pipeline.config import DEFAULT_CONFIG, load_settings

    data = tmp_path / "data"
    monkeypatch.setenv("THREATLINE_GENERAL__DATA_DIR", str(data))
    assert load_settings().users_path == data / "users.yaml"
    assert not (DEFAULT_CONFIG.parent / "users.yaml").exists()

    run = CliRunner().invoke(cli, ["users", "add", "ada", "--role", "admin", "--password-stdin"],
                             input=f"{PASSWORD}\n")
    assert run.exit_code == 0, run.output
    assert PASSWORD not in run.output and "Password" not in run.output  # no prompt
    assert data.stat().st_mode & 0o777 == 0o700 and (data / "users.yaml").stat().st_mode & 0o777 == 0o600
    assert UsersFile(data / "users.yaml").authenticate("ada", PASSWORD).role == "admin"

    run = CliRunner().invoke(cli, ["users", "passwd", "ada", "--password-stdin"], input="short\n")
    assert run.exit_code == 1 and "at least 12 characters" in run.output
    run = CliRunner().invoke(cli, ["users", "passwd", "ada", "--password-stdin"], input="a brand new passphrase\n")
    assert run.exit_code == 0 and UsersFile(data / "users.yaml").authenticate("ada", "a brand new passphrase")
    run = CliRunner().invoke(cli, ["users", "add", "bo", "--role", "sro", "--no-password", "--password-stdin"])
    assert run.exit_code == 2 and "contradict" in run.output


# --- admin: managing users --------------------------------------------------------------------


def test_only_admins_manage_users(console):
    for username in ("reyes", "cole", "ana"):
        logged_in(console, username)
        assert console.get("/admin/users").status_code == 403
        assert "Users</a>" not in console.get("/").text
        console.post("/logout", data={"csrf_token": token(console)})


def test_admin_lists_adds_changes_roles_and_disables(console, users, rt, monkeypatch):
    spy = AuditSpy(rt.store, monkeypatch)
    logged_in(console, "ada")
    page = console.get("/admin/users")
    assert page.status_code == 200
    for username, (role, name) in PEOPLE.items():
        assert f"<td>{username}</td>" in page.text and name in page.text
    assert "$argon2" not in page.text
    csrf = csrf_of(page.text)

    r = console.post("/admin/users", data={"username": "lee", "name": "Pat <Lee>", "role": "counselor",
                                           "password": "lee's long password", "password2": "lee's long password",
                                           "csrf_token": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?done=added"
    assert users.get("lee").role == "counselor" and "Pat &lt;Lee&gt;" in console.get("/admin/users").text
    r = console.post("/admin/users/lee/role", data={"role": "analyst", "csrf_token": csrf})
    assert r.status_code == 303 and users.get("lee").role == "analyst"

    other = TestClient(console.app, follow_redirects=False)
    assert log_in(other, "lee", "lee's long password").status_code == 303
    r = console.post("/admin/users/lee/disabled", data={"disabled": "true", "csrf_token": csrf})
    assert r.status_code == 303 and users.get("lee").disabled
    assert other.get("/").status_code == 303  # their session ends at once
    assert log_in(other, "lee", "lee's long password").status_code == 401
    console.post("/admin/users/lee/disabled", data={"disabled": "false", "csrf_token": csrf})
    assert not users.get("lee").disabled

    done = [(r["details"]["op"], r["details"]["user"]) for r in spy.actions("user_admin")]
    assert done == [("added", "lee"), ("role", "lee"), ("disabled", "lee"), ("enabled", "lee")]
    assert all(r["user"] == {"name": "ada", "roles": ["admin"]} for r in spy.actions("user_admin"))


@pytest.mark.parametrize("path, form, message", [
    ("/admin/users", {"username": "x y", "role": "sro", "password": "p" * 12, "password2": "p" * 12}, "A username is"),
    ("/admin/users", {"username": "new", "role": "sro", "password": "p" * 12, "password2": "q" * 12}, "differ"),
    ("/admin/users", {"username": "new", "role": "sro", "password": "short", "password2": "short"}, "at least 12"),
    ("/admin/users", {"username": "reyes", "role": "sro", "password": "p" * 12, "password2": "p" * 12}, "already"),
    ("/admin/users", {"username": "new", "role": "<b>boss</b>", "password": "p" * 12, "password2": "p" * 12},
     "Unknown role &#39;&lt;b&gt;boss&lt;/b&gt;&#39;"),
    ("/admin/users/ada/role", {"role": "sro"}, "no enabled admin"),
    ("/admin/users/ada/disabled", {"disabled": "true"}, "no enabled admin"),
    ("/admin/users/ghost/role", {"role": "sro"}, "no user"),
])
def test_admin_mistakes_are_explained_and_change_nothing(console, users, path, form, message):
    logged_in(console, "ada")
    before = users.path.read_bytes()
    r = console.post(path, data={**form, "csrf_token": token(console)})
    assert r.status_code == 400 and message in r.text, r.text
    assert users.path.read_bytes() == before


def test_a_real_server_logs_in_over_http(rt, pager, users):
    import httpx

    from pipeline.tipline.server import in_background

    with in_background(create_review_app(rt, pager=pager), name="the review server") as url, \
            httpx.Client(base_url=url, timeout=30, follow_redirects=True) as http:
        assert http.get("/").url.path == "/login"
        form = http.get("/login")
        r = http.post("/login", data={"username": "reyes", "password": PASSWORD, "csrf_token": csrf_of(form.text)})
        assert r.status_code == 200 and r.url.path == "/" and "Officer Dana Reyes" in r.text
        assert http.get("/static/console.css").status_code == 200
