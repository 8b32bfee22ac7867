"""The store goes away mid-stream for a minute: the index stage backs off, commits nothing, and
catches up when the store returns with nothing lost. Real outage: the network path to a real
osmem server is cut and restored."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.bootstrap import Runtime, build_bus
from pipeline.bus import OutMessage
from pipeline.classify import score_post
from pipeline.schema import RawPost
from pipeline.store import ItemQuery
from pipeline.store.elasticsearch import ElasticsearchStore
from servers_osmem import es_client, osmem_server
from tcp_proxy import TcpProxy
from waiting import wait_for

pytestmark = [pytest.mark.elasticsearch, pytest.mark.slow]
OUTAGE_S = 60.0


def test_index_stage_backs_off_while_store_is_down_and_catches_up(settings):
    with osmem_server() as url:
        check_outage(settings, int(url.rsplit(":", 1)[1]))


def check_outage(settings, server_port):
    proxy = TcpProxy(server_port)
    proxy.up()
    store = ElasticsearchStore(es_client(f"http://127.0.0.1:{proxy.port}", request_timeout=2, max_retries=0),
                               index_prefix="outage", bulk_max_retries=1, backoff_initial_s=0.05, backoff_max_s=0.1)
    store.setup()
    rt = Runtime(settings, build_bus(settings), store)
    rt.setup()
    flagged = settings.topic("items.flagged")
    items = [score_post(RawPost(source="forum", native_id=str(i), text=f"bring a gun to LHS {i}"), rt.classifier)
             for i in range(300)]
    rt.bus.publish([OutMessage(flagged, i.id, i.to_bytes()) for i in items])

    runner = rt.runner("index", until_idle=False)
    runner.batch_size = 5  # many small batches: the outage lands mid-stream
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("report", runner.run()))
    thread.start()
    try:
        assert wait_for(lambda: rt.bus.lag("threatline-index", [flagged]) < 280, 30), "no progress before the cut"
        proxy.down()  # mid-stream, for a minute
        cut_at = rt.bus.lag("threatline-index", [flagged])
        time.sleep(OUTAGE_S)
        assert thread.is_alive()
        assert 0 < rt.bus.lag("threatline-index", [flagged]) >= cut_at - 5  # at most the batch in flight
        proxy.up()
        assert wait_for(lambda: rt.bus.lag("threatline-index", [flagged]) == 0, 60), "did not catch up"
    finally:
        rt.stop.set()
        thread.join(timeout=30)
    report = result["report"]
    assert report.retries >= 5  # backing off through the whole minute
    assert rt.bus.lag("threatline-index", [flagged]) == 0
    # All 300 there, once each. A bulk write can land just as the link is cut, its answer lost:
    # the retry finds those documents and creates nothing, so ``written`` may count fewer.
    assert store.search_items(ItemQuery(size=1)).total == 300 and report.consumed == 300
    rt.close()
    proxy.down()
