"""The `mailops` command: the console, `check`, `simulate` and `config init`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import logging.handlers
import sys
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from console import __version__
from console.analysis.seeds import SEED_INBOX_MIN, seed_exit, seed_findings
from console.checkreport import (
    EXIT_CRITICAL,
    EXIT_OK,
    EXIT_UNUSABLE,
    EXIT_WARNING,
    check_report,
    check_sources,
)
from console.config import (
    Config,
    ConfigError,
    ContentCheckConfig,
    DmarcConfig,
    DnsConfig,
    DomainsConfig,
    MandrillConfig,
    PollConfig,
    PostmasterConfig,
    SeedTestConfig,
    StorageConfig,
    load_config,
    resolve_api_key,
    resolve_config_path,
    resolve_dqs_key,
    write_template,
)
from console.files import FileRefused, read_regular
from console.limits import EML_FILE_BYTES
from console.report import (
    seed_json,
)
from console.secret import Secret
from console.sources.control import ControlClient, socket_path
from console.startup import release_collector
from console.store import (
    Store,
    StoreError,
    StoreLockedError,
    read_dmarc_reports,
)
from console.textsafe import SafeFormatter, terminal_lines, visible
from console.timeutil import Clock, age_text, system_clock

if TYPE_CHECKING:  # loaded where used: the console's first frame does not wait for them
    from console.jobs import Pipeline
    from console.model import SeedRun
    from console.seeding import Seed
    from console.sources.postmaster import PostmasterClient
    from console.sources.spamd import Scorer
    from console.updates import Update

#: The options that may stand before or after a subcommand, and the commands each applies
#: to ("" is the console itself). Given where it does not apply, it is an error, never
#: silently ignored.
GLOBAL_OPTIONS: dict[str, tuple[str, ...]] = {
    "config": ("", "check", "serve", "seed-test", "content-check", "dmarc import", "config init"),
    "state_dir": ("", "check", "serve", "seed-test", "dmarc import"),
    "read_only": ("",),
}


def _add_globals(p: argparse.ArgumentParser, command: str, *, top: bool = False) -> None:
    """The global options this command takes. On a subcommand they default to SUPPRESS, so
    one given before the subcommand is not overwritten by the subcommand's default."""
    extra: dict[str, Any] = {} if top else {"default": argparse.SUPPRESS}
    if top or command in GLOBAL_OPTIONS["config"]:
        p.add_argument(
            "--config",
            metavar="PATH",
            help="config file (default: $MAILOPS_CONFIG, else mailops/config.toml in the "
            "config dir)",
            **extra,
        )
    if top or command in GLOBAL_OPTIONS["state_dir"]:
        p.add_argument("--state-dir", metavar="DIR", help="override [storage] state_dir", **extra)
    if top or command in GLOBAL_OPTIONS["read_only"]:
        p.add_argument(
            "--read-only",
            action="store_true",
            help="no actions (reject removal, warm-up, pause): look, don't touch",
            **extra,
        )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mailops",
        description="Terminal operations console for email deliverability on Mandrill.",
        epilog="Config precedence: --config, then $MAILOPS_CONFIG, then the platform config path. "
        "--config, --state-dir and --read-only may stand before or after the subcommand.",
    )
    p.add_argument("--version", action="version", version=f"mailops {__version__}")
    p.add_argument("--demo", action="store_true", help="open the console on the built-in simulator")
    _add_globals(p, "", top=True)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser(
        "check",
        help="poll every source once and report (exit 0 ok, 1 warning, 2 critical, 3 unusable)",
        description="Poll every configured source once, print a summary, exit with its status: "
        "0 healthy, 1 warning, 2 critical, 3 unusable config or unreachable source.",
    )
    c.add_argument("--json", action="store_true", help="print JSON (schema in README)")
    c.add_argument(
        "--format",
        choices=("text", "json", "openmetrics"),
        default=None,
        help="text (default), json (as --json), or openmetrics: the metrics `serve` exposes, "
        "for the node exporter's textfile collector",
    )
    _add_globals(c, "check")

    sv = sub.add_parser(
        "serve",
        help="run without a screen: polls, alerts, webhooks, metrics",
        description="Run every poll, alert rule, notification, seed schedule, DMARC import and "
        "content check without a screen, as the one writer of the state dir; receive "
        "Mandrill's webhooks ([webhooks]) and serve Prometheus metrics ([metrics]). Logs to "
        "stderr. Exit 0 stopped by SIGTERM or SIGINT, 3 unusable config or state dir.",
    )
    _add_globals(sv, "serve")

    st = sub.add_parser(
        "seed-test",
        help="send one seed test now and print where each message landed",
        description="Send one test message to every [[seeds]] mailbox through Mandrill, watch "
        "the mailboxes over IMAP, and print each placement. Exit 0 all in the inbox, 1 some "
        "not, 2 half or more in spam / missing / rejected, 3 unusable config or nothing "
        "checkable. The run is stored for the console and `mailops check`.",
    )
    st.add_argument("--json", action="store_true", help="print the run as JSON")
    _add_globals(st, "seed-test")

    cc = sub.add_parser(
        "content-check",
        help="score one message with spamd and lint it",
        description="Score one RFC 5322 message (.eml) with spamd ([spamd] in the config) and "
        "lint it. Exit 0 clean, 1 lint findings, 2 spam, 3 spamd unreachable or unreadable file.",
    )
    cc.add_argument("file", metavar="FILE.eml")
    cc.add_argument("--bulk", action="store_true", help="require List-Unsubscribe (one-click)")
    cc.add_argument("--json", action="store_true", help="print JSON")
    _add_globals(cc, "content-check")

    dm = sub.add_parser("dmarc", help="DMARC aggregate reports")
    dm_sub = dm.add_subparsers(dest="dmarc_command", metavar="ACTION")
    imp = dm_sub.add_parser(
        "import",
        help="import report files (zip, gzip or XML; directories are searched)",
        description="Import DMARC aggregate report files into the state dir, with a summary. "
        "Exit 0 all imported, 1 some refused, 3 none readable or the state dir unusable.",
    )
    imp.add_argument("paths", nargs="+", metavar="PATH", help="report files or directories")
    _add_globals(imp, "dmarc import")

    s = sub.add_parser(
        "simulate",
        help="serve the Mandrill API simulator on 127.0.0.1",
        description="Serve the Mandrill API simulator on 127.0.0.1 until interrupted.",
    )
    s.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks one)")
    s.add_argument("--scenario", default="default", help="default, quiet, hostile or heavy")
    s.add_argument("--speed", type=float, default=1.0, help="scenario seconds per real second")
    s.add_argument("--seed", type=int, default=None, help="seed for the scenario's data")
    s.add_argument(
        "--at",
        type=float,
        default=3.0,
        metavar="HOURS",
        help="start this many scenario hours into the story (default 3: the noisy neighbour is on)",
    )
    s.add_argument("--key", default=None, help="the API key the simulator accepts")
    s.add_argument(
        "--dns-port",
        type=int,
        default=0,
        metavar="N",
        help="also serve the scenario's DNS zones (domains, rDNS, blocklists) on this port "
        "(default 0 picks one; -1: none)",
    )

    cfg = sub.add_parser("config", help="manage the config file")
    cfg_sub = cfg.add_subparsers(dest="config_command", metavar="ACTION")
    init = cfg_sub.add_parser("init", help="write a commented config template (mode 0600)")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    _add_globals(init, "config init")
    return p


