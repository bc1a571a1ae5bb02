#!/usr/bin/env python3
"""tests/integration/load_smtp_client.py - the SMTP side of load_postfix_sync.sh.

SESSIONS concurrent SMTP sessions (asyncio) against Postfix for SECONDS, while a flipper
changes the directory in the Graph simulator every second; every RCPT reply is checked.

Sessions: EHLO, then transactions of MAIL FROM + 10 RCPT TO + RSET, pipelined (no DATA), a
new connection every 20 transactions. Recipients per transaction: 4 stable known
(user<N>@gen.example, N <= USERS), 3 stable unknown (nouser<N>@gen.example), 3 flipping.

Flipping addresses: in round k (every second) the flipper creates BATCH users
flip<k>x<j>@gen.example through the control API and deletes those of round k-2, so an address
goes from not existing to existing and back exactly once; the sessions pick theirs from rounds
k-3 .. k+1 (some already deleted, some not yet created). The sync daemon (interval 1s) carries
each change into the store within a round or two; how long it takes is a figure, not a check.

What is checked (a reply is wrong if any rule fails):
  - stable known: always 250; stable unknown: always 550 5.1.1; never a 4xx for anyone (the
    store is always there and the tenant never stale), never a broken session.
  - flipping address a, with add(a) = when the flipper sent the create, del(a) = when it sent
    the delete. The store only ever holds the simulator's state of some moment, and that
    moment only moves forward (each sync fetches after the previous one published), so the
    replies for a, ordered in time, must read 550* 250* 550*. With each reply's decision
    somewhere between the moment its pipelined batch was sent (t_send) and the moment the reply
    arrived (t_recv), a reply is wrong when:
      (1) it is 250 and t_recv < add(a): known before it existed;
      (2) it is 550, some 250 for a arrived before it was sent, and it arrived before del(a):
          the address vanished while it still existed;
      (3) it is 250 and was sent after a 550 of kind (2)-but-after-del(a) arrived, i.e. after
          the address had been seen deleted: it came back.
Prints one line "load: key=value ..." and exits 1 on any wrong reply or failure.
"""
import argparse
import asyncio
import json
import random
import ssl
import threading
import time
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--sessions", type=int, default=64)
p.add_argument("--seconds", type=float, default=120)
p.add_argument("--users", type=int, required=True)
p.add_argument("--sim", required=True)
p.add_argument("--ca", required=True)
p.add_argument("--tenant", required=True)
p.add_argument("--batch", type=int, default=3)
args = p.parse_args()

DOMAIN = "gen.example"
t_start = time.time()
deadline = t_start + args.seconds
added = {}     # address -> time the create was sent
deleted = {}   # address -> time the delete was sent
flip_round = 0
flip_errors = []
stats = {"rcpts": 0, "known": 0, "unknown": 0, "flip": 0, "transactions": 0, "connections": 0,
         "failures": 0, "wrong": 0, "c250": 0, "c550": 0, "c4xx": 0, "other": 0}
flip_replies = []  # (address, t_send, t_recv, code)
wrong_examples = []


def flip_addr(k, j):
    return "flip%dx%d@%s" % (k, j, DOMAIN)


def flip_id(k, j):
    return "f2000000-0000-4000-8000-%012d" % (k * 1000 + j)


