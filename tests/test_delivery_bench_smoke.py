"""The delivery benchmarks with tiny sizes: each runs, reports its store and baseline, and loses nothing.

Figures are printed by `python -m bench.<name>`; these tests check outcomes only.
"""

from __future__ import annotations

import shutil

import pytest

from bench import fault, flood, ingest, memory, routing


async def test_ingest_smoke() -> None:
    config = ingest.IngestConfig(events=40, batch=5, concurrency=4)
    result = await ingest.run(config)
    assert result.bot.failures == ()
    assert result.bot.events == 40
    lines = ingest.report(result, config)
    assert any(line.startswith("store: mongomock-motor") for line in lines)
    assert any("ratio bot / baseline" in line for line in lines)


async def test_routing_smoke() -> None:
    config = routing.RoutingConfig(events=25, small=5, large=40, workspaces=10)
    small, large, in_memory = await routing.run(config)
    assert in_memory
    assert small.deliveries == 25
    assert large.deliveries == 25
    assert small.rules == 5
    assert large.rules == 40
    assert any("ratio large / small" in line for line in routing.report(small, large, in_memory=True, events=25))


async def test_flood_smoke() -> None:
    config = flood.FloodConfig(events=12, window_seconds=0.5, rate=20.0, timeout_seconds=30.0)
    result = await flood.run(config)
    counted = result.tally
    assert counted.accepted == 12
    assert counted.deliveries_sent == 12
    assert counted.lost == 0
    assert counted.unreachable == 0
    assert counted.duplicates == 0
    # The default burst policy: the first alert is posted on its own and the other 11 are gathered into one
    # summary. Whether it is edited depends on timing; once the run settled it counts the whole flood.
    assert counted.top_level == 2
    assert counted.summaries == 1
    assert counted.summaries_behind == 0
    [summary_text] = counted.summary_texts
    assert summary_text.startswith("12 outlier alerts")
    assert 1 <= counted.peak_calls_per_second <= 2 + counted.summary_edits
    assert any("summary edits" in line for line in flood.report(result, config))


async def test_fault_smoke() -> None:
    config = fault.FaultConfig(events=12, channels=2, retry_after=0.2, permanent=1, scale=0.05, timeout_seconds=30)
    result = await fault.run(config)
    assert result.accepted == 12
    assert result.lost == 0
    assert result.duplicates == 0
    assert result.undelivered == 1
    assert result.posted_after_retry == 12


async def test_memory_smoke() -> None:
    config = memory.MemoryConfig(seconds=1.0, rate=20.0, channels=2)
    result = await memory.run(config)
    # The first batch is always sent; later ones only while the one-second load lasts.
    assert 10 <= result.accepted <= 20
    assert result.peak_rss_mib >= result.baseline_mib > 0


@pytest.mark.skipif(shutil.which("prometheus-alertmanager") is None, reason="Alertmanager is not installed")
async def test_peer_smoke() -> None:
    from bench import peer

    assert await peer.peer_ingest(20) > 0
    posted, duplicates, _, _ = await peer.peer_flood(10, 0.5, 30)
    assert posted == 10
    assert duplicates == 0


def test_peer_config_mirrors_rules() -> None:
    from bench import peer

    config = peer.config_yaml("http://127.0.0.1:1", ["C0A", "C0B"])
    assert config.count("slack_configs") == 2
    assert "api_url: http://127.0.0.1:1/hook/C0B" in config
    assert "group_by: ['...']" in config
