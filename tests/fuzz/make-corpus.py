#!/usr/bin/env python3
"""tests/fuzz/make-corpus.py - (re)writes the seed corpus in tests/fuzz/corpus/<target>/.

The seeds come from the unit tests' tables (addresses, credential forms), conf/m365gate.toml
(every commented key turned on, one at a time and all at once), tests/fixtures/*.json (turned
into Graph list and delta pages) and the documented Graph and token endpoint shapes
(shared/reference/graph-and-milter.md A.3-A.5, B.1-B.6, C.1). Deterministic: running it again
writes the same files. Run from anywhere; it finds the repository from its own path.
"""
import hashlib
import json
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def write(target, items):
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    seen = set()
    for label, data in items:
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        digest = hashlib.sha1(data).hexdigest()[:10]
        if digest in seen:
            continue
        seen.add(digest)
        name = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40]
        with open(os.path.join(d, f"{name}-{digest}"), "wb") as f:
            f.write(data)
    print(f"{target}: {len(seen)} seeds")


# ---- fuzz_rcpt: RCPT arguments (decision_test.cpp, address_test.cpp), some with knobs -------
def rcpt_seeds():
    addresses = [
        "<alice@customer.example>", "alice@customer.example", "<Alice@Customer.EXAMPLE>",
        "<alice.smith@customer.example>", "<bob@contoso.example>", "<nobody@customer.example>",
        "<alice@contoso.example>", "<bob+tag@customer.example>", "<Bob+Tag@Customer.Example>",
        "<bob+@customer.example>", "<bob+a+b@customer.example>", "<bob-tag@customer.example>",
        "<first-last@customer.example>", "<+bob@customer.example>",
        "<postmaster@customer.example>", "<POSTMASTER@Customer.Example>",
        "<abuse@customer.example>", "<postmaster@fabrikam.example>",
        "<postmaster@tailspin.example>", "<someone@unmanaged.example>",
        "<bob@sub.customer.example>", "<bob@example>", "<bob@customer.example.evil>",
        "<bob@xcustomer.example>", "<bob@customer.example.>",
        "<@relay.example:bob@customer.example>",
        "<@a.example,@b.example:nobody@customer.example>",
        "<\"john doe\"@customer.example>", "<\"John Doe\"@Customer.Example>",
        "<\"bob@home\"@customer.example>", "<100%off@customer.example>",
        "<bob%other.example@customer.example>", "<bang!path@customer.example>",
        "<host!bob@customer.example>", "<j\u00f6rg@customer.example>",
        "<J\u00d6RG@customer.example>", "<info@xn--bcher-kva.example>",
        "<INFO@XN--BCHER-KVA.EXAMPLE>", "<info@b\u00fccher.example>", "<>", "", " <> ",
        "<bob>", "<@customer.example>", "<bob@>", "<dyn-group@customer.example>",
        "<dyn-group+x@customer.example>", "<other.list@customer.example>",
        "<carol@fabrikam.example>", "<nobody@fabrikam.example>", "<dave@tailspin.example>",
        "<x@northwind.example>", "<%s%n@customer.example>", "<<b>@customer.example>",
        "bob@example.com", "<bob@example.com", "<@a,@b>", "bob@.", "  <bob@example.com>  ",
        "a" * 983 + "@customer.example",
        # Issue 14: quoted local parts, escapes, U-labels, role addresses after a cut, every
        # delimiter position (decision_test.cpp's second table).
        '<"alice"@customer.example>', '<"Alice"@Customer.Example>', '<"a\\lice"@customer.example>',
        '<"\\a\\l\\i\\c\\e"@customer.example>', '<"john\\ doe"@customer.example>',
        '<"al\\"ice"@customer.example>', '<"alice\\"@customer.example>', '<"alice."@customer.example>',
        '<""@customer.example>', '<"john doe+x"@customer.example>', '<"postmaster"@customer.example>',
        '<"bob+tag"@customer.example>', '<"alice@customer.example>', "<nobody@b\u00fccher.example>",
        "<INFO@B\u00fcCHER.EXAMPLE>", "<info@B\u00dcCHER.example>", "<info@b\u00fccher.example.>",
        "<info@b\u00fccher\u3002example>", "<info@b\u00fccher.\u043f\u0440\u0438\u043c\u0435\u0440>",
        "<bob@cu\u0455tomer.example>", "<info@\u2603.example>", "<info@-b\u00fccher.example>",
        "<postmaster+x@customer.example>", "<abuse+x@customer.example>",
        "<abuse+x@tailspin.example>", "<postmaster-x@customer.example>",
        "<mary-jane+news@customer.example>", "<first-last+news@customer.example>",
        "<+@customer.example>", "<+++@customer.example>", "<+-=+-=@customer.example>",
        "<" + "+" * 983 + "@customer.example>", "a" * 1017 + "@\u00fc",
    ]
    items = [(a[:30] or "empty", a) for a in addresses]
    items.append(("nul inside", b"bob\x00x@customer.example"))
    items.append(("cr inside", b"bob\r@customer.example"))
    items.append(("invalid utf-8 domain", b"<info@\xff" b"cher.example>"))
    items.append(("truncated utf-8 domain", b"<info@b\xc3.example>"))
    # Knobs after '\n': 4 bytes of flags at the end (FuzzedDataProvider reads integers from the
    # end), strings from the front.
    knobbed = [
        ("report mode", b"<nobody@customer.example>\nclient.example\\192.0.2.7\\s@x\\Q1\\", 0x1),
        ("stale tempfail", b"<nobody@fabrikam.example>\n", 0x2 << 1),
        ("no store", b"<bob@customer.example>\n", 1 << 5),
        ("delimiters", b"<bob-x+y@customer.example>\n+-=\\", 1 << 8),
        ("mary-jane delimiters", b"<mary-jane+news@customer.example>\n+-\\", 1 << 8),
        ("postmaster no store", b"<postmaster+x@customer.example>\n", 1 << 5),
        ("u-label no store", "<postmaster@b\u00fccher.example>\n".encode(), 1 << 5),
        ("reply template", b"<nobody@customer.example>\n%s {address} %% \r\n 250 ok\\", 1 << 10),
        ("bad codes", b"<nobody@customer.example>\n250\\2.0.0\\", (1 << 12) | (1 << 13)),
        ("tempfail template", b"<dave@tailspin.example>\n{address}{address}{address}\\", 1 << 11),
        ("lf inside", b"<nobody@customer.example>\n<x@customer.example>", 1 << 16),
    ]
    for label, data, flags in knobbed:
        items.append((label, data + flags.to_bytes(4, "little")))
    return items


