"""A tiny network tool run *inside* a lab namespace, so the root namespace never sends to the lab.

`python -m failover.lab.probe tcp HOST:PORT [--word srvr]` exits 0 when the port answers
(printing what a four-letter word returned); `python -m failover.lab.probe http URL
[--post JSON]` prints the body and exits 0 on a 2xx answer.
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request


def tcp(target: str, word: str | None, timeout_s: float) -> int:
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as s:
            if word:
                s.sendall(word.encode())
                chunks = []
                while chunk := s.recv(4096):
                    chunks.append(chunk)
                print(b"".join(chunks).decode(errors="replace"))
    except OSError as e:
        print(f"{target}: {e}", file=sys.stderr)
        return 1
    return 0


def http(url: str, post: str | None, timeout_s: float) -> int:
    data = post.encode() if post is not None else None
    if not url.startswith("http://"):
        print(f"{url}: only http:// URLs", file=sys.stderr)
        return 2
    req = urllib.request.Request(url, data=data,  # noqa: S310 - http:// checked above method="POST" if post is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    try:
        with opener.open(req, timeout=timeout_s) as r:
            print(r.read().decode(errors="replace"))
            return 0
    except urllib.error.HTTPError as e:
        print(e.read().decode(errors="replace"), file=sys.stderr)
        return 1
    except OSError as e:
        print(f"{url}: {e}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="failover.lab.probe")
    sub = ap.add_subparsers(dest="kind", required=True)
    t = sub.add_parser("tcp")
    t.add_argument("target")
    t.add_argument("--word")
    h = sub.add_parser("http")
    h.add_argument("url")
    h.add_argument("--post")
    ap.add_argument("--timeout", type=float, default=2.0)
    args = ap.parse_args(argv)
    if args.kind == "tcp":
        return tcp(args.target, args.word, args.timeout)
    return http(args.url, args.post, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
