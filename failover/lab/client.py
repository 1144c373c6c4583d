"""Steady client traffic: one HTTP GET to the service every period, bounded in count and time.

Run inside the client namespace: `python -m failover.lab.client --url http://IP/ --out FILE`.
Requests are started on a fixed cadence whether or not earlier ones answered (each on a new
TCP connection, so each one follows the network as it is at that moment); every outcome is
one JSON line `{"sent": t, "done": t, "answer": "i-standby" | null, "error": "..."}`
(wall-clock seconds), flushed at once so the bench can follow the file live.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import IO
from urllib.parse import urlsplit


async def _one(host: str, port: int, path: str, timeout_s: float) -> tuple[str | None, str]:
    try:
        async with asyncio.timeout(timeout_s):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
                await writer.drain()
                data = await reader.read()  # HTTP/1.0: the server closes after the answer
            finally:
                writer.close()
    except TimeoutError:
        return None, "timeout"
    except ConnectionRefusedError:
        return None, "refused"
    except OSError as e:
        return None, type(e).__name__
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.") or b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        return None, "bad answer"
    return body.decode(errors="replace").strip() or None, ""


async def run(url: str, out: IO[str], period_s: float, count: int, duration_s: float,
              timeout_s: float) -> int:
    parts = urlsplit(url)
    host, port, path = parts.hostname or "", parts.port or 80, parts.path or "/"
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pending: set[asyncio.Task[None]] = set()
    sent = 0

    async def one(t_sent: float) -> None:
        answer, error = await _one(host, port, path, timeout_s)
        rec = {"sent": round(t_sent, 6), "done": round(time.time(), 6), "answer": answer}
        if error:
            rec["error"] = error
        out.write(json.dumps(rec) + "\n")
        out.flush()

    start = time.monotonic()
    while sent < count and time.monotonic() - start < duration_s and not stop.is_set():
        task = asyncio.create_task(one(time.time()))
        pending.add(task)
        task.add_done_callback(pending.discard)
        sent += 1
        next_at = start + sent * period_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - time.monotonic()))
    if pending:
        await asyncio.wait(pending, timeout=timeout_s + 0.5)
    return sent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="failover.lab.client")
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--period", type=float, default=0.02)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--timeout", type=float, default=1.0)
    args = ap.parse_args(argv)
    with open(args.out, "a", encoding="utf-8") as out:
        asyncio.run(run(args.url, out, args.period, args.count, args.duration, args.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