# ---- fuzz_config: conf/m365gate.toml and variants ------------------------------------------
GOOD_TENANT = (
    '[[tenant]]\nname = "contoso"\ntenant_id = "8f0c2a43-5d1e-4b7a-9c36-2e4f1d0b7a95"\n'
    'client_id = "3b9d6e1f-0a42-4c8e-b5d7-61f2a9c4e803"\n'
    'client_secret_file = "/etc/m365gate/secrets/contoso.secret"\n'
)


def config_seeds():
    with open(os.path.join(ROOT, "conf", "m365gate.toml"), encoding="utf-8") as f:
        example = f.read()
    items = [("example as shipped", example)]
    key_line = re.compile(r"^# ([a-z_]+ = .*)$")
    all_on = "\n".join(
        key_line.sub(r"\1", line) for line in example.splitlines()) + "\n"
    items.append(("example every key on", all_on))
    # Each commented key alone, in its section, with one good tenant.
    section = None
    for line in example.splitlines():
        if line.startswith("["):
            section = line
            continue
        m = key_line.match(line)
        if m and section and section != "[[tenant]]":
            items.append((f"{section} {m.group(1)}", f"{section}\n{m.group(1)}\n\n{GOOD_TENANT}"))
        elif m and section == "[[tenant]]":
            items.append((f"tenant {m.group(1)}", GOOD_TENANT + m.group(1) + "\n"))
    extra = [
        ("empty", ""),
        ("good tenant only", GOOD_TENANT),
        ("certificate tenant", GOOD_TENANT.replace(
            "client_secret_file = \"/etc/m365gate/secrets/contoso.secret\"",
            "client_certificate_file = \"/etc/m365gate/secrets/contoso.pem\"\n"
            "assertion_alg = \"RS256\"")),
        ("secret and certificate", GOOD_TENANT + "client_certificate_file = \"/c.pem\"\n"),
        ("unknown key", "[milter]\non_stal = \"reject\"\n" + GOOD_TENANT),
        ("unknown section", "[milters]\nmode = \"report\"\n"),
        ("key outside section", "mode = \"report\"\n"),
        ("duplicate tenant", GOOD_TENANT + GOOD_TENANT),
        ("two tenants one domain",
         GOOD_TENANT + 'domains = ["a.example"]\n' + GOOD_TENANT.replace("contoso", "fabrikam")
         + 'domains = ["A.example."]\n'),
        ("tenant not array", "[tenant]\nname = \"x\"\n"),
        ("bad duration", "[sync]\ninterval = \"1h30m\"\n" + GOOD_TENANT),
        ("bad size", "[store]\nmax_size = \"4X\"\n" + GOOD_TENANT),
        ("bad reply class", "[milter]\nreject_code = \"451\"\n" + GOOD_TENANT),
        ("reply text percent", "[milter]\nreject_text = \"%s %n {address}\"\n" + GOOD_TENANT),
        ("timezone", "[alerts]\ntimezone = \"Asia/Tokyo\"\nlanguage = \"ja\"\n" + GOOD_TENANT),
        ("bad timezone", "[alerts]\ntimezone = \"../../etc/passwd\"\n" + GOOD_TENANT),
        ("secret days", "[alerts]\nsecret_days = [1, 30, 7]\n" + GOOD_TENANT),
        ("webhook", "[alerts]\nwebhook = \"https://hooks.example/x\"\n" + GOOD_TENANT),
        ("metrics", "[metrics]\ntextfile_dir = \"/var/lib/prometheus/node-exporter\"\n"
         "interval = \"30s\"\n" + GOOD_TENANT),
        ("metrics relative dir", "[metrics]\ntextfile_dir = \"prom\"\ninterval = \"2h\"\n"),
        ("postfix tables", "[postfix]\nexport_dir = \"/var/lib/m365gate-postfix\"\n" + GOOD_TENANT),
        ("postfix relative dir", "[postfix]\nexport_dir = \"tables\"\nformat = \"cdb\"\n"),
        ("national cloud", GOOD_TENANT
         + 'login_endpoint = "https://login.chinacloudapi.cn/"\n'
           'graph_endpoint = "https://microsoftgraph.chinacloudapi.cn"\n'),
        ("expires date", GOOD_TENANT + "client_secret_expires = 2027-01-31\n"),
        ("expires string", GOOD_TENANT + 'client_secret_expires = "2027-01-31T21:00:00+09:00"\n'),
        ("socket inet", "[milter]\nsocket = \"inet:10025@127.0.0.1\"\nsocket_mode = \"0600\"\n"),
        ("log file", "[log]\ntarget = \"file\"\nfile = \"/var/log/m365gate.log\"\nlevel = \"trace\"\n"),
        ("bad toml", "[milter\nmode = report\n"),
        ("inline table", "milter = { mode = \"report\" }\n"),
        ("datetime scalar", "2027-01-31T21:00:00+09:00"),
        ("duration scalar", "9223372036854775807s"),
        ("size scalar", "16T"),
    ]
    items.extend(extra)
    return items


