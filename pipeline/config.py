"""Effective configuration: ``config/threatline.yaml`` overlaid by ``THREATLINE_<SECTION>__<KEY>``.

Sections are flat so every key has one obvious environment variable. Unknown keys are errors:
a typo in a safety tool's config must fail loudly, not fall back to a default.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "config" / "threatline.yaml"


class ConfigError(Exception):
    """A config problem, phrased as one line: file, key, reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GeneralConfig(_Section):
    district: str = "Example Unified School District"
    contact_email: str = "safety@example.org"
    timezone: str = "America/Chicago"
    data_dir: Path = Path("data")
    # Log lines of `run` and `stage` (pipeline/logs.py): text on a terminal, JSON otherwise.
    log_format: Literal["auto", "json", "text"] = "auto"


class BusConfig(_Section):
    backend: Literal["embedded", "kafka"] = "embedded"
    topic_prefix: str = ""
    sqlite_file: str = "bus.sqlite3"
    kafka_bootstrap_servers: str = "localhost:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_partitions: int = Field(default=3, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_max_poll_interval_ms: int = Field(default=300_000, ge=1000)
    # Unset: derived from max_poll_interval_ms within 6-45 s. Tansu (the test broker) holds a
    # group join for about half of it, so tests set it small.
    kafka_session_timeout_ms: int | None = Field(default=None, ge=1000)
    kafka_request_timeout_ms: int = Field(default=30_000, ge=1000)
    raw_retention_days: int = Field(default=7, ge=1)


class StoreConfig(_Section):
    backend: Literal["embedded", "elasticsearch"] = "embedded"
    index_prefix: str = "threatline"
    sqlite_file: str = "store.sqlite3"
    elasticsearch_hosts: list[str] = Field(default_factory=lambda: ["https://localhost:9200"])
    elasticsearch_username: str | None = None
    elasticsearch_password: SecretStr | None = None
    elasticsearch_api_key: SecretStr | None = None
    elasticsearch_ca_certs: str | None = None
    elasticsearch_verify_certs: bool = True
    elasticsearch_timeout_s: float = Field(default=10.0, gt=0)
    bulk_max_retries: int = Field(default=5, ge=0)
    dismissed_retention_days: int = Field(default=30, ge=1)
    actioned_retention_days: int = Field(default=365, ge=1)


class ClassifyConfig(_Section):
    # "trained": the champion named by <models_dir>/CURRENT; "lexicon": the keyword baseline.
    model: Literal["trained", "lexicon"] = "trained"
    models_dir: Path = Path("../models")
    # How often a running classifier looks at <models_dir>/CURRENT for a new champion (between batches).
    reload_check_s: float = Field(default=10.0, ge=0)
    lexicon_dir: Path = Path("lexicons")
    cues_file: Path = Path("cues.yaml")
    identity_file: Path = Path("identity_terms.yaml")
    schools_file: Path = Path("schools.yaml")
    # Severity thresholds of the lexicon baseline; a trained model carries its own.
    p1_threshold: float = Field(default=0.85, ge=0, le=1)
    p2_threshold: float = Field(default=0.6, ge=0, le=1)
    p3_threshold: float = Field(default=0.3, ge=0, le=1)


class RetrainConfig(_Section):
    # The district's own posts (items.scored, within bus retention) in `threatline retrain --district-stream`:
    # those nobody flagged become low-weight background negatives, and all of them a shadow run.
    district_days: int = Field(default=14, ge=1)
    district_sample: int = Field(default=2000, ge=0)      # background negatives at most
    district_weight: float = Field(default=0.2, gt=0, le=1)  # each counts as this fraction of a corpus row
    district_max_posts: int = Field(default=50_000, ge=1)   # the shadow run reads at most the newest N


