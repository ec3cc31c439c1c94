#!/usr/bin/env python3
"""The soak test's own clients (scripts/soak.sh), for the load shapes that
linesvr-bench does not make. Every answer is checked byte for byte against
the text file; every client talks to 127.0.0.1 only and stops at --until.

usage: soak-clients.py churn|idle|slow -p PORT -f FILE --until EPOCH [options]
       soak-clients.py stats -p PORT

  churn  connect, send 1-5 GETs (sometimes an invalid one, answered ERR),
         read and check the answers, close (half the time after QUIT),
         again, --rate connections a second over --clients threads
  idle   --clients connections that stay silent (half of them after one
         GET) until the server closes them for idle_timeout; then they
         connect again. A close before idle_timeout, or not within
         idle_timeout + --slack seconds, or any unexpected byte, is an error
  slow   --clients threads; each connects with a small receive buffer,
         pipelines up to --batch GETs and a QUIT, and reads --chunk bytes
         every --pause seconds, checking them as they come, until the
         server closes after the last answer
  stats  print the server's STATS counters, one "name value" a line

At the end a mode prints one line, "mode=... key=value...", on stdout and
exits 0, or 1 when there were mismatches or errors (the first few are
described on stderr).
"""
import argparse
import mmap
import random
import socket
import sys
import threading
import time
from array import array

HOST = "127.0.0.1"
IO_TIMEOUT = 15.0	# seconds without progress on a socket = an error
MAX_REPORTS = 10	# errors described on stderr, per process


class Truth:
	"""The text file, mapped, and the offset of every line's start."""

	def __init__(self, path):
		with open(path, "rb") as f:
			self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
		off = array("Q", [0])
		find, mm, pos = self.mm.find, self.mm, 0
		while True:
			i = find(b"\n", pos)
			if i < 0:
				break
			pos = i + 1
			off.append(pos)
		self.last_lf = True
		if pos < len(mm):	# a last line without LF
			off.append(len(mm))
			self.last_lf = False
		self.off = off
		self.lines = len(off) - 1

	def answer(self, n):
		"""The exact answer to GET n, or ERR for a line that is not there."""
		if n < 1 or n > self.lines:
			return b"ERR\r\n"
		line = self.mm[self.off[n - 1]:self.off[n]]
		if n == self.lines and not self.last_lf:
			line += b"\n"
		return b"OK\r\n" + line


class Tally:
	"""Counters shared by a mode's threads."""

	def __init__(self, mode):
		self.mode = mode
		self.lock = threading.Lock()
		self.c = {"connections": 0, "verified": 0, "mismatches": 0,
		    "errors": 0}
		self.reported = 0

	def add(self, key, n=1):
		with self.lock:
			self.c[key] = self.c.get(key, 0) + n

	def fail(self, key, what):
		with self.lock:
			self.c[key] += 1
			if self.reported < MAX_REPORTS:
				self.reported += 1
				print(f"soak-clients {self.mode}: {what}",
				    file=sys.stderr, flush=True)

	def finish(self):
		print(f"mode={self.mode} " + " ".join(f"{k}={v}" for k, v in
		    sorted(self.c.items())), flush=True)
		return 1 if self.c["mismatches"] or self.c["errors"] else 0


def connect(port, rcvbuf=0):
	s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	if rcvbuf:
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
	s.settimeout(IO_TIMEOUT)
	s.connect((HOST, port))
	return s


def first_diff(a, b):
	n = min(len(a), len(b))
	for i in range(n):
		if a[i] != b[i]:
			return i
	return n


def check(t, got, want, what):
	"""Compare a whole exchange; count its answers verified or a mismatch."""
	if got == want:
		return True
	if len(got) < len(want) and want.startswith(got):
		t.fail("errors", f"{what}: closed after {len(got)} of "
		    f"{len(want)} bytes")
		return False
	i = first_diff(got, want)
	t.fail("mismatches", f"{what}: {len(got)} bytes instead of {len(want)}, "
	    f"first difference at byte {i}: got {got[i:i + 40]!r}, "
	    f"want {want[i:i + 40]!r}")
	return False