# ---- fuzz_credential: credential_test.cpp's forms ------------------------------------------
def credential_seeds():
    s = "Qx7~Zr2_Vb9-Kp4~Wm8_Jt3-Hs6~Ld5"
    forms = [
        ("newline", "abc~123\n"), ("no newline", "abc~123"), ("crlf", "abc~123\r\n"),
        ("trailing spaces", "abc~123  \t\n"), ("blank lines", "\n\nabc~123\n\n  \n"),
        ("bom", "\ufeffabc~123\n"), ("equals plain", "abc=123\n"), ("secrets word", "secrets\n"),
        ("toml secret", 'secret = "abc~123"\n'), ("toml no spaces", 'secret="abc~123"\n'),
        ("toml datetime", 'secret = "abc~123"\nexpires = 2027-01-31T21:00:00+09:00\n'),
        ("toml date", "expires = 2027-01-31\nsecret = 'abc~123'\n"),
        ("toml string date",
         '# rotated by script\nsecret = "abc~123"\nexpires = "2027-01-31T12:00:00Z"\n'),
        ("empty", ""), ("blank", " \n\r\n"), ("two secrets", s + "\n" + s + "-old\n"),
        ("control", s + "\x01\n"), ("toml unquoted", "secret = " + s + "\n"),
        ("toml unterminated", 'secret = "' + s + "\n"),
        ("toml twice", 'secret = "' + s + '"\nsecret = "' + s + '"\n'),
        ("toml unknown key", 'secret = "' + s + '"\nexpiry = 2027-01-31\n'),
        ("toml key holds secret", 'secret = "' + s + '"\n"' + s + '" = 1\n'),
        ("toml not string", "secret = 12345\n"), ("toml empty", 'secret = ""\n'),
        ("toml newline escape", 'secret = "' + s + '\\n"\n'),
        ("toml bad expiry", 'secret = "' + s + '"\nexpires = "soon"\n'),
        ("toml expiry no offset", 'secret = "' + s + '"\nexpires = 2027-01-31T00:00:00\n'),
        ("toml expiry number", 'secret = "' + s + '"\nexpires = 20270131\n'),
        ("toml expiry alone", "expires = 2027-01-31\nsecret =\n"),
        ("commented secret", '# secret = "x"\nexpires = 2027-01-31\n'),
        ("table", '[secret]\nvalue = "x"\n'), ("array", 'secret = ["a", "b"]\n'),
        ("literal multiline", "secret = '''\nabc~123'''\n"),
        ("basic multiline", 'secret = """abc\\\n  ~123"""\n'),
        ("unicode escape", 'secret = "abc\\u00e9~123"\n'),
        ("entra like", "Jq98Q~abcdefghijklmnopqrstuvwxyz0123456789\n"),
    ]
    return forms


