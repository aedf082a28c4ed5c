"""Refresh the bundled ISP database from a newer copy of Thunderbird's repository:

    python -m falcana_discovery.refresh PATH/TO/autoconfig [--commit SHA]

PATH is a checkout of https://github.com/thunderbird/autoconfig (its ``ispdb/`` folder is
read). Files that do not parse are reported and left out; the licence is copied along and
``SOURCE.md`` records the commit.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from falcana_discovery.clientconfig import ConfigError, parse

HERE = Path(__file__).parent / "data"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path)
    parser.add_argument("--commit", default="(unknown)")
    args = parser.parse_args(argv)
    source = args.checkout / "ispdb"
    if not source.is_dir():
        print(f"{source} is not a folder", file=sys.stderr)
        return 2
    target = HERE / "ispdb"
    fresh = target.with_name("ispdb.new")
    shutil.rmtree(fresh, ignore_errors=True)
    fresh.mkdir(parents=True)
    kept = skipped = 0
    for path in sorted(source.glob("*.xml")):
        try:
            parse(path.read_bytes())
        except ConfigError as exc:
            print(f"skipped {path.name}: {exc}", file=sys.stderr)
            skipped += 1
            continue
        shutil.copy2(path, fresh / path.name)
        kept += 1
    shutil.rmtree(target, ignore_errors=True)
    fresh.rename(target)
    licence = args.checkout / "LICENSE"
    if licence.exists():
        shutil.copy2(licence, HERE / "LICENSE")
    (HERE / "SOURCE.md").write_text(
        "Thunderbird ISP database (ISPDB), from the public repository "
        f"https://github.com/thunderbird/autoconfig at commit {args.commit}.\n"
        "Licence: MPL-2.0 (LICENSE in this folder). Refreshed with "
        "`python -m falcana_discovery.refresh`.\n", encoding="utf-8")
    print(f"{kept} provider files kept, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
