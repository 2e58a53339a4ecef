#!/usr/bin/env python3
"""Creates the demo users and friendships the JMeter plan needs, through the protocol.

    python3 tools/jmeter/setup_users.py --port 12345 --users 20

Users are demo00001 ... demoNNNNN (password `demo-password`, nickname `Demo User NNNNN`),
the same names as sql/demo.sql, and each befriends the next --friends users around a
ring of --users users, as demo.sql does. Works against any store (SQLite or MySQL) and is
safe to run again: an existing user (`user_exists`) or friendship (`already_friends`) is
left as it is; it only fails if a user exists with another password.

A `rate_limited` / `server_busy` answer (the server's per-address password budget, default
3 logins or registrations per second with a burst of 10, or its hashing backlog) is retried
after the server's `retry_after_ms`; against a server with the default budget, setting up
N users takes about 4N/3 seconds (run.sh lifts the budget).

Three passes, one short connection (logged in with push:false) at a time:
  1. register every user (or find it exists) and learn its user_id by logging in;
  2. each user sends add_friend to the next --friends users;
  3. each user accepts the pending requests it got from demo users.

Standard library only.
"""

import argparse
import json
import random
import socket
import struct
import sys
import time


# Errors after which the protocol lets a client simply try again (after retry_after_ms).
RETRYABLE = ("rate_limited", "server_busy")
# Seconds one request is retried for before its error is reported.
RETRY_FOR = 120.0


class ProtocolError(Exception):
    pass


class Conn:
    """One connection: 4-byte big-endian length prefix + UTF-8 JSON, one response per request."""

    def __init__(self, host: str, port: int, timeout: float):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.seq = 0

    def close(self):
        self.sock.close()

    def _read_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ProtocolError("server closed the connection")
            buf += chunk
        return bytes(buf)

    def call(self, op: str, **fields) -> dict:
        """Sends one request and returns its response. A `rate_limited` or `server_busy`
        answer (the server's per-address password budget, its hashing backlog) is retried
        after the server's `retry_after_ms` (0.2 s without one), for up to RETRY_FOR s."""
        give_up = time.monotonic() + RETRY_FOR
        while True:
            resp = self._call_once(op, fields)
            code = error_code(resp)
            if resp.get("ok") or code not in RETRYABLE or time.monotonic() >= give_up:
                return resp
            hint = (resp.get("error") or {}).get("retry_after_ms")
            wait = hint / 1000.0 if isinstance(hint, (int, float)) and hint >= 0 else 0.2
            time.sleep(min(wait, 30.0) + random.uniform(0, 0.05))

    def _call_once(self, op: str, fields: dict) -> dict:
        self.seq += 1
        body = json.dumps({"type": op, "seq": self.seq, **fields}, separators=(",", ":")).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        (n,) = struct.unpack(">I", self._read_exact(4))
        resp = json.loads(self._read_exact(n))
        if "ok" not in resp:
            raise ProtocolError(f"unexpected push on a push:false connection: {resp}")
        if resp.get("seq") != self.seq:
            raise ProtocolError(f"{op}: response out of order: {resp}")
        return resp


def error_code(resp: dict) -> str:
    return (resp.get("error") or {}).get("code", "")


def check(resp: dict, op: str, allowed=()) -> dict:
    if not resp.get("ok") and error_code(resp) not in allowed:
        raise ProtocolError(f"{op} failed: {resp}")
    return resp


def username(i: int) -> str:
    return f"demo{i:05d}"


def connect_wait(host: str, port: int, timeout: float, wait: float) -> Conn:
    deadline = time.monotonic() + wait
    while True:
        try:
            return Conn(host, port, timeout)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)


def login(args, i: int) -> tuple:
    c = Conn(args.host, args.port, args.timeout)
    r = check(c.call("login", username=username(i), password=args.password, push=False), "login " + username(i))
    return c, r["user_id"]


def main() -> int:
    ap = argparse.ArgumentParser(description="Create demo users and friendships for the JMeter plan.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--users", type=int, default=20, help="how many demo users (default 20)")
    ap.add_argument("--first", type=int, default=1, help="number of the first demo user (default 1)")
    ap.add_argument("--friends", type=int, default=10,
                    help="each user befriends the next FRIENDS users around the ring (default 10)")
    ap.add_argument("--password", default="demo-password")
    ap.add_argument("--timeout", type=float, default=30.0, help="per-request socket timeout, seconds")
    ap.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the server to accept connections")
    args = ap.parse_args()
    if args.users < 2:
        ap.error("--users must be at least 2 (every user needs a friend)")
    friends = max(1, min(args.friends, args.users - 1))
    numbers = list(range(args.first, args.first + args.users))

    # The server may still be starting: wait until it answers a ping.
    c = connect_wait(args.host, args.port, args.timeout, args.wait)
    check(c.call("ping"), "ping")
    c.close()

    started = time.monotonic()
    ids = {}
    created = 0
    for i in numbers:
        c = Conn(args.host, args.port, args.timeout)
        r = check(c.call("register", username=username(i), password=args.password,
                         nickname=f"Demo User {i:05d}"), "register " + username(i), allowed=("user_exists",))
        created += bool(r.get("ok"))
        r = check(c.call("login", username=username(i), password=args.password, push=False),
                   "login " + username(i))
        ids[i] = r["user_id"]
        c.close()

    pairs = set()
    for k, i in enumerate(numbers):
        for d in range(1, friends + 1):
            j = numbers[(k + d) % len(numbers)]
            if (j, i) not in pairs:
                pairs.add((i, j))
    requested = 0
    for i in numbers:
        targets = [j for (a, j) in sorted(pairs) if a == i]
        if not targets:
            continue
        c, _ = login(args, i)
        for j in targets:
            r = check(c.call("add_friend", user_id=ids[j], message="demo"), "add_friend",
                      allowed=("already_friends",))
            requested += bool(r.get("ok"))
        c.close()

    demo_ids = set(ids.values())
    accepted = 0
    for i in numbers:
        c, _ = login(args, i)
        r = check(c.call("friend_requests"), "friend_requests")
        for req in r.get("requests", []):
            if req["from"]["user_id"] in demo_ids:
                check(c.call("accept_friend", request_id=req["request_id"]), "accept_friend")
                accepted += 1
        c.close()

    print(f"setup: {len(numbers)} demo users ({created} new: {username(numbers[0])}..{username(numbers[-1])}), "
          f"{len(pairs)} friendships ({accepted} new), {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (OSError, ProtocolError) as e:
        print(f"setup_users.py: {e}", file=sys.stderr)
        sys.exit(1)