# ---- fuzz_graph_page: pages from the fixtures and the reference ----------------------------
GRAPH = "https://graph.microsoft.com/v1.0"


def page(value, next_link=None, delta_link=None, context=None):
    p = {}
    if context:
        p["@odata.context"] = context
    if next_link:
        p["@odata.nextLink"] = next_link
    if delta_link:
        p["@odata.deltaLink"] = delta_link
    p["value"] = value
    return json.dumps(p, ensure_ascii=False, separators=(",", ":"))


def graph_seeds():
    items = []
    for fixture in sorted(os.listdir(os.path.join(ROOT, "tests", "fixtures"))):
        if not fixture.endswith(".json"):
            continue
        with open(os.path.join(ROOT, "tests", "fixtures", fixture), encoding="utf-8") as f:
            doc = json.load(f)
        tenants = doc.get("tenants", [doc])
        for t in tenants:
            base = fixture[:-5]
            items.append((f"{base} domains", page(t.get("domains", []))))
            for coll in ("users", "groups", "contacts"):
                objs = t.get(coll, [])
                for i in range(0, len(objs), 4):
                    chunk = objs[i:i + 4]
                    nxt = f"{GRAPH}/{coll}?$top=4&$skiptoken=X%27{i:04d}%27"
                    items.append((f"{base} {coll} page {i}", page(chunk, next_link=nxt)))
                if objs:
                    # A delta round: minimal items, one removal, the final deltaLink.
                    delta = [{"id": o["id"], "mail": o.get("mail")} for o in objs[:3]]
                    delta.append({"id": objs[-1]["id"], "@removed": {"reason": "deleted"}})
                    items.append((f"{base} {coll} delta", page(
                        delta, delta_link=f"{GRAPH}/{coll}/delta?$deltatoken=oEcOySpF_hWY")))
    ref = [
        ("doc users page", page(
            [{"displayName": "Conf Room Adams", "mail": "Adams@contoso.com",
              "userPrincipalName": "Adams@contoso.com",
              "id": "6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"}],
            next_link=GRAPH + "/users?$top=5&$skiptoken=X%274453707%27",
            context=GRAPH + "/$metadata#users")),
        ("doc delta page", page(
            [{"displayName": "Cameron White", "id": "ffff7b1a-13b6-477b-8c0c-380905cd99f7"},
             {"id": "86462606-fde0-4fc4-9e0c-a20eb73e54c6", "@removed": {"reason": "deleted"}}],
            next_link=GRAPH + "/users/delta?$skiptoken=oEBwdSP6uehIAxQOWq_3")),
        ("empty delta", page([], delta_link=GRAPH + "/users/delta?$deltatoken=latest")),
        ("empty page with next", page([], next_link=GRAPH + "/users?$skiptoken=1")),
        ("doc group", page([{"id": "g1", "mail": "golfassist@contoso.com", "mailEnabled": True,
                             "proxyAddresses": ["smtp:golfassist@contoso.onmicrosoft.com",
                                                "SMTP:golfassist@contoso.com",
                                                "SPO:SPO_1@SPO_2"],
                             "groupTypes": ["Unified"]}])),
        ("doc domains", page([{"authenticationType": "Managed", "isAdminManaged": True,
                               "isDefault": True, "isInitial": True, "isRoot": True,
                               "isVerified": True, "id": "Contoso.Example.",
                               "supportedServices": ["Email", "OfficeCommunicationsOnline"]},
                              {"id": "sp.example", "isVerified": True,
                               "supportedServices": ["Sharepoint"]}])),
        ("nulls cleared", page([{"id": "u1", "mail": None, "proxyAddresses": None,
                                 "userPrincipalName": None}])),
        ("guest upn", page([{"id": "u2", "userPrincipalName":
                             "bob_fabrikam.com#EXT#@customer.example",
                             "mail": "bob@fabrikam.com",
                             "proxyAddresses": ["smtp: Bob@Customer.Example ", "X500:/o=x"]}])),
        ("foreign next link", page([], next_link="https://graph.microsoft.com.evil.example/v1.0/users")),
        ("userinfo next link", page([], next_link="https://graph.microsoft.com@evil.example/v1.0/x")),
        ("next link not string", '{"value":[],"@odata.nextLink":5}'),
        ("no value", '{"@odata.nextLink":"' + GRAPH + '/users"}'),
        ("value not array", '{"value":{}}'),
        ("item not object", '{"value":[1,"x",null]}'),
        ("id too long", page([{"id": "i" * 300}])),
        ("mail not string", page([{"id": "u", "mail": 5}])),
        ("mailEnabled string", page([{"id": "g", "mailEnabled": "true"}])),
        ("error 429", '{"error":{"code":"TooManyRequests","innerError":{"code":"429",'
                      '"date":"2020-08-18T12:51:51","message":"Please retry after",'
                      '"request-id":"94fb3b52-452a-4535-a601-69e0a90e3aa2","status":"429"},'
                      '"message":"Please retry again later."}}'),
        ("error 410", '{"error":{"code":"SyncStateNotFound","message":"The sync state '
                      'generation is not found","innerError":{"request-id":"r","date":"d"}}}'),
        ("error 403", '{"error":{"code":"Authorization_RequestDenied","message":"Insufficient '
                      'privileges to complete the operation.","innererror":{"REQUEST-ID":"x"}}}'),
        ("not json", "<html>502 Bad Gateway</html>"),
        ("deep nesting", "{\"value\":" + "[" * 200 + "]" * 200 + "}"),
    ]
    items.extend(ref)
    return items


