"""The Elasticsearch store: index templates from ``config/es/``, bulk create-only indexing,
optimistic concurrency with ``if_seq_no``/``if_primary_term``, and ILM on real Elasticsearch.

Indices (prefix configurable): ``<prefix>-flagged`` and ``<prefix>-alerts`` are plain indices,
because create-once by id only holds within one index. ``<prefix>-audit`` is a write alias over
``<prefix>-audit-000001``, ``-000002``…: the audit trail is append-only, so it can roll over and
age out by ILM without losing anything younger than the retention period.

Every write asks for ``refresh=true``: a reviewer who acts on an item, or the stage that just
indexed it, must find it in the next search. ``wait_for`` would hold each batch up to the refresh
interval (1 s); flagged items are few, so the extra small segments cost little.

Search semantics match the embedded store (see ``pipeline.store.embedded``): every word of the
text must occur in ``message`` or ``threat.explanation`` (English analyser), ties broken by id.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from elastic_transport import TransportError
from elasticsearch import ApiError, Elasticsearch

from pipeline.config import REPO_ROOT, Settings
from pipeline.schema import as_utc
from pipeline.store import (
    DECIDED_STATUSES,
    INDICES,
    ConflictError,
    ItemQuery,
    NotFound,
    Page,
    Store,
    StoredDoc,
    StoreError,
    StoreUnavailable,
)

DEFAULT_TEMPLATE_DIR = REPO_ROOT / "config" / "es"
FIRST_AUDIT_INDEX_SUFFIX = "-000001"
AUDIT_ROLLOVER_MAX_AGE = "30d"
AUDIT_ROLLOVER_MAX_SHARD_SIZE = "50gb"
TEXT_FIELDS = ("message", "threat.explanation")
# Index settings under which Elasticsearch refuses new documents.
_WRITE_BLOCKS = ("index.blocks.write", "index.blocks.read_only", "index.blocks.read_only_allow_delete")
FILTER_FIELDS = {
    "severity": "threat.severity",
    "category": "threat.category",
    "school": "labels.school",
    "status": "review.status",
    "source": "event.provider",
    "author": "user.name",
    "thread": "threat.thread_id",
    "tip_code": "threat.tip.code",
    "assignee": "review.assignee",
}
SCOPE_FIELDS = {"category": "threat.category", "severity": "threat.severity"}
SORTS = {
    "newest": [{"@timestamp": {"order": "desc"}}, {"event.id": {"order": "asc"}}],
    "oldest": [{"@timestamp": {"order": "asc"}}, {"event.id": {"order": "asc"}}],
    "score": [{"threat.score": {"order": "desc"}}, {"@timestamp": {"order": "desc"}}, {"event.id": {"order": "asc"}}],
    "severity": [{"event.severity": {"order": "desc"}}, {"@timestamp": {"order": "desc"}},
                 {"event.id": {"order": "asc"}}],
}
# 1 for a decided item, 0 otherwise (no status too), as the embedded store's CASE. The statuses
# are written into the script: osmem takes no list parameters.
_DECIDED_SCRIPT = ("if (doc['review.status'].size() == 0) { return 0; } String s = doc['review.status'].value; "
                   "return " + " || ".join("s == '" + status + "'" for status in DECIDED_STATUSES) + " ? 1 : 0;")
SORTS["triage"] = [{"_script": {"type": "number", "order": "asc",
                                "script": {"lang": "painless", "source": _DECIDED_SCRIPT}}}, *SORTS["severity"]]
AUDIT_PAGE = 1000


# --- pure request builders (unit-tested without a server) --------------------------------------


def server_flavour(info: dict[str, Any]) -> str:
    """``elasticsearch``, ``serverless`` or ``opensearch``, from the body of ``GET /``."""
    version = info.get("version") or {}
    if version.get("distribution") == "opensearch" or "opensearch" in str(info.get("tagline", "")).lower():
        return "opensearch"
    if version.get("build_flavor") == "serverless":
        return "serverless"
    return "elasticsearch"


def audit_policy_name(index_prefix: str) -> str:
    return f"{index_prefix}-audit-retention"


def ilm_policies(index_prefix: str, *, actioned_retention_days: int) -> dict[str, dict[str, Any]]:
    """ILM policies by name, as ``PUT _ilm/policy/<name>`` bodies.

    ILM deletes whole indices, so it only fits an index that rolls over: the audit trail. It is
    kept as long as the longest retention class (actioned items) after its index rolled over.
    Flagged items are kept or purged one by one (dismissed vs actioned) by the purge flow through
    ``delete_items``; an index-level delete there would take open cases with it."""
    return {
        audit_policy_name(index_prefix): {
            "policy": {
                "_meta": {"managed_by": "threatline", "retention_class": "actioned"},
                "phases": {
                    "hot": {
                        "min_age": "0ms",
                        "actions": {
                            "rollover": {
                                "max_age": AUDIT_ROLLOVER_MAX_AGE,
                                "max_primary_shard_size": AUDIT_ROLLOVER_MAX_SHARD_SIZE,
                            }
                        },
                    },
                    "delete": {"min_age": f"{actioned_retention_days}d", "actions": {"delete": {}}},
                },
            }
        }
    }


def index_template(kind: str, index_prefix: str, template_dir: Path, *, with_ilm: bool) -> dict[str, Any]:
    """The ``PUT _index_template/<prefix>-<kind>`` body: the JSON file plus our index patterns."""
    path = Path(template_dir) / f"{kind}.json"
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreError(f"index template {path}: {exc}") from None
    name = f"{index_prefix}-{kind}"
    body["index_patterns"] = [name, f"{name}-*"] if kind == "audit" else [name]
    if kind == "audit" and with_ilm:
        settings = body.setdefault("template", {}).setdefault("settings", {}).setdefault("index", {})
        settings["lifecycle"] = {"name": audit_policy_name(index_prefix), "rollover_alias": name}
    return body


def item_search_body(query: ItemQuery) -> dict[str, Any]:
    filters: list[dict[str, Any]] = [
        {"terms": {field: list(getattr(query, name))}} for name, field in FILTER_FIELDS.items() if getattr(query, name)
    ]
    must_not: list[dict[str, Any]] = []
    if query.labeled is not None:
        (filters if query.labeled else must_not).append({"exists": {"field": "review.label"}})
    bounds = {}
    if query.since is not None:
        bounds["gte"] = query.since.isoformat()
    if query.until is not None:
        bounds["lt"] = query.until.isoformat()
    if bounds:
        filters.append({"range": {"@timestamp": bounds}})
    if query.scopes:
        filters.append({"bool": {"minimum_should_match": 1, "should": [
            {"bool": {"filter": [{"terms": {field: list(getattr(scope, name))}}
                                 for name, field in SCOPE_FIELDS.items() if getattr(scope, name)]}}
            for scope in query.scopes]}})
    must = []
    if query.text and query.text.strip():
        # cross_fields + and: each word in either field; a text of stop words only filters nothing.
        must.append({"multi_match": {"query": query.text, "type": "cross_fields", "operator": "and",
                                     "fields": list(TEXT_FIELDS), "zero_terms_query": "all"}})
    return {
        "query": {"bool": {"must": must, "filter": filters, **({"must_not": must_not} if must_not else {})}},
        "sort": SORTS[query.sort],
        "from_": query.offset,
        "size": query.size,
        "track_total_hits": True,
        "seq_no_primary_term": True,
    }


def period_filters(since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
    """Filters for ``@timestamp`` in [since, until), bounds as UTC ISO 8601 (naive means UTC);
    a document without ``@timestamp`` is in no period."""
    bounds = {op: as_utc(moment).astimezone(UTC).isoformat()
              for op, moment in (("gte", since), ("lt", until)) if moment is not None}
    return [{"range": {"@timestamp": bounds}} if bounds else {"exists": {"field": "@timestamp"}}]


def parse_version(version: str) -> tuple[int, int]:
    try:
        seq_no, primary_term = version.split(":")
        return int(seq_no), int(primary_term)
    except (AttributeError, ValueError):
        raise ConflictError(f"version {version!r} was not issued by this store") from None


def _version(body: Any) -> str:
    return f"{body['_seq_no']}:{body['_primary_term']}"


def _error_type(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("type") if isinstance(error, dict) else None


def _transient_status(status: int) -> bool:
    return status == 429 or status >= 500


def _item_reason(result: dict[str, Any]) -> str:
    error = result.get("error") or {}
    if isinstance(error, dict):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    return str(error)


def _short(exc: BaseException) -> str:
    """The innermost cause of a transport error, without object addresses."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\][^)'\"]*", text)
    if match:
        return match.group(0).strip()
    if "timed out" in text.lower():
        return "timed out"
    return re.sub(r"<[^>]+>:?\s*", "", text).splitlines()[0][:200]