def answers_end(buf, k):
	"""Where k whole answers end in buf; None while they are not all there,
	-1 when buf holds something that is not an answer."""
	p = 0
	for _ in range(k):
		if buf.startswith(b"OK\r\n", p):
			e = buf.find(b"\n", p + 4)
			if e < 0:
				return None
			p = e + 1
		elif buf.startswith(b"ERR\r\n", p):
			p += 5
		elif len(buf) - p >= 5 or not (b"OK\r\n".startswith(buf[p:])
		    or b"ERR\r\n".startswith(buf[p:])):
			return -1
		else:
			return None
	return p


def read_answers(s, k, eof):
	"""Read k answers (fewer if the server closes or sends something else),
	then, if eof, everything until the server closes."""
	got = bytearray()
	while k > 0:
		if answers_end(got, k) is not None:
			break
		b = s.recv(65536)
		if not b:
			break
		got += b
	if eof:
		while True:
			b = s.recv(65536)
			if not b:
				break
			got += b
	return bytes(got)


# ------------------------------------------------------------------ churn
def churn_one(t, truth, port, rng):
	k = rng.randint(1, 5)
	ns = [rng.randint(1, truth.lines) for _ in range(k)]
	if rng.random() < 0.1:	# an invalid line number: ERR, stays open
		ns.insert(rng.randrange(k + 1),
		    rng.choice([0, truth.lines + 1]))
	quit_ = rng.random() < 0.5
	pipelined = rng.random() < 0.5
	s = connect(port)
	t.add("connections")
	try:
		if pipelined:
			req = b"".join(b"GET %d\r\n" % n for n in ns)
			want = b"".join(truth.answer(n) for n in ns)
			s.sendall(req + (b"QUIT\r\n" if quit_ else b""))
			got = read_answers(s, len(ns), quit_)
			if check(t, got, want, f"GETs {ns}"):
				t.add("verified", len(ns))
		else:
			for n in ns:
				s.sendall(b"GET %d\r\n" % n)
				want = truth.answer(n)
				got = read_answers(s, 1, False)
				if not check(t, got, want, f"GET {n}"):
					return
				t.add("verified")
			if quit_:
				s.sendall(b"QUIT\r\n")
				got = read_answers(s, 0, True)
				check(t, got, b"", "after QUIT")
	finally:
		s.close()


def churn(a, truth):
	t = Tally("churn")
	gap = a.clients / a.rate	# seconds between one thread's connections

	def run(seed):
		rng = random.Random(seed)
		nxt = time.time() + rng.random() * gap
		while True:
			now = time.time()
			if now >= a.until:
				return
			if nxt > now:
				time.sleep(min(nxt - now, a.until - now))
				continue
			nxt += gap
			nxt = max(nxt, now - gap)	# no burst after a stall
			try:
				churn_one(t, truth, a.port, rng)
			except OSError as e:
				t.fail("errors", f"connection: {e}")

	run_threads(run, a)
	return t.finish()


# ------------------------------------------------------------------- idle
def idle(a, truth):
	t = Tally("idle")
	t.c["closed_by_server"] = 0

	def run(seed):
		rng = random.Random(seed)
		with_get = seed % 2 == 1	# half of them ask once first
		while time.time() < a.until:
			try:
				s = connect(a.port)
			except OSError as e:
				t.fail("errors", f"connect: {e}")
				time.sleep(1)
				continue
			t.add("connections")
			try:
				if with_get:
					n = rng.randint(1, truth.lines)
					s.sendall(b"GET %d\r\n" % n)
					want = truth.answer(n)
					got = read_answers(s, 1, False)
					if not check(t, got, want, f"GET {n}"):
						time.sleep(1)	# no storm of failures
						continue
					t.add("verified")
				wait_idle_close(t, s, a)
			except OSError as e:
				t.fail("errors", f"idle connection: {e}")
			finally:
				s.close()
			time.sleep(rng.random() * 0.5)

	run_threads(run, a)
	return t.finish()


def wait_idle_close(t, s, a):
	"""Stay silent until the server closes, or until --until."""
	since = time.time()	# the last complete request was sent before this
	limit = since + a.idle_timeout + a.slack
	while True:
		now = time.time()
		if now >= a.until:
			return
		if now >= limit:
			t.fail("errors", f"not closed {now - since:.1f} s after its "
			    f"last request (idle_timeout {a.idle_timeout} s)")
			return
		s.settimeout(min(1.0, max(0.01, min(limit, a.until) - now)))
		try:
			b = s.recv(4096)
		except socket.timeout:
			continue
		if b:
			t.fail("mismatches", f"idle connection got {b[:40]!r}")
			return
		held = time.time() - since
		if held < a.idle_timeout - 0.5:
			t.fail("errors", f"closed after {held:.1f} s, before "
			    f"idle_timeout ({a.idle_timeout} s)")
		else:
			t.add("closed_by_server")
		return


