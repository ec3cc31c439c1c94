#!/usr/bin/env python3
"""A minimal linesvr client that pipelines and retries (README: Writing a
client). Python 3, standard library only.

usage: client-example.py HOST PORT N...   prints lines N... in order

Every GET goes out at once and the answers are read in order. When the
connection breaks (refused, reset, closed, timed out), it reconnects and
resends every request not yet answered, in order, waiting 0, then 5 ms
doubling up to 0.5 s between tries; a request tried 1 + RETRIES times
without an answer fails the whole call. GET is
idempotent, so resending is safe; QUIT and SHUTDOWN are never resent.
"""
import socket
import sys
import time

RETRIES = 3


def answer(f):
    """One answer: the line (with its LF), or None for ERR."""
    head = f.readline()
    if head == b"ERR\r\n":
        return None
    line = f.readline() if head == b"OK\r\n" else b""
    if not line.endswith(b"\n"):  # cut short: resend it
        raise ConnectionError("connection broke mid-answer")
    return line


def fetch(host, port, numbers):
    lines, sends, wait = [], [0] * len(numbers), 0.0
    while len(lines) < len(numbers):
        todo = range(len(lines), len(numbers))
        if sends[todo[0]] > RETRIES:  # the oldest was resent the most
            raise ConnectionError("line %d: no answer" % numbers[todo[0]])
        for i in todo:
            sends[i] += 1  # a failed connect counts as a try too
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                s.sendall(b"".join(b"GET %d\r\n" % numbers[i] for i in todo))
                f = s.makefile("rb")
                for _ in todo:
                    lines.append(answer(f))
                    wait = 0.0  # answered: the next reconnect is at once
        except OSError:  # ConnectionError, socket.timeout: reconnect
            time.sleep(wait)
            wait = min(max(2 * wait, 0.005), 0.5)
    return lines


if __name__ == "__main__":
    for n, line in zip(sys.argv[3:], fetch(sys.argv[1], int(sys.argv[2]),
                                           [int(a) for a in sys.argv[3:]])):
        sys.stdout.buffer.write(line if line is not None else
                                b"(no line %s)\n" % n.encode())
