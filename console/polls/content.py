"""The content checks: each configured message (an .eml file, or a template Mandrill
renders) scored by SpamAssassin and linted, its links checked against the blocklists."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from console.analysis.alerts import ContentView
from console.analysis.content import lint, listed_links
from console.config import ContentCheckConfig
from console.files import FileRefused, read_regular
from console.limits import EML_FILE_BYTES
from console.model import ContentResult
from console.sources.base import SourceError
from console.updates import PollResult

if TYPE_CHECKING:
    from console.jobs import Pipeline


async def content_message(p: Pipeline, cc: ContentCheckConfig) -> bytes:
    """The message a check scores: its .eml file, or its template rendered by Mandrill."""
    if cc.eml:
        path = Path(cc.eml).expanduser()
        try:
            return await asyncio.to_thread(read_regular, path, EML_FILE_BYTES)
        except FileRefused as exc:
            raise SourceError(f"cannot use {path}: {exc}") from None
    html = await p.client.render_template(cc.template, dict(cc.merge_vars))
    msg = EmailMessage()
    domains = p.config.domains.sending or [sd.domain for sd in p.mandrill_domains_view() or ()]
    sender = (
        cc.from_email
        or p.config.seed_test.from_email
        or (f"no-reply@{domains[0]}" if domains else "no-reply@example.com")
    )
    msg["From"] = sender
    msg["To"] = "content-check@example.com"
    msg["Subject"] = cc.subject or cc.template
    msg["Date"] = format_datetime(p.clock())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


async def poll_content(p: Pipeline) -> PollResult:
    now = p.clock()
    blocklists = p.blocklist_view()
    listed = {
        x.target for x in (blocklists.listings if blocklists else ()) if x.verdict == "listed"
    }
    results = []
    for cc in p.config.content_checks:
        try:
            raw = await content_message(p, cc)
        except SourceError as exc:
            results.append(ContentResult(cc.name, now, error=exc.title))
            continue
        findings, links = lint(raw, bulk=cc.bulk)
        findings += listed_links(links, listed)
        report = await p.scorer.report(raw)  # spamd down: the poll fails, last kept
        results.append(
            ContentResult(cc.name, now, report, tuple(findings), recorded=p.scorer.recorded)
        )

    def save() -> ContentView | None:
        for r in results:
            if r.report is not None:
                p.store.add_history(f"content:{r.name}", now, r.report.score)
        p.store.put_snapshot("content", results, p.wall())
        p.store.commit()
        return p.content_view()

    return PollResult(content=await p.db(save))
