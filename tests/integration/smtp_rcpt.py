#!/usr/bin/env python3
"""tests/integration/smtp_rcpt.py - one SMTP session up to RCPT, with SMTPUTF8 when asked.

swaks (20201014) cannot send SMTPUTF8, so the end-to-end tests send UTF-8 addresses with
this. Usage: smtp_rcpt.py HOST:PORT FROM RCPT... ; --smtputf8 before HOST:PORT adds the
SMTPUTF8 parameter to MAIL FROM (and needs the server to offer it). Every RCPT address is
sent exactly as given, between angle brackets, with no quoting of its own. Prints one line per
RCPT, "RCPT <addr> -> CODE TEXT", and exits 0 once the session ran (whatever the replies),
1 when the connection, EHLO or MAIL FROM failed.
"""
import smtplib
import sys


def main(argv):
    utf8 = False
    if argv and argv[0] == "--smtputf8":
        utf8 = True
        argv = argv[1:]
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 1
    host, port = argv[0].rsplit(":", 1)
    sender, recipients = argv[1], argv[2:]
    try:
        smtp = smtplib.SMTP(host, int(port), local_hostname="client.example", timeout=30)
        code, _ = smtp.ehlo()
        if code != 250:
            print(f"EHLO -> {code}", file=sys.stderr)
            return 1
        params = ""
        if utf8:
            if not smtp.has_extn("smtputf8"):
                print("the server does not offer SMTPUTF8", file=sys.stderr)
                return 1
            smtp.command_encoding = "utf-8"
            params = " SMTPUTF8"
        code, text = smtp.docmd(f"MAIL FROM:<{sender}>{params}")
        if code != 250:
            print(f"MAIL FROM -> {code} {text.decode('utf-8', 'replace')}", file=sys.stderr)
            return 1
        for rcpt in recipients:
            code, text = smtp.docmd(f"RCPT TO:<{rcpt}>")
            print(f"RCPT <{rcpt}> -> {code} {text.decode('utf-8', 'replace')}")
        smtp.docmd("QUIT")
        smtp.close()
    except (OSError, smtplib.SMTPException) as e:
        print(f"SMTP session failed: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
