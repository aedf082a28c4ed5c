"""IMAP's modified UTF-7 for folder names (RFC 3501 section 5.1.3): "Gesendete Objekte –
Büro" travels as "Gesendete Objekte &IBM- B&APw-ro"."""

from __future__ import annotations

import base64


def encode(name: str) -> str:
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode("ascii").rstrip("=")
                       .replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def decode(name: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(name):
        ch = name[i]
        if ch != "&":
            out.append(ch)
            i += 1
            continue
        end = name.find("-", i)
        if end < 0:
            raise ValueError(f"unterminated shift in {name!r}")
        chunk = name[i + 1:end]
        if not chunk:
            out.append("&")
        else:
            raw = chunk.replace(",", "/")
            raw += "=" * (-len(raw) % 4)
            out.append(base64.b64decode(raw).decode("utf-16-be"))
        i = end + 1
    return "".join(out)
