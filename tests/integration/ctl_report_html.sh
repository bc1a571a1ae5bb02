#!/bin/bash
# tests/integration/ctl_report_html.sh M365GATECTL
#
# Confirms that `m365gatectl report --format html` is a page a real browser renders with the
# numbers of a known rejection log, that hostile values from the log stay text, and that the
# page loads nothing from anywhere. Debian's chromium renders it headless (--dump-dom: the DOM
# after parsing, as a user's browser would build it); Chromium's own net log must show no
# request made by the page, and a control page with one remote <img> proves that the net log
# would show it. chromium missing is a failure, not a skip: scripts/setup installs it.
set -euo pipefail
CTL=$1
command -v chromium >/dev/null || {
    echo "FAIL: chromium is not installed (scripts/setup installs it)"
    exit 1
}
T=$(mktemp -d "${M365GATE_BINARY_DIR:-/tmp}/ctl-report-html.XXXXXX")
trap 'rm -rf "$T"' EXIT

# 2026-11-23: contoso 3 rejections at 08:xx (alice@sender.example from 192.0.2.7), fabrikam 2 at
# 09:xx (a bounce, and a hostile sender and client), a harvest crossing; one rejection the day
# before and one line cut by a crash. The hostile client name would load an image if it
# reached the page as markup.
python3 - "$T/rejections.jsonl" <<'PY'
import json, sys
def rejection(ts, action, tenant, sender, addr, name, to, reason):
    return json.dumps({"ts": ts, "action": action, "queue_id": "", "client_addr": addr,
                       "client_name": name, "from": sender, "to": to, "tenant": tenant,
                       "reason": reason, "code": "550", "status": "5.1.1"}) + "\n"
with open(sys.argv[1], "w") as log:
    for minute in ("05", "15", "25"):
        log.write(rejection(f"2026-11-23T08:{minute}:00Z", "reject", "contoso",
                            "alice@sender.example", "192.0.2.7", "mx1.example",
                            "nobody@contoso.example", "unknown_recipient"))
    log.write(rejection("2026-11-23T09:10:00Z", "tempfail", "fabrikam", "", "198.51.100.9",
                        "mx2.example", "y@fabrikam.example", "cache_unavailable"))
    log.write(rejection("2026-11-23T09:20:00Z", "would_reject", "fabrikam",
                        "<script>alert(1)</script>@evil.example", "=cmd|' /C calc'!A0",
                        '"><img src=http://127.0.0.1:9/leak.png>', "z@fabrikam.example",
                        "unknown_recipient"))
    log.write(rejection("2026-11-22T23:59:59Z", "reject", "contoso", "old@sender.example",
                        "192.0.2.7", "mx1.example", "old@contoso.example", "unknown_recipient"))
    log.write('{"ts":"2026-11-23T10:00:00Z","action":"rej\n')
    log.write(json.dumps({"ts": "2026-11-23T08:50:00Z", "action": "harvest",
                          "client_addr": "192.0.2.7", "client_name": "mx1.example",
                          "client_key": "192.0.2.7", "unknown": 20, "window": 600,
                          "response": "450", "block_until": "2026-11-23T09:00:00Z"}) + "\n")
PY
"$CTL" report --since 2026-11-23 --until 2026-11-24 --format html "$T/rejections.jsonl" \
    >"$T/report.html" 2>"$T/report.err"
printf '<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/control.png"></body></html>\n' \
    >"$T/control.html"

render() {  # render NAME: $T/NAME.html -> $T/NAME.dom and the net log $T/NAME.netlog
    timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/profile-$1" \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --disable-extensions --log-net-log="$T/$1.netlog" \
        --dump-dom "file://$T/$1.html" >"$T/$1.dom" 2>"$T/$1.chromium.log" || {
        echo "FAIL: chromium could not render $1.html:"
        tail -n 5 "$T/$1.chromium.log"
        exit 1
    }
}
render report
render control

python3 - "$T" <<'PY'
import json, sys
from html.parser import HTMLParser

