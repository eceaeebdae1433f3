#!/usr/bin/env python3
"""Load for bench/capacity.sh, on loopback only.

  capacity.py echo PORT
      an echo target that holds any number of connections.
  capacity.py load NAME PORT PID CONNECTIONS PROBES
      opens up to CONNECTIONS relayed connections through 127.0.0.1:PORT (each proven by an echo
      of its own bytes) until the relay stops relaying them, measures the relay process PID, then
      sends PROBES more connections and tells what they saw; prints one tab-separated line.
"""
import asyncio
import fcntl
import os
import struct
import sys
import termios
import time

BATCH = 250  # connection attempts in flight at once
OPEN_TIMEOUT = 3.0  # seconds an attempt may take before it counts as hanging
PROBE_TIMEOUT = 2.0


async def echo(port):
    async def handle(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


async def round_trip(reader, writer, timeout):
    payload = os.urandom(16)
    writer.write(payload)
    return await asyncio.wait_for(reader.readexactly(len(payload)), timeout) == payload


async def attempt(port, timeout):
    """(verdict, connection or None, seconds to the verdict)."""
    started = time.monotonic()
    connection = None
    try:
        connection = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        verdict = "relayed" if await round_trip(*connection, timeout) else "corrupted"
    except (ConnectionResetError, BrokenPipeError):
        verdict = "reset"
    except asyncio.IncompleteReadError:
        verdict = "eof"
    except (asyncio.TimeoutError, TimeoutError):
        verdict = "hang"
    except OSError as e:
        verdict = f"error({e.errno})"
    if verdict != "relayed" and connection:
        connection[1].close()
        connection = None
    return verdict, connection, time.monotonic() - started


def progress(name, what):
    print(f"{time.strftime('%T')} {name}: {what}", file=sys.stderr, flush=True)


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 1024


def pipes(pid):
    """(pipes, their capacity in bytes, bytes waiting in them) of process PID."""
    seen = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        path = f"/proc/{pid}/fd/{fd}"
        try:
            link = os.readlink(path)
            if not link.startswith("pipe:") or link in seen:
                continue
            # Opening a pipe through /proc joins it as one more reader; nothing is read.
            own = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            size = fcntl.fcntl(own, fcntl.F_GETPIPE_SZ)
            waiting = struct.unpack("i", fcntl.ioctl(own, termios.FIONREAD, b"\0" * 4))[0]
            seen[link] = (size, waiting)
        finally:
            os.close(own)
    return len(seen), sum(s for s, _ in seen.values()), sum(w for _, w in seen.values())


async def load(name, port, pid, connections, probes):
    fds_before, rss_before = fd_count(pid), rss_mib(pid)
    held, started, opened_at = [], time.monotonic(), None
    while len(held) < connections:
        batch = min(BATCH, connections - len(held))
        results = await asyncio.gather(*(attempt(port, OPEN_TIMEOUT) for _ in range(batch)))
        held += [c for verdict, c, _ in results if verdict == "relayed"]
        if any(verdict != "relayed" for verdict, _, _ in results):
            break
        opened_at = time.monotonic()
    open_secs = (opened_at or time.monotonic()) - started
    progress(name, f"{len(held)} connections relay; measuring")
    fds_peak, rss_peak = fd_count(pid), rss_mib(pid)
    n_pipes, pipe_bytes, waiting = pipes(pid)
    checks = await asyncio.gather(*(round_trip(r, w, OPEN_TIMEOUT) for r, w in held),
                                  return_exceptions=True)
    still = sum(1 for ok in checks if ok is True)
    progress(name, f"{still} still relay; probing beyond capacity")
    results = await asyncio.gather(*(attempt(port, PROBE_TIMEOUT) for _ in range(probes)))
    verdicts = {}
    for verdict, connection, secs in results:
        verdicts.setdefault(verdict, []).append(secs)
        if connection:
            connection[1].close()
    beyond = ", ".join(f"{len(s)} {v} in <= {max(s) * 1000:.0f} ms" for v, s in sorted(verdicts.items()))
    per_connection = (fds_peak - fds_before) / len(held) if held else 0
    print("\t".join(str(v) for v in [
        name, len(held), still, fds_peak, f"{per_connection:.2f}", f"{rss_before:.1f}",
        f"{rss_peak:.1f}", f"{open_secs:.2f}", n_pipes, f"{pipe_bytes / 2**20:.1f}",
        f"{waiting / 1024:.0f}", beyond]))
    for _, writer in held:
        writer.close()
    progress(name, "done")


def main():
    if sys.argv[1:2] == ["echo"]:
        asyncio.run(echo(int(sys.argv[2])))
    elif sys.argv[1:2] == ["load"] and len(sys.argv) == 7:
        name, port, pid, connections, probes = sys.argv[2], *map(int, sys.argv[3:])
        asyncio.run(load(name, port, pid, connections, probes))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
