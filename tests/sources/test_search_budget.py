"""The search allowance is shared by every mailops process on one state dir."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from console.searchbudget import SharedSearchBudget
from console.sim import SimServer


def test_two_holders_share_one_allowance(tmp_path: Path) -> None:
    now = [1000.0]
    console = SharedSearchBudget(tmp_path, 5, clock=lambda: now[0])
    cron = SharedSearchBudget(tmp_path, 5, clock=lambda: now[0])
    assert [console.reserve() for _ in range(3)] == [0.0] * 3
    assert [cron.reserve() for _ in range(2)] == [0.0] * 2
    wait = cron.reserve()  # five in the minute, between them: the sixth waits
    assert wait is not None and 59.9 < wait < 60.2
    console_wait = console.reserve()
    assert console_wait is not None and console_wait > 0
    now[0] += 61
    assert console.reserve() == 0.0


def test_another_process_s_searches_count(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from console.searchbudget import "
        "SharedSearchBudget as B; b = B(Path(sys.argv[1]), 4); "
        "print([b.reserve() for _ in range(3)])"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    assert out.strip() == "[0.0, 0.0, 0.0]"
    mine = SharedSearchBudget(tmp_path, 4)
    assert mine.reserve() == 0.0
    next_wait = mine.reserve()
    assert next_wait is not None and next_wait > 0


def test_a_damaged_budget_file_starts_afresh(tmp_path: Path) -> None:
    (tmp_path / "search-budget").write_text("{not json")
    assert SharedSearchBudget(tmp_path, 2).reserve() == 0.0


async def test_the_client_waits_on_the_shared_allowance(server: SimServer) -> None:
    from console.secret import Secret
    from console.sim import DEMO_KEY
    from console.sources.mandrill import MandrillClient

    answers = iter([0.0, 12.5, 0.0])
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    c = MandrillClient(server.base_url, Secret(DEMO_KEY), search_per_minute=20, sleep=sleep,
                       shared_budget=lambda: next(answers))  # fmt: skip
    await c.search("*", limit=5)
    await c.search("*", limit=5)
    await c.aclose()
    assert slept == [12.5]


async def test_without_a_usable_shared_file_the_client_keeps_its_own_count(
    server: SimServer,
) -> None:
    from console.secret import Secret
    from console.sim import DEMO_KEY
    from console.sources.mandrill import MandrillClient

    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    c = MandrillClient(server.base_url, Secret(DEMO_KEY), search_per_minute=2, sleep=sleep,
                       monotonic=lambda: 100.0 + len(slept) * 61,
                       shared_budget=lambda: None)  # fmt: skip
    for _ in range(3):
        await c.search("*", limit=1)
    await c.aclose()
    assert len(slept) == 1  # the third search waited on the process's own count


def test_an_unusable_budget_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "search-budget").mkdir()  # a directory where the file should be
    assert SharedSearchBudget(tmp_path, 2).reserve() is None
