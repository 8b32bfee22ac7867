"""ILM and index templates of the Elasticsearch store.

osmem (an OpenSearch-compatible stand-in) has no ILM, so the ILM branch of ``setup()`` is checked
by its request bodies: a recording transport node answers ``GET /`` as Elasticsearch would and
acknowledges ``_ilm`` requests, passing everything else on to osmem. Against osmem as it is,
``setup()`` must not touch ``_ilm`` at all.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders
from elastic_transport._node import NodeApiResponse
from elasticsearch import Elasticsearch
from servers_osmem import PlainJsonNode

from pipeline.config import Settings, StoreConfig
from pipeline.store.elasticsearch import (
    DEFAULT_TEMPLATE_DIR,
    ElasticsearchStore,
    ilm_policies,
    index_template,
    server_flavour,
)

ES_INFO = {
    "name": "node-1", "cluster_name": "district", "tagline": "You Know, for Search",
    "version": {"number": "9.1.0", "build_flavor": "default", "lucene_version": "10.2.2"},
}
SERVERLESS_INFO = {**ES_INFO, "version": {"number": "8.11.0", "build_flavor": "serverless"}}
OPENSEARCH_INFO = {"tagline": "The OpenSearch Project: https://opensearch.org/",
                   "version": {"distribution": "opensearch", "number": "3.8.0"}}


def test_policy_bodies_hot_rollover_then_delete_after_retention():
    policies = ilm_policies("district7", actioned_retention_days=400)
    assert list(policies) == ["district7-audit-retention"]
    phases = policies["district7-audit-retention"]["policy"]["phases"]
    assert phases["hot"] == {"min_age": "0ms", "actions": {"rollover": {"max_age": "30d", "max_primary_shard_size": "50gb"}}}
    assert phases["delete"] == {"min_age": "400d", "actions": {"delete": {}}}
    assert ilm_policies("x", actioned_retention_days=30)["x-audit-retention"]["policy"]["phases"]["delete"]["min_age"] == "30d"


@pytest.mark.parametrize(("info", "flavour"), [(ES_INFO, "elasticsearch"), (SERVERLESS_INFO, "serverless"),
                                               (OPENSEARCH_INFO, "opensearch")])
def test_server_flavour_from_info(info, flavour):
    assert server_flavour(info) == flavour


def test_templates_match_our_indices_and_map_the_searched_fields():
    flagged = index_template("flagged", "tl", DEFAULT_TEMPLATE_DIR, with_ilm=True)
    assert flagged["index_patterns"] == ["tl-flagged"]
    assert "lifecycle" not in flagged["template"]["settings"]["index"]  # create-only by id needs one index
    props = flagged["template"]["mappings"]["properties"]
    assert props["message"]["type"] == "text" and props["message"]["analyzer"] == "english"
    assert props["message"]["fields"]["keyword"]["type"] == "keyword"
    assert props["threat"]["properties"]["explanation"]["analyzer"] == "english"
    for group, field in (("threat", "severity"), ("threat", "category"), ("labels", "school"), ("review", "status"),
                         ("event", "provider"), ("event", "id")):
        assert props[group]["properties"][field]["type"] == "keyword", f"{group}.{field}"
    assert props["@timestamp"]["type"] == "date"
    assert props["threat"]["properties"]["score"]["type"] in ("float", "double")

    audit = index_template("audit", "tl", DEFAULT_TEMPLATE_DIR, with_ilm=True)
    assert audit["index_patterns"] == ["tl-audit", "tl-audit-*"]
    assert audit["template"]["settings"]["index"]["lifecycle"] == {"name": "tl-audit-retention", "rollover_alias": "tl-audit"}
    assert "lifecycle" not in index_template("audit", "tl", DEFAULT_TEMPLATE_DIR, with_ilm=False)["template"]["settings"]["index"]


def test_every_template_file_is_valid_json_with_mappings():
    for path in sorted(Path(DEFAULT_TEMPLATE_DIR).glob("*.json")):
        body = json.loads(path.read_text())
        assert body["template"]["mappings"]["properties"], path.name


def _recording_client(url: str, pretend: dict | None):
    """A client whose requests are recorded; with ``pretend``, ``GET /`` answers that body,
    ``_ilm`` requests are acknowledged here (what Elasticsearch would answer) and templates reach
    osmem without the lifecycle settings it does not know."""
    requests: list[tuple[str, str, object]] = []

    class RecordingNode(PlainJsonNode):
        def perform_request(self, method, target, body=None, headers=None, **kwargs):
            requests.append((method, target, json.loads(body) if body and body.strip().startswith(b"{") else None))
            path = target.split("?")[0]
            if pretend is not None and (path == "/" or path.startswith("/_ilm/")):
                answer = pretend if path == "/" else {"acknowledged": True}
                meta = ApiResponseMeta(status=200, http_version="1.1", duration=0.0, node=self.config,
                                       headers=HttpHeaders({"content-type": "application/json",
                                                            "x-elastic-product": "Elasticsearch"}))
                return NodeApiResponse(meta, json.dumps(answer).encode())
            if pretend is not None and path.startswith("/_index_template/"):
                # osmem, like OpenSearch, refuses index.lifecycle.* settings: record, then forward without.
                template = json.loads(body)
                template["template"]["settings"]["index"].pop("lifecycle", None)
                body = json.dumps(template).encode()
            return super().perform_request(method, target, body=body, headers=headers, **kwargs)

    return Elasticsearch(url, node_class=RecordingNode), requests


@pytest.fixture
def recorded_setup(osmem_url):
    made = []

    def run(pretend: dict | None, **options):
        client, requests = _recording_client(osmem_url, pretend)
        store = ElasticsearchStore(client, index_prefix=f"ilm{uuid.uuid4().hex[:8]}", **options)
        made.append((store, client))
        store.setup()
        return store, requests

    yield run
    for store, client in made:
        client.indices.delete(index=f"{store.index_prefix}-*")
        store.close()


@pytest.mark.elasticsearch
def test_setup_against_osmem_makes_no_ilm_request(recorded_setup):
    store, requests = recorded_setup(None)
    assert requests, "the recorder saw nothing"
    assert not [r for r in requests if r[1].startswith("/_ilm")]
    template = next(body for method, target, body in requests if target.startswith(f"/_index_template/{store.index_prefix}-audit"))
    assert "lifecycle" not in template["template"]["settings"]["index"]


@pytest.mark.elasticsearch
def test_setup_against_elasticsearch_puts_policy_and_binds_audit_template(recorded_setup):
    store, requests = recorded_setup(ES_INFO, actioned_retention_days=730)
    prefix = store.index_prefix
    ilm = [(m, t, b) for m, t, b in requests if t.startswith("/_ilm")]
    assert [(m, t.split("?")[0]) for m, t, _ in ilm] == [("PUT", f"/_ilm/policy/{prefix}-audit-retention")]
    assert ilm[0][2] == ilm_policies(prefix, actioned_retention_days=730)[f"{prefix}-audit-retention"]
    # The policy exists before the template that names it, and the template before the indices.
    order = [t.split("?")[0] for _, t, _ in requests]
    assert order.index(f"/_ilm/policy/{prefix}-audit-retention") < order.index(f"/_index_template/{prefix}-audit")
    assert order.index(f"/_index_template/{prefix}-audit") < order.index(f"/{prefix}-audit-000001")
    template = next(b for _, t, b in requests if t.startswith(f"/_index_template/{prefix}-audit"))
    assert template["template"]["settings"]["index"]["lifecycle"] == {
        "name": f"{prefix}-audit-retention", "rollover_alias": f"{prefix}-audit"}
    create = next(b for m, t, b in requests if m == "PUT" and t.startswith(f"/{prefix}-audit-000001"))
    assert create == {"aliases": {f"{prefix}-audit": {"is_write_index": True}}}


@pytest.mark.elasticsearch
def test_setup_against_serverless_skips_ilm(recorded_setup):
    _, requests = recorded_setup(SERVERLESS_INFO)
    assert not [r for r in requests if r[1].startswith("/_ilm")]


def test_from_config_builds_client_with_credentials(tmp_path):
    settings = Settings(store=StoreConfig(
        backend="elasticsearch", index_prefix="district7", elasticsearch_hosts=["https://es1:9200", "https://es2:9200"],
        elasticsearch_username="threatline", elasticsearch_password="s3cret", elasticsearch_timeout_s=3.5,
        bulk_max_retries=2, actioned_retention_days=500))
    store = ElasticsearchStore.from_config(settings)
    try:
        assert store.index_prefix == "district7" and store.bulk_max_retries == 2
        assert store.actioned_retention_days == 500
        assert store.flagged_index == "district7-flagged" and store.audit_alias == "district7-audit"
        nodes = sorted(n.base_url for n in store._client.transport.node_pool.all())
        assert nodes == ["https://es1:9200", "https://es2:9200"]
        assert store._client._headers["authorization"].startswith("Basic ")
        assert store._client._request_timeout == 3.5
    finally:
        store.close()
    keyed = ElasticsearchStore.from_config(Settings(store=StoreConfig(
        elasticsearch_api_key="a2V5OnNlY3JldA==", elasticsearch_username="ignored", elasticsearch_password="x")))
    try:
        assert keyed._client._headers["authorization"] == "ApiKey a2V5OnNlY3JldA=="
    finally:
        keyed.close()
