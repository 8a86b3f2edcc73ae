"""The DNS screen says "unknown" for lookups that got no answer, and no Python None."""

from __future__ import annotations

from textual.app import App

from console.model import DkimCheck, DmarcCheck, DomainDns, SpfCheck
from widgets.dns import DnsScreen

UNKNOWN = DomainDns(
    domain="refused.test",
    spf=SpfCheck(False, error="temperror: a lookup got no answer (REFUSED): …", temperror=True),
    dkim=(DkimCheck("mte1", False, "missing", error="DNS refused", temperror=True),),
    dmarc=DmarcCheck(False, error="a lookup got no answer (timeout)", temperror=True),
)


async def test_unknown_verdicts_read_unknown_and_never_none() -> None:
    app: App[None] = App()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = DnsScreen(lambda t: t)
        await app.push_screen(screen)
        screen.show_dns([UNKNOWN])
        await pilot.pause()
        shot = app.export_screenshot()
        text = shot.replace("&#160;", " ")
        assert text.count("unknown: no") == 2 and "unknown mte1" in text and "FAIL" not in text
        assert " ok " not in text
        assert "None" not in shot
        await pilot.press("enter")
        await pilot.pause()
        assert "None" not in app.export_screenshot()