T = sys.argv[1]
failures = 0
def check(label, ok, detail=""):
    global failures
    print(("PASS " if ok else "FAIL ") + label + ("" if ok else f": {detail}"))
    failures += not ok

class Page(HTMLParser):
    """What a reader sees: summary cells, chart bars, list rows, and every loading attribute."""
    def __init__(self):
        super().__init__()
        self.cells, self.bars, self.rows, self.loaders, self.tags = {}, {}, {}, [], set()
        self.key = self.bar = self.list = self.row = None
        self.text = []
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        self.loaders += [(tag, k, v) for k, v in attrs if k in ("src", "href", "srcset", "action",
                                                               "data", "poster", "background")]
        if tag == "td" and "data-key" in a:
            self.key = a["data-key"]
            self.cells[self.key] = ""
        if tag == "rect" and "data-hour" in a:
            self.bar = a["data-hour"]
            self.bars[self.bar] = [a["data-count"], ""]
        if tag == "table" and "data-list" in a:
            self.list = a["data-list"]
            self.rows.setdefault(self.list, [])
        if tag == "tr" and self.list:
            self.row = []
        if tag == "td" and self.row is not None:
            self.row.append("")
    def handle_endtag(self, tag):
        if tag == "td":
            self.key = None
        if tag == "rect":
            self.bar = None
        if tag == "tr" and self.row:
            self.rows[self.list].append(self.row)
            self.row = None
        if tag == "table":
            self.list = None
    def handle_data(self, data):
        self.text.append(data)
        if self.key:
            self.cells[self.key] += data
        if self.bar:
            self.bars[self.bar][1] += data
        if self.row:
            self.row[-1] += data

page = Page()
page.feed(open(f"{T}/report.dom", encoding="utf-8").read())
text = "".join(page.text)
c = page.cells
check("summary: 5 rejections", c.get("events") == "5", c)
check("summary: 1 malformed line, 1 outside the period",
      (c.get("malformed"), c.get("outside_period")) == ("1", "1"), c)
check("summary: the period", (c.get("since"), c.get("until")) ==
      ("2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"), c)
check("chart: one bar per hour of the day", len(page.bars) == 24, sorted(page.bars))
check("chart: 08:00 bar holds 3, its tooltip says so",
      page.bars.get("2026-11-23T08:00Z") == ["3", "2026-11-23T08:00Z: 3"], page.bars)
check("chart: 09:00 bar holds 2", page.bars.get("2026-11-23T09:00Z", [None])[0] == "2")
check("chart: an empty hour is 0", page.bars.get("2026-11-23T10:00Z", [None])[0] == "0")
senders = page.rows.get("senders", [])
check("top sender: alice@sender.example, 3", senders[:1] == [["3", "alice@sender.example"]],
      senders)
check("tenants: contoso 3, fabrikam 2",
      page.rows.get("tenants", [])[:2] == [["3", "contoso"], ["2", "fabrikam"]],
      page.rows.get("tenants"))
check("harvest: 192.0.2.7 crossed once, answered 450",
      any(r[:2] == ["1", "192.0.2.7"] and r[-1] == "answered 450"
          for r in page.rows.get("harvest", [])), page.rows.get("harvest"))
check("hostile sender is shown as text", "<script>alert(1)</script>@evil.example" in text)
check("hostile client name is shown as text",
      '"><img src=http://127.0.0.1:9/leak.png>' in text)
check("no script, image, frame, link or object element",
      not page.tags & {"script", "img", "iframe", "link", "object", "embed"}, page.tags)
check("no attribute that loads anything", not page.loaders, page.loaders)

def page_requests(netlog):
    """URLs the page asked for: requests whose network isolation key is the file:// page's,
    not the browser's own background requests."""
    log = json.load(open(netlog))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"].get("url") for e in log["events"]
            if e["type"] == start and "file://" in str(e["params"].get("network_isolation_key"))]

control = page_requests(f"{T}/control.netlog")
check("control: the net log shows a page's request",
      "http://127.0.0.1:9/control.png" in control, control)
requests = page_requests(f"{T}/report.netlog")
check("the report page requested nothing", not requests, requests)
sys.exit(1 if failures else 0)
PY