def flipper():
    global flip_round
    ctx = ssl.create_default_context(cafile=args.ca)

    def call(method, path, body):
        req = urllib.request.Request(args.sim + path, data=json.dumps(body).encode(), method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            r.read()

    k = 0
    while time.time() < deadline:
        k += 1
        objs = [{"id": flip_id(k, j), "displayName": "flip", "userPrincipalName": flip_addr(k, j),
                 "mail": flip_addr(k, j), "proxyAddresses": ["SMTP:" + flip_addr(k, j)],
                 "accountEnabled": True} for j in range(args.batch)]
        now = time.time()
        for j in range(args.batch):
            added[flip_addr(k, j)] = now
        flip_round = k
        try:
            call("POST", "/_sim/tenants/%s/users" % args.tenant, objs)
            if k > 2:
                for j in range(args.batch):
                    deleted[flip_addr(k - 2, j)] = time.time()
                    call("DELETE", "/_sim/tenants/%s/users/%s" % (args.tenant, flip_id(k - 2, j)), {})
        except Exception as e:  # noqa: BLE001 - any failure of the control API is reported
            flip_errors.append(str(e))
        next_at = t_start + k
        while time.time() < next_at:
            time.sleep(0.01)


async def reply(reader):
    while True:
        line = await asyncio.wait_for(reader.readline(), 30)
        if not line:
            raise EOFError("server closed the connection")
        if line[3:4] != b"-":
            return int(line[:3]), line.decode(errors="replace").strip()


def note_wrong(text):
    stats["wrong"] += 1
    if len(wrong_examples) < 10:
        wrong_examples.append(text)


async def session(sid):
    rnd = random.Random(sid)
    while time.time() < deadline:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", args.port), 30)
            stats["connections"] += 1
            code, _ = await reply(r)
            if code != 220:
                raise RuntimeError("greeting %d" % code)
            w.write(b"EHLO load.example\r\n")
            code, _ = await reply(r)
            for _ in range(20):
                if time.time() >= deadline:
                    break
                rcpts = []
                for i in range(10):
                    if i < 4:
                        rcpts.append(("known", "user%d@%s" % (rnd.randint(1, args.users), DOMAIN)))
                    elif i < 7:
                        rcpts.append(("unknown", "nouser%d@%s" % (rnd.randint(1, 10 ** 6), DOMAIN)))
                    else:
                        k = max(1, flip_round + rnd.randint(-3, 1))
                        rcpts.append(("flip", flip_addr(k, rnd.randrange(args.batch))))
                cmds = [b"MAIL FROM:<load@outside.example>\r\n"]
                cmds += [b"RCPT TO:<%s>\r\n" % a.encode() for _, a in rcpts]
                cmds.append(b"RSET\r\n")
                t_send = time.time()
                w.write(b"".join(cmds))
                code, text = await reply(r)
                if code != 250:
                    raise RuntimeError("MAIL: " + text)
                for kind, addr in rcpts:
                    code, text = await reply(r)
                    t_recv = time.time()
                    stats["rcpts"] += 1
                    stats[kind] += 1
                    if code == 250:
                        stats["c250"] += 1
                    elif code == 550:
                        stats["c550"] += 1
                    elif 400 <= code < 500:
                        stats["c4xx"] += 1
                    else:
                        stats["other"] += 1
                    if kind == "known" and code != 250:
                        note_wrong("known %s got %s" % (addr, text))
                    elif kind == "unknown" and not text.startswith("550 5.1.1"):
                        note_wrong("unknown %s got %s" % (addr, text))
                    elif kind == "flip":
                        if code not in (250, 550):
                            note_wrong("flip %s got %s" % (addr, text))
                        else:
                            flip_replies.append((addr, t_send, t_recv, code))
                code, text = await reply(r)  # RSET
                stats["transactions"] += 1
            w.write(b"QUIT\r\n")
            await reply(r)
            w.close()
        except Exception as e:  # noqa: BLE001 - every broken session is a failure
            stats["failures"] += 1
            if len(wrong_examples) < 10:
                wrong_examples.append("session %d: %r" % (sid, e))
            await asyncio.sleep(0.5)


def check_flips():
    by_addr = {}
    for a, ts, tr, code in flip_replies:
        by_addr.setdefault(a, []).append((ts, tr, code))
    lags = []
    for a, rs in by_addr.items():
        add = added.get(a, float("inf"))
        dele = deleted.get(a, float("inf"))
        first_250_recv = min((tr for ts, tr, c in rs if c == 250), default=None)
        if first_250_recv is not None and add != float("inf"):
            lags.append(first_250_recv - add)
        # 550s that prove the address was seen deleted: after a 250 and after the delete.
        seen_gone = [tr for ts, tr, c in rs
                     if c == 550 and first_250_recv is not None and ts > first_250_recv and tr >= dele]
        for ts, tr, c in rs:
            if c == 250 and tr < add:
                note_wrong("%s: 250 before it was created (%.3f < %.3f)" % (a, tr, add))
            if c == 550 and first_250_recv is not None and ts > first_250_recv and tr < dele:
                note_wrong("%s: 550 at %.3f after a 250 at %.3f, while it still existed" % (a, tr, first_250_recv))
            if c == 250 and any(ts > g for g in seen_gone):
                note_wrong("%s: 250 sent at %.3f after it was seen deleted" % (a, ts))
    return by_addr, sorted(lags)


th = threading.Thread(target=flipper, daemon=True)
th.start()


async def main():
    await asyncio.gather(*(session(i) for i in range(args.sessions)))


asyncio.run(main())
th.join(timeout=60)
by_addr, lags = check_flips()
elapsed = time.time() - t_start
lag_p50 = lags[len(lags) // 2] if lags else -1
lag_max = lags[-1] if lags else -1
print("load: sessions=%d seconds=%.0f rcpts=%d rcpt_per_s=%.0f transactions=%d connections=%d "
      "known=%d unknown=%d flip=%d flip_addresses=%d flip_rounds=%d c250=%d c550=%d c4xx=%d other=%d "
      "failures=%d wrong=%d flip_errors=%d visible_lag_p50_s=%.2f visible_lag_max_s=%.2f" % (
          args.sessions, elapsed, stats["rcpts"], stats["rcpts"] / elapsed, stats["transactions"],
          stats["connections"], stats["known"], stats["unknown"], stats["flip"], len(by_addr),
          flip_round, stats["c250"], stats["c550"], stats["c4xx"], stats["other"],
          stats["failures"], stats["wrong"], len(flip_errors), lag_p50, lag_max))
for e in wrong_examples:
    print("  " + e)
for e in flip_errors[:5]:
    print("  control API: " + e)
ok = stats["wrong"] == 0 and stats["failures"] == 0 and not flip_errors and stats["rcpts"] > 0
raise SystemExit(0 if ok else 1)
