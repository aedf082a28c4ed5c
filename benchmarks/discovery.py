"""Discovery against the bundled ISP database: for every mail domain in it, is the first
proposal one of the database's own SMTP entries, and how long does a database hit take?

The time is printed absolute and as a ratio to a bare dictionary look-up of the same
domains measured in the same run (the machines are shared and noisy: the ratio is the
figure to compare across runs). A database hit asks no network: the run sets
FALCANA_DNS_SERVERS to a port where nothing answers, so a look-up would show as slow.

    uv run python benchmarks/discovery.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="falcana-discovery-bench-"))
    os.environ.update(FALCANA_DATA_DIR=str(data), FALCANA_DNS_SERVERS="127.0.0.1:9",
                      FALCANA_LANG="en")

    from falcana_discovery import ispdb
    from falcana_discovery.engine import discoverer

    from falcana_core.host import Host

    host = Host.start()
    index = ispdb.index()
    domains = sorted(index)
    engine = discoverer(host)

    right, wrong, timings, baseline = 0, [], [], []
    for round_ in range(args.rounds):
        for domain in domains:
            started = time.perf_counter()
            _hit = index.get(domain)
            baseline.append(time.perf_counter() - started)
            started = time.perf_counter()
            found = engine.discover(f"test.user@{domain}", use_cache=False)
            timings.append(time.perf_counter() - started)
            if round_:
                continue
            expected = {(s.host, s.port, s.security) for s in index[domain].smtp}
            first = found.proposal
            got = (first.values.get("host"), first.values.get("port"),
                   first.values.get("security")) if first else None
            if got in expected:
                right += 1
            else:
                wrong.append((domain, got, first.source if first else None))
    host.close()
    total = len(domains)
    median = statistics.median(timings) * 1000
    base = statistics.median(baseline) * 1000
    print(f"domains in the bundled database         {total}")
    print(f"first proposal is a database entry      {right}/{total} ({100 * right / total:.1f} %)")
    print(f"median time per database hit            {median:.3f} ms"
          f"   ({median / base:.0f}x a bare dict look-up, {base * 1000:.2f} us)")
    print(f"slowest                                  {max(timings) * 1000:.1f} ms")
    for domain, got, source in wrong[:20]:
        print(f"  differs: {domain}: {got} from {source}")


if __name__ == "__main__":
    main()
