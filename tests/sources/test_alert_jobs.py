"""Alerts as the pipeline keeps them: from the simulator's story, across a restart."""

from datetime import timedelta
from pathlib import Path

from console.cli import demo_config
from console.jobs import Pipeline
from console.model import SourceStatus
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator
from console.sources.mandrill import MandrillClient
from console.store import Store
from console.updates import Update


def make(server: SimServer, store: Store, clock: ManualClock) -> Pipeline:
    cfg = demo_config(server.base_url, str(store.dir))
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5, retries=0)
    return Pipeline(client, store, cfg, clock=clock)


async def test_the_story_raises_customer_and_ip_alerts_that_survive_a_restart(
    server: SimServer, sim: Simulator, tmp_path: Path, clock: ManualClock
) -> None:
    store = Store(tmp_path / "state", clock=clock).open()
    p = make(server, store, clock)
    published: list[Update] = []
    p.publish = published.append
    for name in p.sources:
        assert (await p.run(name)).status.ok
    await p.client.aclose()
    view = p.alerts_view()
    by_key = {a.key: a for a in view.open}
    complaint = by_key["customer_complaints|customer dandelion"]
    assert complaint.severity == "critical" and "Dandelion Deals" in complaint.message
    noisy = by_key[f"noisy_neighbour|IP {sim.scenario.noisy_ip}"]
    assert noisy.opened_at == clock()
    opened = {a.key for u in published if u.result.alerts for a in u.result.alerts.opened}
    assert complaint.key in opened and noisy.key in opened
    # acknowledge, restart, and find both the alerts and the acknowledgement
    assert p.acknowledge(noisy.id, "asked Mandrill support to move us") is not None
    assert p.acknowledge("no-such-id", "x") is None
    store.close()
    clock.advance(minutes=5)
    store = Store(tmp_path / "state", clock=clock).open()
    p2 = make(server, store, clock)
    again = {a.key: a for a in p2.alerts_view().open}
    assert again[noisy.key].ack_note == "asked Mandrill support to move us"
    assert again[complaint.key].opened_at == complaint.opened_at
    # the next poll updates, it does not reopen
    await p2.run("subaccounts")
    after = {a.key: a for a in p2.alerts_view().open}
    assert after[complaint.key].id == complaint.id
    # a source down longer than the limit raises its own alert, and it resolves on recovery
    sim.knobs.error_rates = {"users/info": 1.0}
    clock.advance(minutes=1)
    await p2.run("account")
    # last good poll 20 minutes ago (the status clock is the scenario's here)
    p2.statuses["account"] = SourceStatus("account", False, clock() - timedelta(minutes=20))
    p2.wall = clock
    await p2.run("account")
    assert "source_failing|source account" in {a.key for a in p2.alerts_view().open}
    sim.knobs.error_rates = {}
    await p2.run("account")
    assert "source_failing|source account" not in {a.key for a in p2.alerts_view().open}
    resolved = [a for a in p2.alerts_view().alerts if a.key == "source_failing|source account"]
    assert resolved and resolved[0].resolved_at is not None
    await p2.client.aclose()
    store.close()
