"""Dovecot on loopback for the seed-mailbox tests (plaintext and TLS with a test CA)."""

from __future__ import annotations

import imaplib
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from console.sim.server import SentMessage
from tests.helpers import free_port, stop_process

USER, PASSWORD = "seed", "seed-secret-pw"


@dataclass
class Dovecot:
    plain_port: int
    tls_port: int
    ca_file: str
    workdir: Path


@contextmanager
def dovecot(dovecot_path: str, workdir: Path) -> Iterator[Dovecot]:
    workdir.mkdir(parents=True, exist_ok=True)
    for d in (workdir, *workdir.parents):
        if d == Path("/") or d == Path("/tmp"):
            break
        os.chmod(d, 0o755)  # the mail user (uid 8) must reach its home
    (workdir / "run").mkdir()
    (workdir / "state").mkdir()
    mail = workdir / "mail"
    mail.mkdir()
    os.chown(mail, 8, 8)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(workdir / "key.pem"),
            "-out",
            str(workdir / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    (workdir / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    plain, tls = free_port(), free_port()
    conf = workdir / "dovecot.conf"
    conf.write_text(f"""base_dir = {workdir}/run
state_dir = {workdir}/state
log_path = {workdir}/dovecot.log
info_log_path = {workdir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{workdir}/cert.pem
ssl_key = <{workdir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {workdir}/users
}}
userdb {{
  driver = static
  args = uid=mail gid=mail home={mail}/%u
}}
first_valid_uid = 8
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Archive {{
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls}
    ssl = yes
  }}
}}
""")
    proc = subprocess.Popen([dovecot_path, "-F", "-c", str(conf)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", plain), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    log = workdir / "dovecot.log"
                    why = log.read_text() if log.exists() else "no log"
                    raise RuntimeError(f"dovecot did not start: {why}") from None
                time.sleep(0.05)
        yield Dovecot(plain, tls, str(workdir / "cert.pem"), workdir)
    finally:
        stop_process(proc)


def append(server: Dovecot, folder: str, raw: bytes) -> None:
    """Put a message into a folder as a receiving server would (IMAP APPEND)."""
    imap = imaplib.IMAP4("127.0.0.1", server.plain_port)
    imap.login(USER, PASSWORD)
    imap.append(folder, "", imaplib.Time2Internaldate(time.time()), raw)
    imap.logout()


def deliver_to(server: Dovecot) -> Callable[[SentMessage], None]:
    """The simulator's delivery hook: each sent message into the folder the scenario chose."""
    return lambda sent: append(server, sent.folder, sent.raw)
