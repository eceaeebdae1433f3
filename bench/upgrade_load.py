#!/usr/bin/env python3
"""The load side of bench/upgrade.sh: paced streams through a gateway while it is upgraded.

A producer listens on --producer-port and sends every connection it accepts a paced stream
(--rate MB/s, for --duration seconds), hashing what it sends; a consumer connects to each of
--plain and --encrypted (listener addresses), reads to the end, hashing what it receives and
noting the longest gap between two reads. A third thread connects to --connect-to over and over,
counting refusals. At --upgrade-at seconds it sends SIGHUP to --hup PID. Prints one JSON object:
per stream the bytes sent and received, whether the hashes match, and the longest gap before
the upgrade (the baseline) and from the upgrade on.
"""

import argparse
import hashlib
import json
import os
import signal
import socket
import threading
import time

CHUNK = 64 << 10


def pattern():
    # Not constant, so that a byte lost or repeated changes the hash.
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(CHUNK + 251))


def producer(listener, rate, duration, sent):
    block = pattern()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=send, args=(conn, block, rate, duration, sent), daemon=True).start()


def send(conn, block, rate, duration, sent):
    digest, total, offset = hashlib.sha256(), 0, 0
    start = time.monotonic()
    try:
        while time.monotonic() - start < duration:
            chunk = block[offset:offset + CHUNK]
            offset = (offset + 17) % 251
            conn.sendall(chunk)
            digest.update(chunk)
            total += len(chunk)
            ahead = total / (rate * 1e6) - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        conn.shutdown(socket.SHUT_WR)
        # The consumer closes once it has read everything.
        conn.recv(1)
    except OSError:
        pass
    finally:
        conn.close()
    sent.append({"bytes": total, "sha256": digest.hexdigest()})


def consume(addr, upgrade_at, results, index):
    host, port = addr.rsplit(":", 1)
    conn = socket.create_connection((host, int(port)), timeout=120)
    digest, total = hashlib.sha256(), 0
    start = last = time.monotonic()
    before = after = 0.0
    buf = bytearray(1 << 20)
    while True:
        n = conn.recv_into(buf)
        now = time.monotonic()
        if n == 0:
            break
        gap = now - last
        last = now
        if now - start < upgrade_at:
            before = max(before, gap)
        else:
            after = max(after, gap)
        digest.update(memoryview(buf)[:n])
        total += n
    conn.close()
    results[index] = {"addr": addr, "bytes": total, "sha256": digest.hexdigest(),
                      "longest_gap_before_ms": before * 1e3, "longest_gap_after_ms": after * 1e3}


def sink(listener):
    while True:
        conn, _ = listener.accept()
        conn.close()


def connect_loop(addrs, stop, counts):
    while not stop.is_set():
        for addr in addrs:
            host, port = addr.rsplit(":", 1)
            counts["tried"] += 1
            try:
                socket.create_connection((host, int(port)), timeout=10).close()
            except OSError:
                counts["refused"] += 1
        time.sleep(0.01)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--producer-port", type=int, required=True)
    parser.add_argument("--plain", required=True, help="comma-separated listener addresses")
    parser.add_argument("--encrypted", required=True)
    parser.add_argument("--sink-port", type=int, required=True,
                        help="where the connect loop's session relays: accepted, closed")
    parser.add_argument("--connect-to", required=True, help="comma-separated addresses")
    parser.add_argument("--rate", type=float, default=50.0, help="MB/s per stream")
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--upgrade-at", type=float, default=3.0)
    parser.add_argument("--hup", type=int, required=True)
    args = parser.parse_args()

    listener = socket.create_server(("127.0.0.1", args.producer_port), backlog=64)
    sink_listener = socket.create_server(("127.0.0.1", args.sink_port), backlog=1024)
    threading.Thread(target=sink, args=(sink_listener,), daemon=True).start()
    sent = []
    threading.Thread(target=producer, args=(listener, args.rate, args.duration, sent),
                     daemon=True).start()
    addrs = args.plain.split(",") + [args.encrypted]
    results = [None] * len(addrs)
    consumers = [threading.Thread(target=consume, args=(a, args.upgrade_at, results, i))
                 for i, a in enumerate(addrs)]
    for c in consumers:
        c.start()
    stop, counts = threading.Event(), {"tried": 0, "refused": 0}
    loop = threading.Thread(target=connect_loop, args=(args.connect_to.split(","), stop, counts))
    loop.start()
    time.sleep(args.upgrade_at)
    hup_at = time.time()
    os.kill(args.hup, signal.SIGHUP)
    for c in consumers:
        c.join()
    stop.set()
    loop.join()
    sent_hashes = {s["sha256"]: s["bytes"] for s in sent}
    for r in results:
        r["encrypted"] = r["addr"] == args.encrypted
        r["lost"] = sent_hashes.get(r["sha256"], -1) != r["bytes"]
    lost = sum(s["bytes"] for s in sent) - sum(r["bytes"] for r in results)
    print(json.dumps({"hup_at": hup_at, "streams": results, "bytes_lost": lost,
                      "connects": counts}))


if __name__ == "__main__":
    main()