class StagesConfig(_Section):
    batch_size: int = Field(default=200, ge=1)
    poll_timeout_s: float = Field(default=1.0, gt=0)
    idle_polls_before_exit: int = Field(default=2, ge=1)
    time_budget_s: float = Field(default=300.0, gt=0)
    backoff_initial_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    # A stage retrying a dependency (store, bus, channel) this long raises an alarm: an ERROR
    # log line, `threatline dlq`/console banner. It keeps retrying; nothing is committed or lost.
    stuck_alarm_s: float = Field(default=120.0, gt=0)
    # `threatline run` restarts a stage process that dies, waiting this long (doubling up to
    # restart_backoff_max_s) so a stage that crashes at start does not spin.
    restart_backoff_s: float = Field(default=1.0, gt=0)
    restart_backoff_max_s: float = Field(default=60.0, gt=0)
    # Consumer processes per stage under `threatline run` (default 1 each), one consumer group:
    # Kafka splits the partitions among them (docs/scale-out.md). `run --stage-workers` overrides.
    workers: dict[str, Annotated[int, Field(ge=1, le=64)]] = Field(default_factory=dict)
    # Whether the stages write their health files into this data dir. false on a host that only
    # serves the tip line or the console while the stages run on other machines: /readyz then
    # leaves the stages out (watch them where they run). docs/operations.md, "Health".
    heartbeat_here: bool = True


def _check_networks(value: list[str]) -> list[str]:
    for entry in value:
        ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
    return value


