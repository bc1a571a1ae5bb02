#!/usr/bin/env python3
"""tests/tools/check_eml.py DIR - every DIR/*.eml is a valid alert mail as Python's email
package reads it (an independent RFC 5322 / RFC 2047 / MIME reader): it parses without
defects, the Subject decodes to text that starts with "[m365gate]", the body decodes in its
declared charset, and no line is longer than 998 octets. Prints one line per file; exits 1
on the first failure, 2 when DIR holds no .eml file."""
import email
import email.policy
import pathlib
import sys


def check(path):
    raw = path.read_bytes()
    for number, line in enumerate(raw.split(b"\n"), 1):
        if len(line) > 998:
            return f"line {number} is {len(line)} octets"
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    if msg.defects:
        return f"defects: {msg.defects}"
    subject = str(msg["Subject"])
    if not subject.startswith("[m365gate]"):
        return f"subject does not decode to [m365gate] ...: {subject!r}"
    for header in ("Date", "From", "To", "Message-ID"):
        if msg[header] is None:
            return f"no {header} header"
    if msg.get_content_type() != "text/plain":
        return f"content type {msg.get_content_type()}"
    charset = msg.get_content_charset()
    payload = msg.get_payload(decode=True)
    try:
        body = payload.decode(charset)
    except (LookupError, UnicodeDecodeError) as e:
        return f"body does not decode as {charset}: {e}"
    if body != msg.get_content():
        return "get_content() differs from the decoded payload"
    if "m365gate-sync" not in body:
        return "body lacks the signature"
    print(f"ok {path.name}: {subject[:70]}")
    return None


def main():
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.eml"))
    if not files:
        print(f"no .eml files in {sys.argv[1]}")
        return 2
    for path in files:
        problem = check(path)
        if problem:
            print(f"FAIL {path.name}: {problem}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
