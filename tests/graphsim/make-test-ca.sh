#!/bin/bash
# make-test-ca.sh OUTDIR - the TLS material for tests against m365gate-graphsim:
#   ca.pem/ca.key          a throwaway test CA (clients trust it through sync.ca_file / --cacert)
#   server.pem/server.key  signed by it, SAN IP:127.0.0.1 and DNS:localhost, valid 30 days
#   wrong-ca.pem           an unrelated CA, for the "server signed by another CA" test
# EC P-256 keys. Idempotent: existing material that still verifies and is valid for another
# day is kept. Files appear by rename, so concurrent runs never see half-written files.
set -euo pipefail

out=${1:?usage: make-test-ca.sh OUTDIR}
mkdir -p "$out"
cd "$out"

if [[ -s ca.pem && -s ca.key && -s server.pem && -s server.key && -s wrong-ca.pem ]] &&
    openssl verify -CAfile ca.pem server.pem >/dev/null 2>&1 &&
    openssl x509 -in server.pem -noout -checkend 86400 >/dev/null 2>&1; then
    exit 0
fi

umask 077
work=$(mktemp -d "./.make-test-ca.XXXXXX")
trap 'rm -rf "$work"' EXIT

new_ca() {  # new_ca NAME CN
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$work/$1.key" -out "$work/$1.pem" -days 30 -subj "/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

new_ca ca "m365gate test CA"
new_ca wrong-ca "m365gate unrelated test CA"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$work/server.key" -out "$work/server.csr" -subj "/CN=localhost" 2>/dev/null
printf '%s\n' \
    "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" \
    "extendedKeyUsage=serverAuth" >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 30 -extfile "$work/server.ext" \
    -out "$work/server.pem" 2>/dev/null

chmod 0644 "$work/ca.pem" "$work/server.pem" "$work/wrong-ca.pem"
# ca.pem last but one and server.pem last: a reader that sees the new server.pem sees its CA.
for f in wrong-ca.pem ca.key server.key ca.pem server.pem; do
    mv -f "$work/$f" "$f"
done