# ---- fuzz_token_error: reference A.4/A.5 bodies --------------------------------------------
def token_seeds():
    def body(error, code, desc):
        return json.dumps({
            "error": error,
            "error_description": f"AADSTS{code}: {desc}\r\nTrace ID: 0000aaaa-11bb\r\n"
                                 "Correlation ID: aaaa0000-bb11\r\nTimestamp: 2016-01-09 02:02:12Z",
            "error_codes": [code], "timestamp": "2016-01-09 02:02:12Z",
            "trace_id": "0000aaaa-11bb-cccc-dd33-eeeeee333333",
            "correlation_id": "aaaa0000-bb11-2222-33cc-444444dddddd",
            "error_uri": f"https://login.microsoftonline.com/error?code={code}"})
    table = [
        ("invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid."),
        ("invalid_client", 7000222, "The provided client secret keys for app '***' are expired."),
        ("invalid_client", 7000215, "Invalid client secret provided."),
        ("invalid_request", 7000218, "The request body must contain 'client_secret'."),
        ("unauthorized_client", 700016, "Application with identifier 'x' was not found."),
        ("invalid_tenant", 90002, "Tenant 'x' not found."),
        ("invalid_request", 900023, "Specified tenant identifier 'x' is neither..."),
        ("invalid_request", 90038, "NationalCloudTenantRedirection"),
        ("unauthorized_client", 7000112, "Application is disabled."),
        ("invalid_scope", 1002012, "Client credential flows must have a scope value with /.default"),
        ("invalid_resource", 500011, "The resource principal named x was not found"),
        ("access_denied", 53003, "BlockedByConditionalAccess"),
        ("temporarily_unavailable", 90033, "MsodsServiceUnavailable"),
        ("temporarily_unavailable", 90024, "RequestBudgetExceededError"),
        ("server_error", 50033, "RetryableError"),
        ("server_error", 90006, "ExternalServerRetryableError"),
        ("invalid_request", 9001023, "Grant not supported over /common"),
    ]
    items = [(f"{e} {c}", body(e, c, d)) for e, c, d in table]
    items += [
        ("success body", '{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,'
                         '"access_token":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.sig"}'),
        ("no codes", '{"error":"unauthorized_client","error_description":"AADSTS7000112: x"}'),
        ("codes mixed types", '{"error":"x","error_codes":["7000222",7000222.5,-1,'
                              '18446744073709551615,9223372036854775807]}'),
        ("error not string", '{"error":{"code":1},"trace_id":5,"correlation_id":null}'),
        ("quotes and spaces", '{"error":"a b=\\"c\\"\\u0000\\n","trace_id":"' + "t" * 100 + '"}'),
        ("array body", "[1,2,3]"), ("html", "<html><body>503 Service Unavailable</body></html>"),
        ("retry after seconds", "120\n{\"error\":\"temporarily_unavailable\"}"),
        ("retry after date", "Wed, 21 Oct 2015 07:28:00 GMT\n{}"),
        ("retry after junk", "soon\n"), ("retry after long", "99999999999\n"),
        ("empty", ""),
    ]
    return items


def main():
    write("fuzz_rcpt", rcpt_seeds())
    write("fuzz_config", config_seeds())
    write("fuzz_credential", credential_seeds())
    write("fuzz_graph_page", graph_seeds())
    write("fuzz_token_error", token_seeds())
    return 0


if __name__ == "__main__":
    sys.exit(main())
