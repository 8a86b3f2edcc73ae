"""Polls finish in any order: a view computed before newer mail never replaces it."""

from __future__ import annotations

from console.model import IpRow


async def test_a_late_poll_with_an_older_ip_view_does_not_replace_a_newer_one() -> None:
    from textual.app import App, ComposeResult

    from console.model import IpView
    from widgets.warmup import WarmupPanel

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield WarmupPanel()

    def view(sent: int, generation: int) -> IpView:
        row = IpRow("203.0.113.9", "p", "", True, False, None, None, None, sent, sent, 0, 0, 0, 1.0)
        return IpView((row,), 24, generation=generation)

    async with One().run_test() as pilot:
        panel = pilot.app.query_one(WarmupPanel)
        panel.show_ips(view(900, generation=5))
        panel.show_ips(view(10, generation=3))  # computed before the mail above was read
        await pilot.pause()
        assert panel._view is not None and panel._view.rows[0].sent == 900
        panel.show_ips(view(950, generation=6))
        assert panel._view.rows[0].sent == 950