# --- the adapter --------------------------------------------------------------------------------


class ElasticsearchStore(Store):
    # Hits per request in search_audit / alerts_between (search_after pages; at most 10,000).
    _page_size = AUDIT_PAGE

    def __init__(
        self,
        client: Elasticsearch,
        *,
        index_prefix: str = "threatline",
        bulk_max_retries: int = 5,
        dismissed_retention_days: int = 30,
        actioned_retention_days: int = 365,
        template_dir: Path = DEFAULT_TEMPLATE_DIR,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
    ):
        self._client = client
        self.index_prefix = index_prefix
        self.bulk_max_retries = bulk_max_retries
        # Not used by ILM here: dismissed items are purged document by document by the purge flow
        # (DESIGN.md §7), which reads it from the store it was given.
        self.dismissed_retention_days = dismissed_retention_days
        self.actioned_retention_days = actioned_retention_days
        self.template_dir = Path(template_dir)
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.flagged_index = f"{index_prefix}-flagged"
        self.alerts_index = f"{index_prefix}-alerts"
        self.audit_alias = f"{index_prefix}-audit"

    @classmethod
    def from_config(cls, settings: Settings) -> ElasticsearchStore:
        s = settings.store
        options: dict[str, Any] = {
            "request_timeout": s.elasticsearch_timeout_s,
            "verify_certs": s.elasticsearch_verify_certs,
        }
        if s.elasticsearch_ca_certs:
            options["ca_certs"] = str(Path(s.elasticsearch_ca_certs).expanduser())
        if s.elasticsearch_api_key is not None and s.elasticsearch_api_key.get_secret_value():
            options["api_key"] = s.elasticsearch_api_key.get_secret_value()
        elif s.elasticsearch_username and s.elasticsearch_password is not None:
            options["basic_auth"] = (s.elasticsearch_username, s.elasticsearch_password.get_secret_value())
        configured = settings.config_dir / "es"
        return cls(
            Elasticsearch(s.elasticsearch_hosts, **options),
            index_prefix=s.index_prefix,
            bulk_max_retries=s.bulk_max_retries,
            dismissed_retention_days=s.dismissed_retention_days,
            actioned_retention_days=s.actioned_retention_days,
            template_dir=configured if configured.is_dir() else DEFAULT_TEMPLATE_DIR,
        )

    # --- errors ------------------------------------------------------------------------------

    def _hosts(self) -> str:
        try:
            nodes = self._client.transport.node_pool.all()
            return ", ".join(f"{n.config.scheme}://{n.config.host}:{n.config.port}" for n in nodes)
        except Exception:  # a client without a node pool still deserves a readable message
            return "elasticsearch"

    def _error(self, exc: Exception, what: str) -> StoreError:
        if isinstance(exc, ApiError):
            status = exc.meta.status
            if isinstance(exc.body, dict):
                reason = _item_reason(exc.body)
            else:
                reason = str(exc.body or "")[:200] or "empty answer (is this Elasticsearch?)"
            line = f"elasticsearch at {self._hosts()}: {what}: {status} {reason}"
            if status == 409:
                return ConflictError(line)
            if status == 404 and _error_type(exc.body) == "document_missing_exception":
                return NotFound(line)
            if _error_type(exc.body) == "index_not_found_exception":
                return StoreError(f"{line} (run `threatline setup`)")
            if _transient_status(status):
                return StoreUnavailable(line)
            return StoreError(line)
        if isinstance(exc, TransportError):
            return StoreUnavailable(f"elasticsearch at {self._hosts()} unreachable ({what}): {_short(exc)}")
        return StoreError(f"elasticsearch at {self._hosts()}: {what}: {exc}")

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ApiError, TransportError) as exc:
            raise self._error(exc, what) from None

    # --- lifecycle ---------------------------------------------------------------------------

    def setup(self) -> None:
        info = self._call("info", self._client.info)
        with_ilm = server_flavour(info.body) == "elasticsearch"
        if with_ilm:
            policies = ilm_policies(self.index_prefix, actioned_retention_days=self.actioned_retention_days)
            for name, body in policies.items():
                self._call(f"put ILM policy {name}", self._client.ilm.put_lifecycle, name=name, policy=body["policy"])
        for kind in INDICES:
            body = index_template(kind, self.index_prefix, self.template_dir, with_ilm=with_ilm)
            self._call(f"put index template {self.index_prefix}-{kind}", self._client.indices.put_index_template,
                       name=f"{self.index_prefix}-{kind}", **body)
        self._create_index(self.flagged_index)
        self._create_index(self.alerts_index)
        # An existing alias, or a plain index of that name from an older layout, is left alone.
        self._create_index(self.audit_alias + FIRST_AUDIT_INDEX_SUFFIX,
                           aliases={self.audit_alias: {"is_write_index": True}}, unless_exists=self.audit_alias)

    def _create_index(self, index: str, *, aliases: dict | None = None, unless_exists: str | None = None) -> None:
        if self._call(f"check {unless_exists or index}", self._client.indices.exists, index=unless_exists or index):
            return
        try:
            self._client.indices.create(index=index, **({"aliases": aliases} if aliases else {}))
        except ApiError as exc:
            if exc.meta.status == 400 and "already_exists" in str(exc.message):
                return  # another process set up at the same moment
            raise self._error(exc, f"create index {index}") from None
        except TransportError as exc:
            raise self._error(exc, f"create index {index}") from None

    def ping(self) -> bool:
        return bool(self._client.ping())

    def check_writable(self) -> None:
        """The three indices exist, none is red (a primary shard missing) and none carries a
        write block: the flood-stage disk watermark sets ``read_only_allow_delete``, and then
        every index request fails while ``ping`` still answers. Only the audit alias's write
        index counts: rolled-over audit indices may be read-only on purpose."""
        names = [self.flagged_index, self.alerts_index, self.audit_alias]
        blocks = self._call("read index settings", self._client.indices.get_settings, index=names,
                            name="index.blocks.*", flat_settings=True).body
        aliases = self._call(f"read alias {self.audit_alias}", self._client.indices.get_alias,
                             name=self.audit_alias).body
        writers = [i for i, a in aliases.items() if (a.get("aliases", {}).get(self.audit_alias) or {}).get("is_write_index")]
        targets = [self.flagged_index, self.alerts_index, *(writers or list(aliases)[:1])]
        blocked = [f"{index} ({key})" for index in targets
                   for key, value in (blocks.get(index, {}).get("settings") or {}).items()
                   if key in _WRITE_BLOCKS and str(value).lower() == "true"]
        if blocked:
            raise StoreUnavailable(f"elasticsearch at {self._hosts()}: write-blocked: {', '.join(blocked)}")
        health = self._call("cluster health", self._client.cluster.health, index=targets).body
        if health.get("status") == "red":
            raise StoreUnavailable(f"elasticsearch at {self._hosts()}: {', '.join(targets)} red (a primary shard "
                                   "is unassigned)")

    def close(self) -> None:
        self._client.close()

    # --- bulk with per-item retries ----------------------------------------------------------

    def _bulk(self, actions: list[tuple[dict[str, Any], dict[str, Any] | None]], what: str) -> list[dict[str, Any]]:
        """Send bulk actions; resend the ones that failed for transient reasons (429, 5xx, the
        request as a whole not arriving) with exponential backoff. Returns each action's final
        result, in order. A resent create that had in fact arrived comes back 409: harmless."""
        results: list[dict[str, Any] | None] = [None] * len(actions)
        pending = list(range(len(actions)))
        attempt = 0
        last_problem = ""
        while pending:
            operations: list[dict[str, Any]] = []
            for i in pending:
                header, source = actions[i]
                operations.append(header)
                if source is not None:
                    operations.append(source)
            try:
                response = self._client.bulk(operations=operations, refresh=True)
            except (ApiError, TransportError) as exc:
                error = self._error(exc, what)
                if not isinstance(error, StoreUnavailable):
                    raise error from None
                last_problem = str(error)
            else:
                retry = []
                for i, item in zip(pending, response.body["items"], strict=True):
                    result = next(iter(item.values()))
                    if _transient_status(result.get("status", 500)):
                        retry.append(i)
                        last_problem = f"{result.get('status')} {_item_reason(result)}"
                    else:
                        results[i] = result
                pending = retry
            if not pending:
                break
            if attempt >= self.bulk_max_retries:
                raise StoreUnavailable(
                    f"elasticsearch at {self._hosts()}: {what}: {len(pending)} of {len(actions)} still failing"
                    f" after {attempt} retries; last: {last_problem}")
            time.sleep(min(self.backoff_max_s, self.backoff_initial_s * 2**attempt))
            attempt += 1
        return results  # type: ignore[return-value]

    def _create_many(self, index: str, docs: Sequence[dict[str, Any]], what: str) -> int:
        ids = [_event_id(doc, i, what) for i, doc in enumerate(docs)]
        if not ids:
            return 0
        results = self._bulk([({"create": {"_index": index, "_id": i}}, doc) for i, doc in zip(ids, docs, strict=False)], what)
        created = 0
        for doc_id, result in zip(ids, results, strict=False):
            status = result.get("status", 500)
            if 200 <= status < 300:
                created += 1
            elif status != 409:  # 409: already there, which is what create-only means
                raise StoreError(f"elasticsearch {index}: {doc_id} rejected: {status} {_item_reason(result)}")
        return created

    # --- flagged items ---------------------------------------------------------------------

    def index_items(self, docs: Sequence[dict[str, Any]]) -> int:
        return self._create_many(self.flagged_index, docs, "index items")

    def _get(self, index: str, doc_id: str) -> StoredDoc | None:
        try:
            body = self._client.get(index=index, id=doc_id).body
        except ApiError as exc:
            # Only Elasticsearch's own "found": false means missing; a bare 404 (a proxy, a wrong
            # path prefix) must not pass for an empty store.
            if exc.meta.status == 404 and isinstance(exc.body, dict) and exc.body.get("found") is False:
                return None
            raise self._error(exc, f"get {doc_id} from {index}") from None
        except TransportError as exc:
            raise self._error(exc, f"get {doc_id} from {index}") from None
        return StoredDoc(doc_id, body["_source"], _version(body))

    def get_item(self, item_id: str) -> StoredDoc | None:
        return self._get(self.flagged_index, item_id)

    def search_items(self, query: ItemQuery) -> Page:
        if query.size < 0 or query.offset < 0:
            raise ValueError("size and offset must not be negative")
        body = self._call("search items", self._client.search, index=self.flagged_index, **item_search_body(query)).body
        hits = [StoredDoc(h["_id"], h["_source"], _version(h)) for h in body["hits"]["hits"]]
        return Page(body["hits"]["total"]["value"], hits)

    def update_review(self, item_id: str, review: dict[str, Any], version: str) -> str:
        seq_no, primary_term = parse_version(version)
        # detect_noop=False: every accepted update gets a new version, as in the embedded store.
        body = self._call(f"update review of {item_id}", self._client.update, index=self.flagged_index, id=item_id,
                          doc={"review": review}, if_seq_no=seq_no, if_primary_term=primary_term,
                          detect_noop=False, refresh=True).body
        return _version(body)

    def delete_items(self, item_ids: Sequence[str]) -> int:
        if not item_ids:
            return 0
        results = self._bulk([({"delete": {"_index": self.flagged_index, "_id": i}}, None) for i in item_ids],
                             "delete items")
        deleted = 0
        for item_id, result in zip(item_ids, results, strict=False):
            status = result.get("status", 500)
            if 200 <= status < 300 and result.get("result") == "deleted":
                deleted += 1
            elif status != 404:
                raise StoreError(f"elasticsearch {self.flagged_index}: delete {item_id}: {status} {_item_reason(result)}")
        return deleted

    # --- alerts ----------------------------------------------------------------------------

    def create_alert(self, alert_id: str, doc: dict[str, Any]) -> bool:
        try:
            self._client.create(index=self.alerts_index, id=alert_id, document=doc, refresh=True)
            return True
        except ApiError as exc:
            if exc.meta.status == 409:
                return False
            raise self._error(exc, f"create alert {alert_id}") from None
        except TransportError as exc:
            raise self._error(exc, f"create alert {alert_id}") from None

    def get_alert(self, alert_id: str) -> StoredDoc | None:
        return self._get(self.alerts_index, alert_id)

    def update_alert(self, alert_id: str, doc: dict[str, Any], version: str) -> str:
        seq_no, primary_term = parse_version(version)
        try:
            body = self._client.index(index=self.alerts_index, id=alert_id, document=doc, if_seq_no=seq_no,
                                      if_primary_term=primary_term, refresh=True).body
        except ApiError as exc:
            if exc.meta.status == 409 and self.get_alert(alert_id) is None:
                raise NotFound(f"alert {alert_id} not found") from None
            raise self._error(exc, f"update alert {alert_id}") from None
        except TransportError as exc:
            raise self._error(exc, f"update alert {alert_id}") from None
        return _version(body)

    def search_alerts(self, item_id: str | None = None, status: str | Sequence[str] | None = None,
                      size: int = 100) -> list[StoredDoc]:
        filters: list[dict] = [{"term": {"item_id": item_id}}] if item_id is not None else []
        if status is not None:
            filters.append({"terms": {"status": [status] if isinstance(status, str) else list(status)}})
        body = self._call("search alerts", self._client.search, index=self.alerts_index,
                          query={"bool": {"filter": filters}}, sort=[{"@timestamp": "desc"}, {"id": "asc"}],
                          size=size, seq_no_primary_term=True).body
        return [StoredDoc(h["_id"], h["_source"], _version(h)) for h in body["hits"]["hits"]]

    def alerts_between(self, since: datetime | None = None,
                       until: datetime | None = None) -> Iterator[StoredDoc]:
        for hit in self._search_after("alerts of a period", self.alerts_index, period_filters(since, until), "id",
                                      seq_no_primary_term=True):
            yield StoredDoc(hit["_id"], hit["_source"], _version(hit))

    def _search_after(self, what: str, index: str, filters: list[dict[str, Any]], tiebreak: str,
                      **options: Any) -> Iterator[dict[str, Any]]:
        """Every hit of ``filters`` by (@timestamp, ``tiebreak``) ascending, a page at a time with
        ``search_after`` on the last hit's sort values: no from+size, so no 10,000-hit limit."""
        after: list[Any] | None = None
        while True:
            hits = self._call(what, self._client.search, index=index, query={"bool": {"filter": filters}},
                              sort=[{"@timestamp": "asc"}, {tiebreak: "asc"}], size=self._page_size,
                              track_total_hits=False, **options,
                              **({"search_after": after} if after is not None else {})).body["hits"]["hits"]
            yield from hits
            if len(hits) < self._page_size:
                return
            after = hits[-1]["sort"]

    # --- audit -----------------------------------------------------------------------------

    def append_audit(self, docs: Sequence[dict[str, Any]]) -> None:
        self._create_many(self.audit_alias, docs, "append audit")

    def audit_for(self, item_id: str) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        after: list[Any] | None = None
        while True:
            page = self._call(f"audit of {item_id}", self._client.search, index=self.audit_alias,
                              query={"bool": {"filter": [{"term": {"threat.item_id": item_id}}]}},
                              sort=[{"@timestamp": "asc"}, {"event.id": "asc"}], size=AUDIT_PAGE,
                              **({"search_after": after} if after else {})).body["hits"]["hits"]
            records.extend(h["_source"] for h in page)
            if len(page) < AUDIT_PAGE:
                return records
            after = page[-1]["sort"]

    def search_audit(self, since: datetime | None = None, until: datetime | None = None,
                     actions: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
        actions = [actions] if isinstance(actions, str) else list(actions)
        filters = period_filters(since, until) + ([{"terms": {"event.action": actions}}] if actions else [])
        for hit in self._search_after("audit of a period", self.audit_alias, filters, "event.id"):
            yield hit["_source"]


def _event_id(doc: dict[str, Any], position: int, what: str) -> str:
    event = doc.get("event")
    doc_id = event.get("id") if isinstance(event, dict) else None
    if not isinstance(doc_id, str) or not doc_id:
        raise StoreError(f"{what}: document #{position} has no event.id")
    return doc_id
