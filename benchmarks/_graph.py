"""A local HTTPS Microsoft Graph and its authorization server in their own process, for
benchmarks: prints their addresses as JSON, runs until killed.

    python benchmarks/_graph.py --mailboxes 10 --ca-file /tmp/ca.pem

The client ``bench`` (secret ``bench-secret``) gets app-only tokens for
``vertrieb0..N@contoso-gmbh.de``; what Graph receives is checked and then dropped.
"""

from __future__ import annotations

import argparse
import json
import logging
import ssl
import time

GRAPH_APP = "https://graph.microsoft.com/.default"


class _Discard(list):  # type: ignore[type-arg]
    """Keeps no message: a benchmark measures the client, not the server's memory."""

    def append(self, _item: object) -> None:
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mailboxes", type=int, default=10)
    parser.add_argument("--ca-file", required=True)
    parser.add_argument("--delay", type=float, default=0.0,
                        help="seconds before each answer (Graph takes 0.1-0.5 s)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    import trustme
    from falcana_oauth.testing.authorization import OAuthTestServer
    from falcana_providers_m365.testing import GraphTestServer

    ca = trustme.CA()
    ca.cert_pem.write_to_path(args.ca_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    senders = {f"vertrieb{i}@contoso-gmbh.de" for i in range(args.mailboxes)}
    oauth = OAuthTestServer(ssl_context=context).start()  # falcana posts secrets over HTTPS only
    oauth.add_client("bench", "bench-secret", scopes={GRAPH_APP}, app_accounts=senders)
    graph = GraphTestServer(oauth, context, reply_delay=args.delay).start()
    graph.received = _Discard()
    print(json.dumps({"oauth": oauth.url, "graph": graph.url}), flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