# ------------------------------------------------------------------- slow
def slow_one(t, truth, a, rng, n):
	ns = [rng.randint(1, truth.lines) for _ in range(n)]
	want = b"".join(truth.answer(k) for k in ns)
	s = connect(a.port, rcvbuf=4096)
	t.add("connections")
	try:
		s.sendall(b"".join(b"GET %d\r\n" % k for k in ns) + b"QUIT\r\n")
		pos = 0
		while True:
			b = s.recv(a.chunk)
			if not b:
				break
			if want[pos:pos + len(b)] != b:
				i = pos + first_diff(b, want[pos:pos + len(b)])
				t.fail("mismatches", f"slow reader: byte {i} of "
				    f"{len(want)}: got {b[i - pos:i - pos + 40]!r}, "
				    f"want {want[i:i + 40]!r}")
				return False
			pos += len(b)
			time.sleep(a.pause)
		if pos != len(want):
			t.fail("errors", f"slow reader: closed after {pos} of "
			    f"{len(want)} bytes")
			return False
		t.add("verified", n)
		return True
	finally:
		s.close()


def slow(a, truth):
	t = Tally("slow")
	per_s = a.chunk / a.pause	# bytes a slow reader takes a second
	avg = (truth.off[-1] / max(truth.lines, 1)) + 4

	def run(seed):
		rng = random.Random(seed)
		while True:
			left = a.until - time.time()
			# A batch it can read by the deadline, at 80 % of its pace.
			n = min(a.batch, int(left * per_s * 0.8 / avg))
			if n < 10:
				return
			try:
				ok = slow_one(t, truth, a, rng, n)
			except OSError as e:
				t.fail("errors", f"slow reader: {e}")
				ok = False
			if not ok:
				time.sleep(1)	# no storm of failures

	run_threads(run, a)
	return t.finish()


# ------------------------------------------------------------------ stats
def stats(a):
	s = connect(a.port)
	s.settimeout(5)
	try:
		s.sendall(b"STATS\r\n")
		got = bytearray()
		while not got.endswith(b"END\r\n"):
			b = s.recv(65536)
			if not b:
				break
			got += b
	finally:
		s.close()
	lines = bytes(got).decode("ascii", "replace").split("\r\n")
	if not lines or lines[0] != "OK" or "END" not in lines:
		print("soak-clients stats: no STATS answer", file=sys.stderr)
		return 1
	for ln in lines[1:lines.index("END")]:
		print(ln)
	return 0


def run_threads(fn, a):
	ths = [threading.Thread(target=fn, args=(a.seed * 1000 + i,),
	    daemon=True) for i in range(a.clients)]
	for th in ths:
		th.start()
	for th in ths:
		# Every thread stops by --until; IO_TIMEOUT bounds a last exchange.
		th.join(max(0.0, a.until - time.time()) + 3 * IO_TIMEOUT + 60)


def main():
	p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	p.add_argument("mode", choices=["churn", "idle", "slow", "stats"])
	p.add_argument("-p", "--port", type=int, required=True)
	p.add_argument("-f", "--file")
	p.add_argument("--until", type=float, help="stop at this time (epoch s)")
	p.add_argument("--clients", type=int, default=2)
	p.add_argument("--rate", type=float, default=50,
	    help="churn: connections a second, all threads together")
	p.add_argument("--idle-timeout", type=float, default=5)
	p.add_argument("--slack", type=float, default=10,
	    help="idle: seconds past idle_timeout a close may take")
	p.add_argument("--batch", type=int, default=1000)
	p.add_argument("--chunk", type=int, default=256)
	p.add_argument("--pause", type=float, default=0.05)
	p.add_argument("--seed", type=int, default=1)
	a = p.parse_args()
	if a.mode == "stats":
		try:
			return stats(a)
		except OSError as e:
			print(f"soak-clients stats: {e}", file=sys.stderr)
			return 1
	if a.file is None or a.until is None:
		p.error(f"{a.mode} needs --file and --until")
	truth = Truth(a.file)
	return {"churn": churn, "idle": idle, "slow": slow}[a.mode](a, truth)


if __name__ == "__main__":
	sys.exit(main())