def _command_name(args: argparse.Namespace) -> str:
    """ "check", "dmarc import", "config init"… ("" for the console itself)."""
    if args.command == "dmarc":
        return f"dmarc {args.dmarc_command or ''}".strip()
    if args.command == "config":
        return f"config {args.config_command or ''}".strip()
    return args.command or ""


def _check_globals(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A global option given before a subcommand it does not apply to is an error."""
    command = _command_name(args)
    for name, applies in GLOBAL_OPTIONS.items():
        if getattr(args, name, None) and command not in applies:
            flag = "--" + name.replace("_", "-")
            p.error(f"{flag} does not apply to `mailops {command}`")
    if args.demo and command:
        p.error(f"--demo opens the console; it does not apply to `mailops {command}`")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check_globals(parser, args)
    if args.command is not None:  # the console releases it after its first frame
        release_collector()
    try:
        return _dispatch(parser, args)
    except KeyboardInterrupt:
        return 130


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Run the command the arguments name (a group without its action prints its help)."""
    command = _command_name(args)
    if args.command in ("dmarc", "config") and command not in ("dmarc import", "config init"):
        parser.parse_args([args.command, "--help"])
    if command == "check":
        fmt = args.format or ("json" if args.json else "text")
        if args.json and fmt != "json":
            parser.error(f"--json and --format {fmt} ask for two formats")
        return run_check(args.config, fmt=fmt, state_dir=args.state_dir)
    commands: dict[str, Callable[[], int]] = {
        "serve": lambda: run_serve(args.config, args.state_dir),
        "simulate": lambda: run_simulate(args),
        "content-check": lambda: run_content_check(
            args.config, args.file, bulk=args.bulk, as_json=args.json
        ),
        "dmarc import": lambda: run_dmarc_import(args.config, args.paths, state_dir=args.state_dir),
        "seed-test": lambda: run_seed_command(
            args.config, as_json=args.json, state_dir=args.state_dir
        ),
        "config init": lambda: run_config_init(args.config, force=args.force),
    }
    if command in commands:
        return commands[command]()
    if args.demo:
        return run_demo(args.state_dir, read_only=args.read_only)
    return run_console(args.config, args.state_dir, read_only=args.read_only)


def _load(config_path: str | None, state_dir: str | None = None) -> Config:
    """The config, with --state-dir over [storage] state_dir."""
    config = load_config(config_path)
    if state_dir:
        config = replace(config, storage=replace(config.storage, state_dir=state_dir))
    return config


def _err(text: str) -> None:
    """One line on stderr; what it quotes from outside (a file, a server) made visible."""
    print(f"mailops: {visible(text)}", file=sys.stderr)


def _out(text: str = "") -> None:
    """Human-readable output on stdout, each line through the screens' safe-text function:
    account, pool and customer names, reasons and kinds all come from outside."""
    print(terminal_lines(text))


# -- console -----------------------------------------------------------------------


def run_console(config_path: str | None, state_dir: str | None, *, read_only: bool = False) -> int:
    try:
        config = _load(config_path, state_dir)
        if read_only:
            config = replace(config, ui=replace(config.ui, read_only=True))
        key, warnings = resolve_api_key(config)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_UNUSABLE
    config = replace(config, warnings=(*config.warnings, *warnings))
    return _open_console(config, key)


def _open_console(
    config: Config,
    key: Secret,
    *,
    clock: Clock = system_clock,
    subtitle: str = "",
    seeds: Sequence[Seed] | None = None,
    scorer: Scorer | None = None,
) -> int:
    from console.app import build_app  # Textual loads only for the console itself

    try:
        store, config, remote = open_attached(config, clock)
    except StoreError as exc:
        _err(str(exc))
        return EXIT_UNUSABLE
    if not store.read_only:
        _log_to(store.dir / "mailops.log")
    try:  # what make_pipeline could refuse, refused here, before the screen opens
        resolve_dqs_key(config)
        if seeds is None and config.seeds:
            from console.seeding import seeds_from_config

            seeds = seeds_from_config(config)
    except ConfigError as exc:
        store.close()
        _err(str(exc))
        return EXIT_UNUSABLE
    found = () if seeds is None else seeds
    log_path = None if store.read_only else store.dir / "mailops.log"

    def pipeline() -> Pipeline:
        p = make_pipeline(config, key, store, clock=clock, seeds=found, scorer=scorer)
        p.log_path = log_path
        p.remote = remote
        return p

    story = None if clock is system_clock else clock  # the demo's scenario time
    app = build_app(config, pipeline, subtitle=subtitle, story_clock=story)
    try:
        app.run(mouse=config.ui.mouse)
    finally:
        store.close()
    return EXIT_OK


def open_console_store(config: Config, clock: Clock = system_clock) -> tuple[Store, Config]:
    """The store a console writes; if another mailops owns it, a read-only view of it, with
    the config switched to read-only and a banner line saying so."""
    store, config, _ = open_attached(config, clock)
    return store, config


def open_attached(
    config: Config, clock: Clock = system_clock
) -> tuple[Store, Config, ControlClient | None]:
    """As `open_console_store`, and when the owner is `mailops serve`, the line to it: the
    console follows the service's writes and asks it to poll and act (not read-only)."""
    try:
        store = Store(
            config.state_path(), retention_days=config.storage.retention_days, clock=clock
        ).open()
        return store, config, None
    except StoreLockedError as exc:
        owner = str(exc).split("(", 1)[-1].split(")", 1)[0]
    store = Store(
        config.state_path(),
        retention_days=config.storage.retention_days,
        clock=clock,
        read_only=True,
    ).open()
    remote = ControlClient(socket_path(store.dir))
    hello = remote.hello()
    if hello is not None:
        note = (
            f"Attached to the mailops service (pid {hello.get('pid')}) that owns {store.dir}: "
            "showing its state, re-read every few seconds; r, actions and acknowledgements "
            "are done by the service, as your user."
        )
        return store, replace(config, warnings=(*config.warnings, note)), remote
    note = (
        f"Read-only: the state directory {store.dir} is in use by another mailops ({owner}). "
        "Showing what it stores, re-read every few seconds; no polling, no actions, "
        "nothing written."
    )
    config = replace(
        config,
        ui=replace(config.ui, read_only=True),
        warnings=(*config.warnings, note),
    )
    return store, config, None


def make_pipeline(
    config: Config,
    key: Secret,
    store: Store,
    *,
    clock: Clock = system_clock,
    backfill_hours: float | None = None,
    seeds: Sequence[Seed] | None = None,
    scorer: Scorer | None = None,
) -> Pipeline:
    """Sources built from config, handed to the one pipeline (console and check alike).

    `seeds` None builds the IMAP seed mailboxes from [[seeds]]; `check` passes () since
    it only reports stored seed runs and must not need the seed passwords."""
    from console.jobs import Pipeline
    from console.searchbudget import SharedSearchBudget
    from console.seeding import seeds_from_config
    from console.sources.dns import DnsClient
    from console.sources.mandrill import MandrillClient

    m = config.mandrill
    shared = SharedSearchBudget(config.state_path(), m.search_per_minute)
    client = MandrillClient(
        m.base_url,
        key,
        timeout=m.timeout,
        retries=m.retries,
        search_per_minute=m.search_per_minute,
        response_limits_mb=m.response_limits_mb,
        shared_budget=shared.reserve,
    )
    d = config.dns
    dns = DnsClient(
        d.nameservers,
        port=d.port,
        timeout=d.timeout,
        deadline=d.deadline,
        concurrency=d.concurrency,
    )
    return Pipeline(
        client,
        store,
        config,
        clock=clock,
        dns=dns,
        dqs_key=resolve_dqs_key(config),
        backfill_hours=backfill_hours,
        seeds=seeds_from_config(config) if seeds is None else seeds,
        scorer=scorer,
        postmaster=postmaster_client(config),
    )


def postmaster_client(config: Config) -> PostmasterClient | None:
    """Gmail Postmaster Tools' client when [postmaster] names credentials; a file that
    cannot be used is a ConfigError naming it (never its content)."""
    from console.sources.postmaster import PostmasterClient, load_credentials

    pm = config.postmaster
    if not pm.credentials_file:
        return None
    path = Path(pm.credentials_file).expanduser()
    try:
        creds = load_credentials(path, pm.token_uri, pm.subject)
    except ValueError as exc:
        raise ConfigError(f"[postmaster] credentials_file: {exc}") from None
    return PostmasterClient(pm.base_url, creds, timeout=pm.timeout, where=str(path))


def _quiet_log() -> None:
    """The one-shot commands print their own summary: only critical log lines reach
    stderr, and those with outside text made visible."""
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("mailops: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.CRITICAL)


def _log_to(path: Path) -> None:
    """Log to a rotating file in the state dir: the terminal belongs to the console."""
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=1_000_000, backupCount=3)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for chatty in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def demo_config(
    base_url: str, state_dir: str, dns_port: int | None = None, dmarc_dir: str | None = None
) -> Config:
    """Fast polls so the demo fills its panels within seconds; a seed test every 3 minutes
    (3 scenario hours), the first a few seconds in."""
    dns = DnsConfig(nameservers=("127.0.0.1",), port=dns_port or 53, timeout=0.5, deadline=2.0)
    return Config(
        dns=dns,
        domains=DomainsConfig(link_domains=("click.northwind.example",)),
        mandrill=MandrillConfig(
            base_url=base_url,
            max_search_calls=60,
            search_per_minute=0,  # the simulator does not rate-limit unless told to
            rescan_hours=12,
            poll=PollConfig(
                account=5,
                ips=15,
                messages=5,
                rescan=30,
                subaccounts=10,
                rejects=30,
                domains=60,
                dns=60,
                blocklists=20,
                dmarc=30,
                content=60,
                postmaster=120,
                jitter=0.5,
                backoff_cap=20,
            ),
        ),
        storage=StorageConfig(state_dir=state_dir, retention_days=30),
        dmarc=DmarcConfig(directory=dmarc_dir),
        seed_test=SeedTestConfig(
            from_email="seeds@notify.northwind.example",
            schedule="every 3m",
            run_at_start=True,
            wait_minutes=15,  # scenario minutes: 15 real seconds
            poll_seconds=2,
        ),
    )


DEMO_NEWSLETTER = (
    b"From: Northwind News <news@notify.northwind.example>\r\n"
    b"To: reader@example.com\r\nSubject: What is new this month\r\n"
    b"Date: Sat, 28 Nov 2026 06:00:00 +0000\r\nPrecedence: bulk\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><body><p>New this month: <a href='https://click.northwind.example/n/11'>read"
    b"</a></p><img src='https://click.northwind.example/p.gif'></body></html>\r\n"
)


def demo_content_checks(newsletter: str) -> tuple[ContentCheckConfig, ...]:
    """Two templates from the simulated account and a newsletter file (bulk, no unsubscribe)."""
    return (
        ContentCheckConfig(
            name="order-receipt",
            template="order-receipt",
            merge_vars={"customer": "Ada", "order": "A-1042", "total": "42.00 EUR"},
            subject="Your order receipt",
        ),
        ContentCheckConfig(
            name="password-reset",
            template="password-reset",
            merge_vars={"token": "x7Kq"},
            subject="Reset your password",
        ),
        ContentCheckConfig(name="newsletter", eml=newsletter, bulk=True),
    )


def demo_postmaster_config(base_url: str, credentials: Path) -> PostmasterConfig:
    """Postmaster Tools on the demo's simulator, its credentials in the demo's folder."""
    return PostmasterConfig(
        credentials_file=str(credentials), base_url=base_url, token_uri=f"{base_url}/token"
    )


#: The demo's seed mailboxes, in sending order (which IP carries each is the scenario's pick).
DEMO_SEEDS = (
    ("outlook-1", "seed.one@outlook.com", "outlook"),
    ("yahoo-1", "seed.one@yahoo.com", "yahoo"),
    ("gmail-1", "seed.one@gmail.com", "gmail"),
    ("gmail-2", "seed.two@gmail.com", "gmail"),
    ("gmail-3", "seed.three@gmail.com", "gmail"),
    ("gmail-4", "seed.four@gmail.com", "gmail"),
)


def run_demo(state_dir: str | None, *, read_only: bool = False) -> int:
    from console.seeding import Seed
    from console.sim import DEMO_KEY, ScenarioClock, SimServer, Simulator, scenario_named
    from console.sim.demo_dns import DemoDns
    from console.sim.dmarc_reports import demo_reports
    from console.sim.mailboxes import MemoryMailboxes
    from console.sim.postmaster import demo_postmaster
    from console.sim.recorded_spamd import RecordedSpamd
    from console.sim.tls_reports import demo_tls_reports

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    # an hour into the story: the noisy shared IP is already dragging, the listing follows
    scenario = scenario_named("default", start=now - timedelta(hours=1))
    clock = ScenarioClock(now, speed=60)
    sim = Simulator(scenario, clock)
    mailboxes = MemoryMailboxes(clock)
    sim.deliver = mailboxes.deliver
    seeds = [Seed(name, addr, mailboxes.box(addr, provider)) for name, addr, provider in DEMO_SEEDS]
    server = SimServer(sim).start()
    demo_dns = DemoDns(scenario, clock).start()
    try:
        with tempfile.TemporaryDirectory(prefix="mailops-demo-") as tmp, ExitStack() as stack:
            # the receivers' aggregate reports, dropped where the dmarc poll picks them up
            inbox = Path(tmp) / "dmarc-inbox"
            inbox.mkdir()
            for name, data in [*demo_reports(scenario, now), *demo_tls_reports(now)]:
                (inbox / name.replace("!", "_")).write_bytes(data)
            newsletter = Path(tmp) / "newsletter.eml"
            newsletter.write_bytes(DEMO_NEWSLETTER)
            config = demo_config(server.base_url, state_dir or tmp, demo_dns.port, str(inbox))
            config = replace(config, content_checks=demo_content_checks(str(newsletter)))
            gmail, creds = demo_postmaster(clock, Path(tmp))
            stack.callback(gmail.stop)
            config = replace(config, postmaster=demo_postmaster_config(gmail.base_url, creds))
            # the first read goes back 3 days: the days Gmail published beside Mandrill's
            config = replace(config, mandrill=replace(config.mandrill, backfill_hours=72))
            if state_dir is None:  # the state is temporary; what the user exports is kept
                exports = platformdirs.user_data_path("mailops") / "demo-exports"
                storage = replace(config.storage, export_dir=str(exports))
                config = replace(config, storage=storage)
            if read_only:
                config = replace(config, ui=replace(config.ui, read_only=True))
            return _open_console(
                config,
                Secret(DEMO_KEY),
                clock=clock,
                subtitle="DEMO · simulated Mandrill · scenario time runs 60× faster",
                seeds=seeds,
                scorer=RecordedSpamd(clock),
            )
    finally:
        demo_dns.stop()
        server.stop()


# -- check -------------------------------------------------------------------------


def check_store(config: Config) -> Store:
    """The console's state dir, opened read-only: `check` judges the messages the console
    has stored, adds what it reads since, and writes nothing (its own reads stay in memory),
    whether or not a console is running on the same dir."""
    return Store(
        config.state_path(), retention_days=config.storage.retention_days, read_only=True
    ).open()


async def _check_updates(pipeline: Pipeline) -> tuple[dict[str, Update], dict[str, Any] | None]:
    """The running service's last polls when it owns the state dir and has polled every
    source; else `check`'s own polls. The second part: where the answer came from."""
    from console.fromservice import service_updates

    served = await service_updates(pipeline) if pipeline.store.read_only else None
    if served is not None:
        await pipeline.aclose()
        return served
    return await _poll_for_check(pipeline), None


async def _poll_for_check(pipeline: Pipeline) -> dict[str, Update]:
    updates: dict[str, Update] = {}
    try:
        first = await pipeline.run("account")
        updates["account"] = first
        if not first.status.ok and (first.status.final or "reach" in first.status.error):
            return updates  # the rest would fail the same way, each after its own timeout
        for name in check_sources(pipeline)[1:]:
            updates[name] = await pipeline.run(name)
    finally:
        await pipeline.aclose()
    return updates


def _pct(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v * 100:.{digits}f}%"


def _account_lines(a: dict[str, Any]) -> list[str]:
    """The account's line in the summary and, when Mandrill gave them, its last 7 days."""
    lines = [
        f"  account {a['username']}: reputation {a['reputation']} ({a['reputation_word']}), "
        f"quota {a['hourly_quota']}/h, backlog {a['backlog']}"
    ]
    w = a.get("last_7_days")
    if w:
        lines.append(
            f"  Mandrill, 7 days: {w['sent']:,} sent, delivery {_pct(w['delivery_rate'])}, "
            f"hard bounces {_pct(w['hard_bounce_rate'], 2)}, "
            f"complaints {_pct(w['complaint_rate'], 3)}"
        )
    return lines


def _ip_lines(report: dict[str, Any]) -> list[str]:
    """A line per sending IP: its pool, warm-up day and what the messages read say of it."""
    over = ((report.get("counted") or {}).get("ips") or {}).get("text", "")
    lines = []
    for ip in report["ips"]:
        warm = f" warm-up day {ip['warmup_day']}/{ip['warmup_days']}" if ip["warming_up"] else ""
        counts = (
            "messages not read"
            if ip["sent"] is None
            else f"{ip['sent']:,} sent, {_pct(ip['delivery_rate'])} delivered (mail read, {over})"
        )
        lines.append(f"  IP {ip['ip']} ({ip['pool']}){warm}: {counts}")
    return lines


def _seed_line(seeds: list[dict[str, Any]]) -> str:
    """The last seed test in one line: how many seeds landed in each placement."""
    placed: dict[str, int] = {}
    for x in seeds:
        placed[x["placement"]] = placed.get(x["placement"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in placed.items())
    return f"  seed test {seeds[0]['run_at'][:16]}: {summary}"


def _events_line(report: dict[str, Any]) -> str:
    """The events of the window by kind, or that they are unknown when no message was read."""
    if report["events"] is None:
        return f"  events (last {report['window_hours']:g} h): unknown, messages not read"
    ev = ", ".join(f"{k} {v}" for k, v in report["events"].items())
    return f"  events (last {report['window_hours']:g} h): {ev}"


def human_summary(report: dict[str, Any]) -> str:
    lines = [f"mailops check: {report['status'].upper()}"]
    origin = report.get("from_service")
    if origin:
        lines.append(
            f"  from the running mailops service (pid {origin['pid']}): its state, its oldest "
            f"poll {age_text(origin['age_s'])} ago (check polled nothing itself)"
        )
    a = report.get("account")
    if a:
        lines.extend(_account_lines(a))
    lines.extend(_ip_lines(report))
    seeds = report.get("seeds") or []
    if seeds:
        lines.append(_seed_line(seeds))
    for f in report["findings"]:
        lines.append(f"  {'!!' if f['severity'] == 'critical' else '⚠ '} {visible(f['text'])}")
    partial = (report["sources"].get("messages") or {}).get("partial")
    if partial:
        lines.append(f"  ⚠  messages: {partial}; the counts here are PARTIAL")
    lines.append(_events_line(report))
    lines.extend(_gmail_lines(report.get("postmaster") or []))
    lines.extend(_tls_lines(report.get("tlsrpt") or []))
    return "\n".join(lines)


def _tls_lines(domains: list[dict[str, Any]]) -> list[str]:
    """One line per domain: sessions to our MX that other senders reported failing."""
    out = []
    for d in domains:
        total = d["successful_sessions"] + d["failed_sessions"]
        kinds = ", ".join(f"{visible(k)} {n:,}" for k, n in list(d["failures"].items())[:3])
        why = f": {kinds}" if kinds else ""
        out.append(f"  tls-rpt {visible(d['domain'])} ({d['window_days']} d, "
                   f"{d['reports']} reports): {d['failed_sessions']:,} of {total:,} sessions "
                   f"to our MX failed ({_pct(d['failure_rate'], 1)}){why}")  # fmt: skip
    return out


def _gmail_lines(domains: list[dict[str, Any]]) -> list[str]:
    """One line per domain: Gmail's latest published spam rate and what needs work."""
    out = []
    for d in domains:
        rate = "not published" if d["spam_rate"] is None else _pct(d["spam_rate"], 2)
        work = [r for r, s in (d["compliance"] or {}).items() if s == "NEEDS_WORK"]
        needs = f"; needs work: {', '.join(work)}" if work else ""
        m = d.get("mandrill")
        theirs = ""
        if m and m["complaint_rate"] is not None:
            part = "" if m["whole_day"] else ", part of the day read"
            theirs = (f"; Mandrill complaints {_pct(m['complaint_rate'], 2)} of "
                      f"{m['messages']:,} (same UTC day{part})")  # fmt: skip
        day = d["date"] or "no day yet"
        out.append(f"  gmail {d['domain']}: spam rate {rate} ({day}){theirs}{needs}")
        if d.get("disagreement"):
            out.append(f"     {visible(d['disagreement'])}")
    return out


def run_check(config_path: str | None, *, fmt: str = "text", state_dir: str | None = None) -> int:
    """`check`: poll once, print the report (text, json, or the metrics as OpenMetrics)."""
    _quiet_log()
    as_json = fmt == "json"

    def unusable(reason: str) -> int:
        _err(reason)
        if as_json:
            print(json.dumps({"status": "unknown", "error": reason}))
        return EXIT_UNUSABLE

    try:
        config = _load(config_path, state_dir)
        key, key_warnings = resolve_api_key(config)
    except ConfigError as exc:
        return unusable(str(exc))
    for w in (*config.warnings, *key_warnings):
        _err(f"warning: {w}")
    state = config.state_path()
    try:
        store = check_store(config)
    except StoreError as exc:
        return unusable(str(exc))
    try:
        # on from where the console got to, but never further back than the check window:
        # check writes no cursor, so with the console stopped every run would read it again
        try:
            pipeline = make_pipeline(
                config, key, store, backfill_hours=config.mandrill.check_window_hours, seeds=()
            )
        except ConfigError as exc:
            return unusable(str(exc))
        pipeline.notifications = False
        updates, origin = asyncio.run(_check_updates(pipeline))
        runs, alerts = store.seed_runs(limit=1), store.alerts()
        week = pipeline.clock() - timedelta(days=7)  # the window `dmarc` summarises
        dmarc, dmarc_warnings = read_dmarc_reports(state, since=week)
        damage = [*store.warnings, *dmarc_warnings]
        for w in damage:
            _err(f"warning: state: {w}")
        report, code = check_report(
            pipeline, updates, runs[-1] if runs else None, alerts, dmarc, damage
        )
        report["from_service"] = origin
        metrics = openmetrics_text(pipeline) if fmt == "openmetrics" else ""
    finally:
        store.close()
    if code == EXIT_UNUSABLE:
        bad = next(n for n, s in report["sources"].items() if not s["ok"])
        _err(f"check failed: {bad}: {report['sources'][bad]['error']}")
    if as_json:
        print(json.dumps(report, indent=2))
    elif metrics:
        sys.stdout.write(metrics)
    else:
        _out(human_summary(report))
    return code


def openmetrics_text(pipeline: Pipeline) -> str:
    """The state's metrics in the OpenMetrics text format, as `serve` exposes them."""
    from prometheus_client.openmetrics.exposition import generate_latest

    from console.service.metrics import state_registry

    text: bytes = generate_latest(state_registry(pipeline))  # type: ignore[no-untyped-call]
    return text.decode("utf-8")


# -- serve ---------------------------------------------------------------------------------


def run_serve(config_path: str | None, state_dir: str | None) -> int:
    """`serve`: the pipeline without a screen, as the one writer of the state dir."""
    from console.service.run import log_to_stderr, serve

    log_to_stderr()
    try:
        config = _load(config_path, state_dir)
        key, warnings = resolve_api_key(config)
        if config.webhooks.url:
            from console.config import resolve_webhook_key

            resolve_webhook_key(config)  # refused before anything starts
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_UNUSABLE
    for w in (*config.warnings, *warnings):
        logging.getLogger("mailops.serve").warning("%s", w)
    try:
        store = Store(config.state_path(), retention_days=config.storage.retention_days).open()
    except StoreLockedError as exc:
        _err(f"{exc}; `mailops serve` must be the only writer of its state dir")
        return EXIT_UNUSABLE
    except StoreError as exc:
        _err(str(exc))
        return EXIT_UNUSABLE
    try:
        try:
            pipeline = make_pipeline(config, key, store)
        except ConfigError as exc:
            _err(str(exc))
            return EXIT_UNUSABLE
        return asyncio.run(serve(pipeline))
    finally:
        store.close()


# -- seed-test ---------------------------------------------------------------------------


def seed_table(run: SeedRun, inbox_min: float = SEED_INBOX_MIN) -> str:
    """The placement table `seed-test` prints; outside text (folders, errors) escaped."""
    head = f"{'seed':<14} {'provider':<8} {'placement':<9} {'folder':<16} {'spf/dkim/dmarc':<20} "
    lines = [f"seed test {run.run_at:%Y-%m-%d %H:%M} UTC", head + f"{'sending IP':<16} delay"]
    for r in run.results:
        auth = "/".join(r.auth.get(m, "-") for m in ("spf", "dkim", "dmarc")) if r.auth else "-"
        delay = "-" if r.delay_s is None else age_text(r.delay_s)
        lines.append(
            f"{visible(r.seed)[:14]:<14} {r.provider:<8} {r.placement:<9} "
            f"{visible(r.folder or '-')[:16]:<16} {visible(auth)[:20]:<20} "
            f"{visible(r.source_ip or r.received_ip or '-'):<16} {delay}"
        )
        if r.error:
            lines.append(f"{'':<14} ↳ {visible(r.error)}")
    for f in seed_findings(run, run.run_at, inbox_min):
        lines.append(f"{'!!' if f.severity == 'critical' else '⚠ '} {visible(f.text)}")
    return "\n".join(lines)


def _open_seed_store(config: Config, tmp: str) -> tuple[Store, bool]:
    """The state dir's store, or a throwaway one in `tmp` when it cannot be had (most often:
    the console holds it), so the run goes ahead anyway: (store, whether the run is kept)."""
    try:
        return Store(config.state_path(), retention_days=config.storage.retention_days).open(), True
    except StoreError as exc:  # most often: the console holds the state dir
        _err(f"warning: this run will not be stored ({exc})")
        return Store(Path(tmp)).open(), False


def _send_seeds(pipeline: Pipeline, config: Config, seeds: Sequence[Seed]) -> Update:
    """Send the seed messages and wait for them, the progress redrawn in place on stderr
    when it is a terminal."""
    interactive = sys.stderr.isatty()

    def show(update: Update) -> None:
        p = update.result.seed_progress
        if p is not None and interactive:
            print(
                f"\r  {p.found} of {p.total} found · waited {age_text(p.waited_s)}   ",
                end="",
                file=sys.stderr,
                flush=True,
            )

    pipeline.publish = show
    print(
        f"Sending {len(seeds)} seed messages from {visible(config.seed_test.from_email)}; "
        f"waiting up to {config.seed_test.wait_minutes:g} min…",
        file=sys.stderr,
    )

    async def go() -> Update:
        try:
            return await pipeline.run("seeds")
        finally:
            await pipeline.client.aclose()

    update = asyncio.run(go())
    if interactive:
        print(file=sys.stderr)
    return update


def run_seed_command(
    config_path: str | None, *, as_json: bool = False, state_dir: str | None = None
) -> int:
    from console.seeding import seeds_from_config

    _quiet_log()
    try:
        config = _load(config_path, state_dir)
        if not config.seeds:
            raise ConfigError(
                f"{config.path or 'the config'}: no [[seeds]] configured; "
                "add one table per seed mailbox (see `mailops config init`)"
            )
        key, key_warnings = resolve_api_key(config)
        seeds = seeds_from_config(config)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_UNUSABLE
    for w in (*config.warnings, *key_warnings):
        _err(f"warning: {w}")
    with tempfile.TemporaryDirectory(prefix="mailops-seed-") as tmp:
        store, stored = _open_seed_store(config, tmp)
        try:
            pipeline = make_pipeline(config, key, store)
            update = _send_seeds(pipeline, config, seeds)
            runs = store.seed_runs(1) if update.status.ok else []
        finally:
            store.close()
    if not update.status.ok or not runs:
        _err(f"seed test failed: {update.status.error}")
        return EXIT_UNUSABLE
    run = runs[-1]
    if as_json:
        print(json.dumps({"stored": stored, "seeds": seed_json(run)}, indent=2))
    else:
        _out(seed_table(run, config.alerts.seed_inbox_min))
    return seed_exit(run)


# -- content-check ---------------------------------------------------------------------------


def run_content_check(config_path: str | None, file: str, *, bulk: bool, as_json: bool) -> int:
    from console.analysis.content import lint
    from console.sources.spamd import Spamd, SpamdError

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_UNUSABLE
    path = Path(file).expanduser()
    try:
        raw = read_regular(path, EML_FILE_BYTES)
    except FileRefused as exc:
        _err(f"cannot read {path}: {exc}")
        return EXIT_UNUSABLE
    findings, _ = lint(raw, bulk=bulk)
    sp = config.spamd
    try:
        rep = asyncio.run(Spamd(sp.host, sp.port, sp.timeout).report(raw))
    except SpamdError as exc:
        _err(exc.title)
        return EXIT_UNUSABLE
    if as_json:
        print(
            json.dumps(
                {
                    "file": str(path),
                    "score": rep.score,
                    "threshold": rep.threshold,
                    "spam": rep.is_spam,
                    "rules": [
                        {"name": h.name, "points": h.points, "description": h.description}
                        for h in rep.rules
                    ],
                    "lint": [{"code": f.code, "text": f.text} for f in findings],
                },
                indent=2,
            )
        )
    else:
        _out(
            f"{path.name}: {rep.score:.1f} / {rep.threshold:.1f} "
            f"({'SPAM' if rep.is_spam else 'not spam'})"
        )
        for h in sorted(rep.rules, key=lambda h: -h.points):
            _out(f"  {h.points:7.1f}  {h.name:<26} {h.description}")
        for f in findings:
            _out(f"  ⚠ {f.text}")
    if rep.is_spam:
        return EXIT_CRITICAL
    return EXIT_WARNING if findings else EXIT_OK


# -- dmarc import --------------------------------------------------------------------------


def _open_import_store(config: Config) -> Store | None:
    """The state dir's store for `dmarc import`, or None with the reason said: a console
    holding it imports the files itself when they are dropped into its directory."""
    try:
        return Store(config.state_path(), retention_days=config.storage.retention_days).open()
    except StoreLockedError as exc:
        _err(f"{exc}. Or drop the files into [dmarc] directory: the console imports them.")
    except StoreError as exc:
        _err(str(exc))
    return None


def _show_import_progress(done_files: int, total: int) -> None:
    """A 30-column progress bar on stderr, redrawn in place."""
    done = int(30 * done_files / total)
    print(
        f"\r[{'#' * done}{'.' * (30 - done)}] {done_files}/{total}",
        end="",
        file=sys.stderr,
        flush=True,
    )


def _import_dmarc_files(store: Store, files: list[Path]) -> tuple[int, int, int, list[str]]:
    """Read each file and add its reports: (reports added, already known, records added,
    the files refused with their reasons)."""
    from console.sources.dmarc_inbox import read_file

    added = dup = records = 0
    refused: list[str] = []
    interactive = sys.stderr.isatty()
    for i, path in enumerate(files, 1):
        item = read_file(path)
        if item.error:
            refused.append(f"{path}: {item.error}")
        else:  # written at the end (and every 200 files): one rewrite, not one a file
            new, d = store.add_dmarc_reports(item.reports, flush=i % 200 == 0)
            added, dup = added + len(new), dup + d
            records += sum(len(rep.records) for rep in new)
        if interactive:
            _show_import_progress(i, len(files))
    if interactive:
        print(file=sys.stderr)
    store.flush_dmarc()
    return added, dup, records, refused


def run_dmarc_import(
    config_path: str | None, paths: list[str], *, state_dir: str | None = None
) -> int:
    from console.sources.dmarc_inbox import iter_paths

    try:
        config = _load(config_path, state_dir)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_UNUSABLE
    files = list(iter_paths([Path(p).expanduser() for p in paths]))
    missing = [f for f in files if not f.exists()]
    if missing:
        _err(f"no such file: {missing[0]}")
        return EXIT_UNUSABLE
    store = _open_import_store(config)
    if store is None:
        return EXIT_UNUSABLE
    try:
        added, dup, records, refused = _import_dmarc_files(store, files)
    finally:
        store.close()
    _out(
        f"{len(files)} files: {added} reports imported ({records} records), "
        f"{dup} already known, {len(refused)} refused"
    )
    for line in refused:
        _out(f"  refused {line}")
    if refused and not added and not dup:
        return EXIT_UNUSABLE
    return EXIT_WARNING if refused else EXIT_OK


# -- simulate, config init ---------------------------------------------------------------


def run_simulate(args: argparse.Namespace) -> int:
    from console.sim import DEMO_KEY, ScenarioClock, SimServer, Simulator, scenario_named

    now = datetime.now(UTC).replace(microsecond=0)
    overrides: dict[str, Any] = {"start": now - timedelta(hours=args.at)}
    if args.seed is not None:
        overrides["seed"] = args.seed
    try:
        scenario = scenario_named(args.scenario, **overrides)
    except ValueError as exc:
        _err(str(exc))
        return 2
    clock = ScenarioClock(now, speed=args.speed)
    key = args.key or DEMO_KEY
    try:
        server = SimServer(Simulator(scenario, clock, key=key), port=args.port)
    except OSError as exc:
        _err(f"cannot listen on 127.0.0.1:{args.port}: {exc.strerror or exc}")
        return 2
    demo_dns = None
    if args.dns_port >= 0:
        from console.sim.demo_dns import DemoDns

        demo_dns = DemoDns(scenario, clock)
        demo_dns.server.port = args.dns_port
        try:
            demo_dns.start()
        except OSError as exc:
            _err(f"cannot serve DNS on 127.0.0.1:{args.dns_port}: {exc.strerror or exc}")
            return 2
    print(f"Mandrill simulator (scenario {scenario.name}) on {server.base_url}", flush=True)
    if demo_dns is not None:
        print(f"DNS zones on 127.0.0.1 port {demo_dns.port}", flush=True)
    print(f"  accepts the API key {key!r}; point [mandrill] base_url at it", flush=True)
    if demo_dns is not None:
        print(f'  and [dns] nameservers = ["127.0.0.1"], port = {demo_dns.port}', flush=True)
    print("  Ctrl-C stops it", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if demo_dns is not None:
            demo_dns.stop()
    return 0


def run_config_init(config_path: str | None, *, force: bool) -> int:
    path, _ = resolve_config_path(config_path)
    try:
        write_template(path, force=force)
    except ConfigError as exc:
        _err(str(exc))
        return EXIT_UNUSABLE
    except OSError as exc:
        _err(f"cannot write {path}: {exc.strerror or exc}")
        return EXIT_UNUSABLE
    print(f"Wrote {path} (mode 0600). Set MANDRILL_API_KEY, then run: mailops check")
    return 0
