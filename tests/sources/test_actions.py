"""Actions against the simulator: each works, fails clearly, is refused read-only, is audited."""

from pathlib import Path

from console.actions import Action, Actions
from console.cli import demo_config
from console.jobs import Pipeline
from console.registry import ActionKind
from console.secret import Secret
from console.sim import DEMO_KEY, ManualClock, SimServer, Simulator
from console.sources.mandrill import MandrillClient
from console.store import Store


def make(server: SimServer, store: Store, clock: ManualClock) -> Pipeline:
    cfg = demo_config(server.base_url, str(store.dir))
    client = MandrillClient(server.base_url, Secret(DEMO_KEY), timeout=5, retries=0)
    return Pipeline(client, store, cfg, clock=clock)


async def test_each_action_works_and_fails_clearly_and_is_audited(
    server: SimServer, sim: Simulator, tmp_path: Path, clock: ManualClock
) -> None:
    store = Store(tmp_path / "s", clock=clock).open()
    p = make(server, store, clock)
    actions = Actions(p)
    rejects = await p.client.rejects_list()
    victim = rejects[0]
    entry, update = await actions.perform(Action("reject.delete", victim.email, victim.subaccount))
    assert entry.ok and entry.result == "deleted"
    assert update is not None and update.source == "rejects"
    assert update.result.rejects is not None
    assert victim.email not in {r.email for r in update.result.rejects}
    entry, _ = await actions.perform(Action("reject.delete", victim.email))
    assert (
        not entry.ok
        and "Invalid_Reject" in entry.result
        and "not in the rejection list" in (entry.result)
    )
    ip = sim.scenario.dedicated_ip
    entry, update = await actions.perform(Action("ip.cancel_warmup", ip))
    assert entry.ok and entry.result == "not warming up"
    assert update is not None and update.result.ips is not None
    assert not next(r for r in update.result.ips.rows if r.ip == ip).warming_up
    entry, _ = await actions.perform(Action("ip.start_warmup", ip))
    assert entry.ok and entry.result.startswith("warming up until ")
    entry, _ = await actions.perform(Action("ip.start_warmup", "192.0.2.99"))
    assert not entry.ok and "Unknown_IP" in entry.result
    entry, update = await actions.perform(Action("subaccount.pause", "dandelion"))
    assert entry.ok and entry.result == "status paused"
    assert update is not None and update.result.subaccounts is not None
    assert {s.id: s.status for s in update.result.subaccounts}["dandelion"] == "paused"
    entry, _ = await actions.perform(Action("subaccount.resume", "dandelion"))
    assert entry.ok and entry.result == "status active"
    entry, _ = await actions.perform(Action("subaccount.pause", "nobody"))
    assert not entry.ok and "Unknown_Subaccount" in entry.result
    store.close()
    # the audit log survives a restart, in order
    store = Store(tmp_path / "s", clock=clock).open()
    log = store.audit()
    assert [(e.action, e.ok) for e in log] == [
        ("reject.delete", True),
        ("reject.delete", False),
        ("ip.cancel_warmup", True),
        ("ip.start_warmup", True),
        ("ip.start_warmup", False),
        ("subaccount.pause", True),
        ("subaccount.resume", True),
        ("subaccount.pause", False),
    ]
    await p.client.aclose()
    store.close()


async def test_read_only_refuses_without_calling_mandrill(
    server: SimServer, sim: Simulator, store: Store, clock: ManualClock
) -> None:
    p = make(server, store, clock)
    actions = Actions(p, read_only=True)
    tries: tuple[tuple[ActionKind, str], ...] = (
        ("reject.delete", "a@b.c"),
        ("ip.cancel_warmup", sim.scenario.dedicated_ip),
        ("subaccount.pause", "dandelion"),
    )
    for kind, target in tries:
        entry, update = await actions.perform(Action(kind, target))
        assert not entry.ok and entry.result == "refused: mailops is read-only" and update is None
    assert not any(
        sim.calls[m] for m in ("rejects/delete", "ips/cancel-warmup", "subaccounts/pause")
    )
    assert len(store.audit()) == 3
    await p.client.aclose()


def test_every_action_says_its_consequence() -> None:
    for kind in ("reject.delete", "ip.start_warmup", "ip.cancel_warmup", "subaccount.pause",
                 "subaccount.resume"):  # fmt: skip
        question, consequence = Action(kind, "x").describe()
        assert question.endswith("?") and len(consequence) > 40
    assert "reputation" in Action("reject.delete", "x").describe()[1]