class AlertsConfig(_Section):
    # Who is paged comes from two files beside this one (docs/alerts.md): the rules decide the
    # roles, the roster who holds them now and how to reach them. Channels are configuration.
    roster_file: Path = Path("roster.yaml")
    rules_file: Path = Path("alert_rules.yaml")
    # Signs the acknowledge links. Unset: a random secret generated once in data_dir (fine for one
    # machine; set it when several processes serve acknowledge links).
    ack_secret: SecretStr | None = None
    ack_previous_secrets: list[SecretStr] = Field(default_factory=list)  # still accepted while rotating
    ack_link_ttl_s: int = Field(default=24 * 3600, ge=60)
    # Where recipients open acknowledge links: the review server (`threatline serve review`).
    console_url: str = "http://127.0.0.1:8081"
    # Posts of one author or thread inside this window update the open alert instead of paging again.
    dedup_window_s: int = Field(default=1800, ge=0)
    delivery_retries: int = Field(default=2, ge=0, le=10)      # per channel, before the next channel
    delivery_backoff_s: float = Field(default=0.5, ge=0, le=60)
    # A page that reached nobody is tried down the whole chain again this often.
    unreached_retry_s: int = Field(default=60, ge=10)
    sweep_interval_s: int = Field(default=30, ge=5, le=300)    # escalation sweep deployment
    digest_time: str = "07:00"  # local 'HH:MM' (general.timezone) of the daily digest

    @field_validator("digest_time", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> Any:
        if isinstance(value, int):  # YAML 1.1 reads an unquoted 07:00 as the number 420
            raise ValueError("YAML read this time as a number; quote it, e.g. '07:00'")
        if not (isinstance(value, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value)):
            raise ValueError("want a local time 'HH:MM' from 00:00 to 23:59")
        return value

    @field_validator("console_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        from pipeline.alerts.ack import ack_url

        ack_url(value, "t")  # ValueError names the problem; better at start-up than at the first page
        return value


class ReviewConfig(_Section):
    # `threatline serve review`: acknowledge links and the review console (docs/review.md).
    host: str = "127.0.0.1"
    port: int = Field(default=8081, ge=1, le=65535)
    # Forged or garbled acknowledge links per client per window (then 429). Genuine links are
    # never limited: a refused acknowledgement would keep a P1 escalating.
    bad_link_limit: int = Field(default=20, ge=1)
    window_s: float = Field(default=300.0, gt=0, le=900)
    # As tipline.trusted_proxies: reverse proxies whose X-Forwarded-For names the client.
    trusted_proxies: list[str] = Field(default_factory=list)
    # The console (docs/review.md). Who may log in, with which role: `threatline users`.
    # None: users.yaml in data_dir, beside the other private state (it holds password hashes and
    # must not sit in a git checkout). A relative path is relative to this config file's directory.
    users_file: Path | None = None
    # Signs the session cookies. Unset: a random secret generated once in data_dir.
    session_secret: SecretStr | None = None
    secure_cookies: bool = False  # set true when the console is served over HTTPS (it should be)
    session_timeout_s: int = Field(default=30 * 60, ge=60, le=24 * 3600)       # idle
    session_max_age_s: int = Field(default=12 * 3600, ge=300, le=7 * 24 * 3600)  # absolute
    login_limit: int = Field(default=10, ge=1)  # login attempts per client per window_s (then 429)
    # Single sign-on behind an authenticating reverse proxy (oauth2-proxy): the header naming the
    # logged-in user, believed only from a TCP peer in trusted_proxies. Unset: the login form.
    trusted_user_header: str | None = Field(default=None, pattern=r"^[A-Za-z0-9-]+$")
    # Who may scrape GET /metrics (docs/operations.md, "Metrics"): addresses or networks of the
    # Prometheus server, matched against the TCP peer. Empty: /metrics answers 404 to everyone.
    metrics_from: list[str] = Field(default_factory=list)

    @field_validator("trusted_proxies", "metrics_from")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _check_networks(value)

    @model_validator(mode="after")
    def _proxy_for_header(self) -> ReviewConfig:
        if self.trusted_user_header and not self.trusted_proxies:
            raise ValueError("trusted_user_header needs trusted_proxies: the addresses of the proxy that sets it")
        if self.session_max_age_s < self.session_timeout_s:
            raise ValueError("session_max_age_s must be at least session_timeout_s")
        return self


class IngestConfig(_Section):
    sources_file: Path = Path("sources.yaml")  # relative to this config file's directory
    run_timeout_s: float = Field(default=900, gt=0)  # one crawl of the selected sources


class PrefectConfig(_Section):
    api_url: str | None = None  # unset: `threatline run` starts a local Prefect server
    local_port: int = Field(default=4200, ge=1, le=65535)
    startup_timeout_s: float = Field(default=180, gt=0)
    flow_interval_s: int = Field(default=15, ge=1)


class TiplineConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    threads_file: str = "tipline.sqlite3"  # inside data_dir
    # The largest legitimate tip (5,000 + 1,200 characters of 4-byte text, sent as JSON \u escapes
    # or %-encoded form data) is about 75 KB; a lower limit would refuse real tips.
    max_body_bytes: int = Field(default=128 * 1024, ge=80 * 1024, le=1024 * 1024)
    submit_limit: int = Field(default=10, ge=1)   # tips + follow-ups per client per window
    lookup_limit: int = Field(default=30, ge=1)   # code/passphrase attempts per client per window
    # The limiter forgets every client when its window ends: minutes, never hours.
    window_s: float = Field(default=300.0, gt=0, le=900)
    retention_days: int = Field(default=90, ge=1)
    # Reverse proxies whose X-Forwarded-For names the client for rate limiting (addresses or
    # networks). Empty: the TCP peer is the client.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Languages of the pages (docs/tipline.md): "en" (the source text, the last fallback) and
    # those with a catalog in pipeline/tipline/locales/.
    languages: list[str] = Field(default_factory=lambda: ["en", "es"], min_length=1)
    # An optional picture on the form: its largest upload, and the most pixels it may decode to
    # (a small file can decode to gigabytes: a decompression bomb). 40 MP holds any phone photo.
    attachment_max_bytes: int = Field(default=5 * 1024 * 1024, ge=100 * 1024, le=20 * 1024 * 1024)
    attachment_max_pixels: int = Field(default=40_000_000, ge=1_000_000, le=100_000_000)

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _check_networks(value)

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[a-z]{2,3}", code):
                raise ValueError(f"{code!r} is not a language code such as 'es' (two or three lowercase letters)")
        if "en" not in value:
            raise ValueError("must include 'en': the pages are written in English, the fallback for every other")
        if len(set(value)) != len(value):
            raise ValueError("lists a language twice")
        return value


class ReportConfig(_Section):
    # `threatline report` and the monthly transparency report (docs/accountability.md).
    min_count: int = Field(default=5, ge=2)   # counts under this are shown as "fewer than N"
    monthly_day: int = Field(default=1, ge=1, le=28)  # the day of the month the last month's report is written
    monthly_time: str = Field(default="06:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # district time


class KibanaConfig(_Section):
    # Only `threatline kibana import|export` talks to Kibana; the pipeline never needs it.
    url: str = "http://localhost:5601"
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None  # wins over username/password, as for Elasticsearch
    space: str | None = Field(default=None, pattern=r"^[a-z0-9_\-]+$")  # unset: the default space
    verify_certs: bool = True
    ca_certs: str | None = None
    timeout_s: float = Field(default=30.0, gt=0)
    objects_file: Path = Path("kibana/threatline.ndjson")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="THREATLINE_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    general: GeneralConfig = GeneralConfig()
    bus: BusConfig = BusConfig()
    store: StoreConfig = StoreConfig()
    classify: ClassifyConfig = ClassifyConfig()
    retrain: RetrainConfig = RetrainConfig()
    stages: StagesConfig = StagesConfig()
    alerts: AlertsConfig = AlertsConfig()
    ingest: IngestConfig = IngestConfig()
    prefect: PrefectConfig = PrefectConfig()
    tipline: TiplineConfig = TiplineConfig()
    review: ReviewConfig = ReviewConfig()
    kibana: KibanaConfig = KibanaConfig()
    report: ReportConfig = ReportConfig()

    config_file: Path | None = Field(default=None, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file; the file arrives through init kwargs.
        return (env_settings, init_settings)

    # --- derived paths ---
    @property
    def config_dir(self) -> Path:
        return (self.config_file or DEFAULT_CONFIG).resolve().parent

    def config_path(self, relative: Path) -> Path:
        return relative if relative.is_absolute() else self.config_dir / relative

    @property
    def users_path(self) -> Path:
        """The review console's users file (``review.users_file``)."""
        users_file = self.review.users_file
        return self.data_dir / "users.yaml" if users_file is None else self.config_path(users_file)

    @property
    def data_dir(self) -> Path:
        return self.general.data_dir.expanduser().resolve()

    def topic(self, name: str) -> str:
        return f"{self.bus.topic_prefix}{name}"

    def index(self, name: str) -> str:
        return f"{self.store.index_prefix}-{name}"


def resolve_config_path(path: str | Path | None) -> Path:
    if path:
        return Path(path)
    if env := os.environ.get("THREATLINE_CONFIG"):
        return Path(env)
    local = Path("config/threatline.yaml")
    return local if local.exists() else DEFAULT_CONFIG


def read_yaml(path: Path) -> Any:
    """A YAML file's data; ConfigError naming the file (and line) when it is missing or broken."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})") from None


def load_settings(path: str | Path | None = None) -> Settings:
    """Read the YAML file and the environment; raise ConfigError with one line per problem."""
    config_file = resolve_config_path(path)
    raw = read_yaml(config_file) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_file}: top level must be a mapping of sections")
    try:
        return Settings(**raw, config_file=config_file.resolve())
    except ValidationError as exc:
        raise ConfigError(format_validation_error(config_file, exc)) from None
    except SettingsError:
        # pydantic-settings parses list/dict values from the environment as JSON and raises
        # this (naming only the section) when one is not: name the variable, never its value.
        raise ConfigError(_env_json_problem()) from None


def _env_json_problem() -> str:
    bad = []
    for name, value in os.environ.items():
        section, _, key = name.upper().removeprefix("THREATLINE_").partition("__")
        if not name.upper().startswith("THREATLINE_") or section.lower() not in Settings.model_fields:
            continue
        model = Settings.model_fields[section.lower()].annotation
        field = getattr(model, "model_fields", {}).get(key.lower()) if key else None
        if key and (field is None or not _is_complex(field.annotation)):
            continue  # a plain value: pydantic-settings hands it on as text
        try:
            json.loads(value)
        except ValueError:
            bad.append(name)
    if not bad:
        return "an environment variable THREATLINE_* holding a list or mapping is not valid JSON"
    return "; ".join(f"environment variable {name}: not valid JSON (a list or mapping must be written as JSON, "
                     'e.g. ["a", "b"])' for name in sorted(bad))


def _is_complex(annotation: Any) -> bool:
    """Whether pydantic-settings reads this type from the environment as JSON (lists, mappings, models)."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        return any(_is_complex(arg) for arg in get_args(annotation) if arg is not type(None))
    if (origin or annotation) in (list, dict, set, frozenset, tuple):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def format_validation_error(config_file: Path, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        reason = "unknown key" if err["type"] == "extra_forbidden" else mask_url_passwords(err["msg"])
        got = err.get("input")
        # A secret's value is never echoed, whatever its type (a numeric password is still one);
        # a URL's password is masked.
        hidden = err["type"] in ("extra_forbidden", "missing") or isinstance(got, dict) or _is_secret(err["loc"])
        shown = "" if hidden else f" (got {mask_url_passwords(repr(got))})"
        # the environment beats the file: a key set there is the variable's fault, not the file's
        variable = _env_name(err["loc"])
        problems.append(f"environment variable {variable} ({key}): {reason}{shown}" if variable else f"{config_file}: {key}: {reason}{shown}")
    return "; ".join(problems)


def _env_name(loc: tuple[Any, ...]) -> str | None:
    """The THREATLINE_* variable that set the value at ``loc``, if one did."""
    if len(loc) < 2:
        return None
    wanted = f"THREATLINE_{loc[0]}__{loc[1]}".upper()
    return next((name for name in os.environ if name.upper() == wanted), None)


_SECRET_NAME = re.compile(r"secret|passw|passphrase|api_key|token|credential", re.IGNORECASE)


def _is_secret(loc: tuple[Any, ...]) -> bool:
    """Whether an error location is (inside) a secret field: named like one, or typed SecretStr."""
    model: Any = Settings
    for part in loc:
        if isinstance(part, str) and _SECRET_NAME.search(part):
            return True
        fields = getattr(model, "model_fields", None) or {}
        if not isinstance(part, str) or part not in fields:
            continue
        annotation = fields[part].annotation
        if "SecretStr" in repr(annotation):
            return True
        model = annotation if isinstance(annotation, type) else None
    return False


# scheme://user:password@host: the password runs to the last "@" before the path ("?" and "#"
# included: a password typed with them unencoded must not show either).
_URL_AUTHORITY = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)((?:(?![A-Za-z][A-Za-z0-9+.\-]*://)[^\s/'\"])*)")


def mask_url_passwords(text: str) -> str:
    """Every URL in ``text`` with the password of its userinfo replaced by ``***``."""

    def mask(match: re.Match[str]) -> str:
        userinfo, at, host = match.group(2).rpartition("@")
        if not at or ":" not in userinfo:
            return match.group(0)
        return f"{match.group(1)}{userinfo.split(':', 1)[0]}:***@{host}"

    return _URL_AUTHORITY.sub(mask, text)


def masked(settings: Settings) -> dict[str, Any]:
    """The effective config as plain data, secrets replaced by asterisks."""
    return _mask(settings.model_dump(mode="python"))


def _mask(value: Any) -> Any:
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str):  # URL-valued settings (hosts, kibana.url, …) can carry a password
        return mask_url_passwords(value)
    return value


def strings_in(node: Any) -> Iterator[str]:
    """Every string inside a parsed YAML/JSON value, depth first."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings_in(value)
