"""An SMTP server for slimbox's tests (run by scripts/smtp-harness serve).

    server.py DIR [--tls-cert PEM --tls-key PEM] [--auth USER:PASSWORD]
                  [--refuse ADDRESS] [--watch-pid PID]

Listens on 127.0.0.1 (a free port; prints `PORT=N` once it does) and keeps
every message it accepts as DIR/mail/N.eml, the bytes exactly as received
(after SMTP's dot-unstuffing), with DIR/mail/N.json beside it: the envelope
(`mail_from`, `rcpt_tos`), the login used (`login`) and whether the session
was TLS (`tls`). The .json is written last, so a reader that sees it sees
the whole message.

--tls-cert/--tls-key: offer STARTTLS, and require it before MAIL.
--auth: require AUTH (PLAIN or LOGIN, only after STARTTLS) with that login.
--refuse: answer RCPT TO for that address with 550.
--watch-pid: exit once that process is gone (a killed test leaves nothing).
"""

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Keeper:
    def __init__(self, folder, refuse):
        self.folder = folder
        self.refuse = {a.lower() for a in refuse}
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 <%s>: Recipient address rejected: no such mailbox" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.folder, str(self.count))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        login = session.auth_data if session.authenticated else None
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "login": login.decode() if isinstance(login, bytes) else login,
            "tls": session.ssl is not None,
        }
        with open(base + ".tmp", "w") as f:
            json.dump(meta, f)
        os.rename(base + ".tmp", base + ".json")
        return "250 2.0.0 Ok: kept as %d" % self.count


def authenticator(want):
    user, _, password = want.partition(":")

    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        return AuthResult(success=ok, auth_data=auth_data.login if ok else None)

    return check


async def watch(pid):
    while True:
        await asyncio.sleep(0.5)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("dir")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--auth")
    p.add_argument("--refuse", action="append", default=[])
    p.add_argument("--watch-pid", type=int)
    a = p.parse_args()
    folder = os.path.join(a.dir, "mail")
    os.makedirs(folder, exist_ok=True)
    keeper = Keeper(folder, a.refuse)

    kwargs = {"hostname": "localhost"}
    if a.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        kwargs.update(tls_context=ctx, require_starttls=True)
    if a.auth:
        kwargs.update(
            authenticator=authenticator(a.auth),
            auth_required=True,
            auth_require_tls=bool(a.tls_cert),
        )
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(keeper, **kwargs), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print("PORT=%d" % port, flush=True)
    if a.watch_pid:
        asyncio.ensure_future(watch(a.watch_pid))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
