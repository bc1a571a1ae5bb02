#!/bin/bash
# selftest.sh GRAPHSIM WORKDIR [FIXTURES_DIR] - checks m365gate-graphsim from the outside with
# curl and jq, the way the sync worker will see it: token endpoint and its AADSTS errors, paging,
# permissions, delta rounds, stale delta tokens, faults, the request record, the generated
# tenant, clean shutdown. Loopback only. Prints one line per check; exits 1 if any failed.
set -uo pipefail

sim_bin=${1:?usage: selftest.sh GRAPHSIM WORKDIR [FIXTURES_DIR]}
work=${2:?usage: selftest.sh GRAPHSIM WORKDIR [FIXTURES_DIR]}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixtures=${3:-$here/../fixtures}

mkdir -p "$work"
"$here/make-test-ca.sh" "$work/tls" || { echo "FAIL - make-test-ca.sh"; exit 1; }
ca=$work/tls/ca.pem
tmp=$(mktemp -d "$work/run.XXXXXX")
sim_pid=""
cleanup() {
    if [[ -n $sim_pid ]] && kill -0 "$sim_pid" 2>/dev/null; then
        kill "$sim_pid" 2>/dev/null
        wait "$sim_pid" 2>/dev/null
    fi
    [[ -n ${KEEP_TMP:-} ]] || rm -rf "$tmp"
}
trap cleanup EXIT

passed=0
failed=0
expect() {  # expect DESCRIPTION COMMAND... : one check
    local what=$1
    shift
    if "$@"; then
        echo "ok   - $what"
        passed=$((passed + 1))
    else
        echo "FAIL - $what"
        failed=$((failed + 1))
        if [[ -s $tmp/body ]]; then
            echo "       status=${STATUS:-?} body: $(head -c 400 "$tmp/body")"
        fi
    fi
}
eq() { [[ "$1" == "$2" ]]; }

# start_sim ARGS... : starts the simulator on a free port, sets base and foreign_base.
start_sim() {
    rm -f "$tmp/port" "$tmp/foreign-port"
    "$sim_bin" --listen 127.0.0.1:0 --cert "$work/tls/server.pem" --key "$work/tls/server.key" \
        --port-file "$tmp/port" "$@" >"$tmp/sim.out" 2>"$tmp/sim.err" &
    sim_pid=$!
    for _ in $(seq 1 100); do
        [[ -s $tmp/port ]] && break
        kill -0 "$sim_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! -s $tmp/port ]]; then
        echo "FAIL - simulator did not start: $(cat "$tmp/sim.err")"
        exit 1
    fi
    base="https://127.0.0.1:$(cat "$tmp/port")"
    foreign_base=""
    [[ -s $tmp/foreign-port ]] && foreign_base="https://127.0.0.1:$(cat "$tmp/foreign-port")"
    return 0
}

stop_sim() {
    kill -TERM "$sim_pid"
    wait "$sim_pid"
    local rc=$?
    sim_pid=""
    return $rc
}

# call METHOD URL [CURL ARGS...] : sets STATUS; body in $tmp/body, headers in $tmp/headers.
call() {
    local method=$1 url=$2
    shift 2
    STATUS=$(curl -sS --max-time 20 --cacert "$ca" -o "$tmp/body" -D "$tmp/headers" \
        -w '%{http_code}' -X "$method" "$@" "$url" 2>"$tmp/curl.err")
    CURL_RC=$?
}
body() { jq -r "$1" "$tmp/body" 2>/dev/null; }
header() { grep -i "^$1:" "$tmp/headers" | head -1 | cut -d' ' -f2- | tr -d '\r'; }

# token TENANT CLIENT SECRET [SCOPE] [GRANT] : POST to the token endpoint.
token() {
    call POST "$base/$1/oauth2/v2.0/token" -H 'client-request-id: 0f0f0f0f-0000-4000-8000-000000000001' \
        --data-urlencode "client_id=$2" --data-urlencode "client_secret=$3" \
        --data-urlencode "scope=${4:-$base/.default}" \
        --data-urlencode "grant_type=${5:-client_credentials}"
}
graph() {  # graph PATH_AND_QUERY [CURL ARGS...] with the current bearer token
    local target=$1
    shift
    [[ $target == https://* ]] || target="$base$target"
    call GET "$target" -H "Authorization: Bearer $bearer" "$@"
}
control() {  # control METHOD PATH [JSON]
    if [[ $# -ge 3 || $1 == POST || $1 == PATCH ]]; then  # a POST always has a Content-Length
        call "$1" "$base/_sim$2" -H 'Content-Type: application/json' --data-binary "${3:-}"
    else
        call "$1" "$base/_sim$2"
    fi
}
# follow PATH : GET and follow every nextLink; all items in $tmp/items (JSON lines);
# sets PAGES, LAST_LINK (the deltaLink, if any), LINKS_OK (every link on the public base).
follow() {
    local url=$1
    : >"$tmp/items"
    PAGES=0
    LINKS_OK=1
    LAST_LINK=""
    while [[ -n $url ]]; do
        graph "$url"
        if [[ $STATUS != 200 ]]; then
            LINKS_OK=0
            return 1
        fi
        PAGES=$((PAGES + 1))
        jq -c '.value[]' "$tmp/body" >>"$tmp/items"
        url=$(body '."@odata.nextLink" // empty')
        LAST_LINK=$(body '."@odata.deltaLink" // empty')
        for link in $url $LAST_LINK; do
            [[ $link == "$base/"* ]] || LINKS_OK=0
        done
    done
}

contoso=11111111-1111-1111-1111-111111111111
contoso_app=22222222-2222-2222-2222-222222222222
contoso_secret='s3cr3t~contoso~value~0001'

echo "# fixture tenants: contoso + northwind"
start_sim --fixture "$fixtures/contoso.json" --fixture "$fixtures/northwind.json" \
    --record "$tmp/record.jsonl" --delta-page-size 2 \
    --foreign-listen 127.0.0.1:0 --foreign-port-file "$tmp/foreign-port"
expect "prints 'listening on $base'" grep -qx "listening on $base" "$tmp/sim.out"
expect "foreign listener has its own port" test -n "$foreign_base"

echo "# token endpoint"
token "$contoso" "$contoso_app" "$contoso_secret"
expect "token by tenant id: 200 Bearer with expires_in 3599" \
    eq "$STATUS $(body .token_type) $(body .expires_in) $(body .ext_expires_in)" "200 Bearer 3599 3599"
bearer=$(body .access_token)
token contoso.onmicrosoft.com "$contoso_app" "$contoso_secret"
expect "token by tenant alias contoso.onmicrosoft.com: 200" eq "$STATUS" 200
token 33333333-3333-3333-3333-333333333333 44444444-4444-4444-4444-444444444444 'n0rthw1nd~secret~value~01'
expect "northwind token: 200" eq "$STATUS" 200
northwind_bearer=$(body .access_token)

check_aadsts() {  # check_aadsts WHAT STATUS ERROR CODE
    expect "$1: $2 $3 AADSTS$4" eq "$STATUS $(body .error) $(body '.error_codes[0]')" "$2 $3 $4"
    expect "$1: error_description starts with AADSTS$4, has trace/correlation ids" \
        test "$(body '.error_description | startswith("AADSTS'"$4"':")') $(body '.trace_id|length') $(body .correlation_id)" \
        = "true 36 0f0f0f0f-0000-4000-8000-000000000001"
}
token 99999999-9999-9999-9999-999999999999 "$contoso_app" "$contoso_secret"
check_aadsts "unknown tenant" 400 invalid_tenant 90002
token "$contoso" 12345678-1234-1234-1234-123456789012 "$contoso_secret"
check_aadsts "unknown client" 400 unauthorized_client 700016
token "$contoso" "$contoso_app" 'not-the-secret'
check_aadsts "wrong secret" 401 invalid_client 7000215
token "$contoso" "$contoso_app" 'old~contoso~secret~0000'
check_aadsts "expired secret" 401 invalid_client 7000222
token "$contoso" "$contoso_app" "$contoso_secret" "https://graph.microsoft.com/.default"
check_aadsts "scope of another host" 400 invalid_scope 70011
token "$contoso" "$contoso_app" "$contoso_secret" "" password
check_aadsts "grant_type=password" 400 unsupported_grant_type 70003
call POST "$base/$contoso/oauth2/v2.0/token" -u "$contoso_app:$contoso_secret" \
    --data-urlencode "scope=$base/.default" -d grant_type=client_credentials
expect "client secret by HTTP Basic: 200" eq "$STATUS" 200

echo "# Graph basics"
call GET "$base/v1.0/users"
expect "no bearer: 401 InvalidAuthenticationToken" eq "$STATUS $(body .error.code)" "401 InvalidAuthenticationToken"
call GET "$base/v1.0/users" -H "Authorization: Bearer nonsense.token.here"
expect "unknown bearer: 401" eq "$STATUS" 401
graph "/v1.0/users" -H 'client-request-id: 12345678-aaaa-4bbb-8ccc-123456789012'
expect "request-id and echoed client-request-id headers" \
    eq "$(header client-request-id) $(header request-id | wc -c)" "12345678-aaaa-4bbb-8ccc-123456789012 37"
expect "Content-Type application/json" test "$(header content-type | cut -d';' -f1)" = application/json
expect "default page: 7 users, no proxyAddresses unless selected" \
    eq "$(body '.value|length') $(body '[.value[]|has("proxyAddresses")]|any')" "7 false"

follow "/v1.0/users?\$select=id,mail,proxyAddresses,userPrincipalName&\$top=2"
expect "users \$top=2: 4 pages through nextLinks, 7 distinct users" \
    eq "$PAGES $(jq -s 'map(.id)|unique|length' "$tmp/items")" "4 7"
expect "nextLinks are full URLs on the public base" eq "$LINKS_OK" 1
expect "\$select gives only the named properties plus id" \
    eq "$(jq -s 'map(keys|sort|join(","))|unique|join(";")' -r "$tmp/items")" "id,mail,proxyAddresses,userPrincipalName"
graph "/v1.0/users?\$top=1000"
expect "\$top=1000: 400" eq "$STATUS" 400
graph "/v1.0/users?\$select=id,nosuchproperty"
expect "\$select of an unknown property: 400" eq "$STATUS" 400
graph "/v1.0/users?\$skiptoken=garbage"
expect "garbage \$skiptoken: 400 Graph error" eq "$STATUS $(body '.error.code|length > 0')" "400 true"
graph "/v1.0/users?\$top=2"
forged=$(body '."@odata.nextLink"' | sed 's/\(skiptoken=...\)./\1A/; s/skiptoken=\(.*\)x/skiptoken=\1y/')
graph "$forged"
expect "forged \$skiptoken: 400" eq "$STATUS" 400
graph "/v1.0/groups?\$filter=mailEnabled%20eq%20true&\$select=id,mail,proxyAddresses,groupTypes"
expect "groups \$filter=mailEnabled eq true: 3 of 4" eq "$(body '.value|length')" 3
graph "/v1.0/users?\$filter=startswith(mail,'a')"
expect "unsupported \$filter on users: 400" eq "$STATUS" 400
graph "/v1.0/contacts?\$select=id,mail,proxyAddresses"
expect "contacts: 1" eq "$(body '.value|length')" 1
graph "/v1.0/domains"
expect "domains: 5, contoso.onmicrosoft.com isInitial" \
    eq "$(body '.value|length') $(body '.value[]|select(.id=="contoso.onmicrosoft.com").isInitial')" "5 true"
graph "/v1.0/applications?\$filter=appId%20eq%20'$contoso_app'&\$select=id,appId,passwordCredentials"
expect "applications by appId: hints old/s3c, secretText null, endDateTime" \
    eq "$(body '[.value[0].passwordCredentials[]|.hint]|join(",")') $(body '.value[0].passwordCredentials[1].secretText') $(body '.value[0].passwordCredentials[1].endDateTime')" \
    "old,s3c null 2027-11-01T00:00:00Z"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/app.key" -out "$tmp/app.cer" \
    -days 30 -subj "/CN=selftest" 2>/dev/null
control POST "/tenants/$contoso/apps/$contoso_app" \
    "$(jq -n --rawfile pem "$tmp/app.cer" '{certificates: [{pem: $pem}]}')"
expect "an uploaded certificate" eq "$STATUS" 200
graph "/v1.0/applications?\$filter=appId%20eq%20'$contoso_app'&\$select=id,appId,keyCredentials"
thumb=$(openssl x509 -in "$tmp/app.cer" -outform DER | openssl dgst -sha1 -binary | base64)
expect "keyCredentials: the certificate, customKeyIdentifier its SHA-1 thumbprint" \
    eq "$(body '.value[0].keyCredentials[0]|[.type,.usage,.customKeyIdentifier]|join(" ")')" \
    "AsymmetricX509Cert Verify $thumb"
call GET "$base/v1.0/users" -H "Authorization: Bearer $northwind_bearer"
expect "northwind token sees northwind's 3 users" eq "$(body '.value|length')" 3

echo "# permissions"
control POST "/tenants/$contoso/apps/$contoso_app" \
    '{"permissions":["User.Read.All","GroupMember.Read.All","Domain.Read.All","Application.Read.All"]}'
graph "/v1.0/contacts"
expect "OrgContact.Read.All removed: /contacts 403 Authorization_RequestDenied" \
    eq "$STATUS $(body .error.code)" "403 Authorization_RequestDenied"
expect "403 message" eq "$(body .error.message)" "Insufficient privileges to complete the operation."
control POST "/tenants/$contoso/apps/$contoso_app" '{"permissions":["Directory.Read.All"]}'
graph "/v1.0/contacts"
expect "Directory.Read.All covers /contacts" eq "$STATUS" 200
control POST "/tenants/$contoso/apps/$contoso_app" \
    '{"permissions":["User.Read.All","GroupMember.Read.All","OrgContact.Read.All","Domain.Read.All","Application.Read.All"]}'

echo "# delta"
follow "/v1.0/users/delta?\$select=id,mail,proxyAddresses,userPrincipalName"
expect "initial round, page size 2: 4 pages, 7 users, deltaLink on the public base" \
    eq "$PAGES $(wc -l <"$tmp/items") $LINKS_OK $([[ $LAST_LINK == *'$deltatoken='* ]] && echo yes)" "4 7 1 yes"
expect "delta items leave out never-set properties (dave has no mail)" \
    eq "$(jq -s 'map(select(.id=="da7e0000-5c1e-4f6b-9d2a-000000000007"))[0]|has("mail")' "$tmp/items")" false
delta_link=$LAST_LINK
control PATCH "/tenants/$contoso/users/b0b00000-5c1e-4f6b-9d2a-000000000002" \
    '{"mail":"robert.brown@contoso.example","proxyAddresses":["SMTP:robert.brown@contoso.example"]}'
expect "control PATCH bob: 200" eq "$STATUS" 200
control DELETE "/tenants/$contoso/users/ca401000-5c1e-4f6b-9d2a-000000000003"
expect "control DELETE carol: 200" eq "$STATUS" 200
control POST "/tenants/$contoso/users" \
    '{"id":"e1e1e100-5c1e-4f6b-9d2a-000000000008","userPrincipalName":"erin@contoso.example","mail":"erin@contoso.example","proxyAddresses":["SMTP:erin@contoso.example"],"accountEnabled":true,"userType":"Member"}'
expect "control POST erin: 200" eq "$STATUS" 200
control PATCH "/tenants/$contoso/users/b0b00000-5c1e-4f6b-9d2a-000000000002" '{"mail":null}'
follow "$delta_link"
expect "delta round: bob (current state), carol @removed, erin; new deltaLink" \
    eq "$(jq -s -c 'map({id:.id[0:8],mail:(if has("mail") then .mail else "-" end),removed:."@removed".reason})|sort_by(.id)' "$tmp/items") $([[ -n $LAST_LINK ]] && echo link)" \
    '[{"id":"b0b00000","mail":null,"removed":null},{"id":"ca401000","mail":"-","removed":"deleted"},{"id":"e1e1e100","mail":"erin@contoso.example","removed":null}] link'
expect "delta round keeps the initial \$select" \
    eq "$(jq -s -c 'map(select(.id=="e1e1e100-5c1e-4f6b-9d2a-000000000008"))[0]|keys' "$tmp/items")" \
    '["id","mail","proxyAddresses","userPrincipalName"]'
follow "$LAST_LINK"
expect "delta round without changes: empty value and a deltaLink" \
    eq "$(wc -l <"$tmp/items") $([[ -n $LAST_LINK ]] && echo link)" "0 link"
delta_link=$LAST_LINK
graph "/v1.0/groups/delta?\$deltatoken=latest"
expect "groups \$deltatoken=latest: empty page with a deltaLink" \
    eq "$(body '.value|length') $(body '."@odata.deltaLink"|startswith("'"$base"'/v1.0/groups/delta?")')" "0 true"
graph "/v1.0/users/delta?\$deltatoken=AAAAgarbage"
expect "garbage \$deltatoken: 400" eq "$STATUS" 400
control POST "/tenants/$contoso/expire-delta-tokens"
graph "$delta_link"
expect "after expire-delta-tokens: 410 syncStateNotFound with a Location" \
    eq "$STATUS $(body .error.code) $([[ $(header location) == "$base/v1.0/users/delta?"* ]] && echo location)" \
    "410 syncStateNotFound location"
follow "$(header location)"
expect "the Location starts a new initial round (7 objects incl. the tombstone)" \
    eq "$(wc -l <"$tmp/items") $([[ -n $LAST_LINK ]] && echo link)" "8 link"
delta_link=$LAST_LINK
control POST /clock "{\"now\":\"$(date -u -d '+8 days' +%Y-%m-%dT%H:%M:%SZ)\"}"
token "$contoso" "$contoso_app" "$contoso_secret"
bearer=$(body .access_token)
graph "$delta_link"
expect "delta token older than 7 days: 410 syncStateNotFound" eq "$STATUS $(body .error.code)" "410 syncStateNotFound"
control POST /clock '{"now":"2027-12-01T00:00:00Z"}'
graph "/v1.0/users"
expect "clock past the token's lifetime: 401" eq "$STATUS" 401
token "$contoso" "$contoso_app" "$contoso_secret"
check_aadsts "clock past the secret's endDateTime" 401 invalid_client 7000222
control POST /clock "{\"now\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\"}"
token "$contoso" "$contoso_app" "$contoso_secret"
bearer=$(body .access_token)

echo "# faults"
control POST /faults '{"match":"/v1.0/users","type":"status","status":429,"retry_after":7,"count":1}'
graph "/v1.0/users"
expect "429 fault: TooManyRequests with Retry-After: 7" \
    eq "$STATUS $(body .error.code) $(header retry-after)" "429 TooManyRequests 7"
graph "/v1.0/users"
expect "count 1: the next request is served" eq "$STATUS" 200
control POST /faults '{"match":"/v1.0/groups","type":"status","status":503}'
graph "/v1.0/groups"
expect "503 fault without Retry-After" eq "$STATUS $(header retry-after)" "503 "
control POST /faults '{"match":"/v1.0/users","type":"truncate"}'
graph "/v1.0/users"
expect "truncate fault: 200 with a body that is not JSON" \
    test "$STATUS" = 200 -a "$(jq . "$tmp/body" >/dev/null 2>&1 && echo json)" = ""
control POST /faults '{"match":"/v1.0/users","type":"invalid_json"}'
graph "/v1.0/users"
expect "invalid_json fault: 200, not JSON" test "$(jq . "$tmp/body" >/dev/null 2>&1 || echo bad)" = bad
control POST /faults '{"match":"/v1.0/users","type":"reset"}'
graph "/v1.0/users"
expect "reset fault: connection closed without an answer (curl rc $CURL_RC)" test "$STATUS" = 000
control POST /faults '{"match":"/v1.0/users","type":"slow","delay_ms":400}'
start=$(date +%s%N)
graph "/v1.0/users"
elapsed=$((($(date +%s%N) - start) / 1000000))
expect "slow fault: answered after >= 400 ms (${elapsed} ms)" test "$STATUS" = 200 -a "$elapsed" -ge 400
control POST /faults '{"match":"/v1.0/users","type":"foreign_next_link"}'
graph "/v1.0/users?\$top=2"
foreign_link=$(body '."@odata.nextLink"')
expect "foreign_next_link fault: nextLink on the foreign listener" test "${foreign_link#"$foreign_base"/}" != "$foreign_link"
graph "$foreign_link"
expect "foreign listener answers 404" eq "$STATUS" 404
control POST /faults '{"match":"/'"$contoso"'/oauth2","type":"status","status":503,"retry_after":3}'
token "$contoso" "$contoso_app" "$contoso_secret"
expect "token endpoint fault: 503 temporarily_unavailable, Retry-After 3" \
    eq "$STATUS $(body .error) $(header retry-after)" "503 temporarily_unavailable 3"
control POST /faults '{"match":"/v1.0/users","type":"status","status":500,"count":5}'
control DELETE /faults
graph "/v1.0/users"
expect "DELETE /_sim/faults clears pending faults" eq "$STATUS" 200
control POST /faults '{"match":"users","type":"status"}'
expect "bad fault spec: 400" eq "$STATUS" 400
control POST /faults '{"match":"/v1.0/users","type":"endless_paging","tenant":"contoso.onmicrosoft.com","page_size":3,"domain":"contoso.example"}'
expect "endless_paging fault for one tenant (named by alias): 200" eq "$STATUS" 200
call GET "$base/v1.0/users" -H "Authorization: Bearer $northwind_bearer"
expect "endless_paging: another tenant's last page still ends" eq "$STATUS $(body '."@odata.nextLink"')" "200 null"
graph "/v1.0/users/delta?\$deltatoken=latest"
endless=$(body '."@odata.nextLink"')
expect "endless_paging: a real page gets a nextLink to made-up page 1, no deltaLink" \
    eq "$STATUS ${endless#"$base"} $(body '."@odata.deltaLink"')" \
    "200 /v1.0/users/delta?\$skiptoken=graphsim-endless-1 null"
graph "$endless"
expect "endless_paging: made-up page of page_size new objects, nextLink to the next" \
    eq "$STATUS $(body '.value|length') $(body '.value[0].mail') $(body '."@odata.nextLink"' | sed 's/.*skiptoken=//')" \
    "200 3 endless.1-0@contoso.example graphsim-endless-2"
graph "$endless"
expect "endless_paging: stays until DELETE (count not used)" eq "$STATUS $(body '.value|length')" "200 3"
control DELETE /faults
control POST /faults '{"match":"/v1.0/users","type":"endless_paging","tenant":"nowhere.example"}'
expect "endless_paging for an unknown tenant: 400" eq "$STATUS" 400
control POST /faults '{"match":"/'"$contoso"'/oauth2","type":"expires_in"}'
token "$contoso" "$contoso_app" "$contoso_secret"
expect "expires_in fault: the token answer says 2^33 s" \
    eq "$STATUS $(body .expires_in) $(body .ext_expires_in)" "200 8589934592 8589934592"
bearer=$(body .access_token)
token "$contoso" "$contoso_app" "$contoso_secret"
expect "expires_in fault: stays until DELETE" eq "$(body .expires_in)" 8589934592
control DELETE /faults
graph "/v1.0/users"
expect "a token from the expires_in fault works" eq "$STATUS" 200

echo "# request record"
control POST /webhook/alerts '{"text":"secret expires in 14 days"}'
expect "webhook: 200 ok" eq "$STATUS $(body .ok)" "200 true"
control GET /requests
expect "record has the webhook body" \
    eq "$(body '[.[]|select(.target=="/_sim/webhook/alerts")][0].body|fromjson|.text')" "secret expires in 14 days"
expect "record has headers (client-request-id) and listener" \
    eq "$(body '[.[]|select(.headers["client-request-id"]=="12345678-aaaa-4bbb-8ccc-123456789012")][0].listener')" main
expect "record has the foreign request" \
    eq "$(body '[.[]|select(.listener=="foreign")]|length')" 1
expect "record has the token request body" \
    test "$(body '[.[]|select(.method=="POST" and (.target|endswith("/oauth2/v2.0/token")))][0].body|contains("grant_type=client_credentials")')" = true
in_memory=$(body 'length')
expect "record file has every request as a JSON line ($in_memory)" \
    test "$(jq -c . "$tmp/record.jsonl" | wc -l)" -ge "$in_memory"
control DELETE /requests
control GET /requests
expect "DELETE /_sim/requests clears the in-memory record" eq "$(body length)" 0

stop_sim
expect "SIGTERM: exit 0" eq "$?" 0

echo "# generated tenant"
start_sim --users 1000 --groups 30 --contacts 5 --seed 7
token "$contoso" "$contoso_app" generated~secret~value
bearer=$(body .access_token)
expect "generated tenant: token with generated~secret~value" eq "$STATUS" 200
follow "/v1.0/users?\$select=id,mail,proxyAddresses,userPrincipalName,accountEnabled,userType&\$top=999"
expect "1000 users in 2 pages" eq "$PAGES $(jq -s 'map(.id)|unique|length' "$tmp/items")" "2 1000"
expect "each user has exactly 3 SMTP addresses in gen.example/gen2.example" \
    eq "$(jq -s '[.[]|[.proxyAddresses[]|select(test("^smtp:";"i"))|select(test("@gen2?\\.example$"))]|length]|unique|join(",")' -r "$tmp/items")" 3
expect "every 50th user is a shared mailbox, every 100th a guest" \
    eq "$(jq -s '[.[]|select(.accountEnabled==false)]|length' "$tmp/items") $(jq -s '[.[]|select(.userType=="Guest" and (.userPrincipalName|contains("#EXT#")))]|length' "$tmp/items")" "10 10"
follow "/v1.0/groups?\$filter=mailEnabled%20eq%20true&\$select=id,mail"
expect "30 groups: 20 mail-enabled" eq "$(wc -l <"$tmp/items")" 20
graph "/v1.0/contacts"
expect "5 contacts" eq "$(body '.value|length')" 5
follow "/v1.0/users/delta?\$select=id,mail"
expect "generated delta initial round: 1000 users in 5 pages of 200" eq "$PAGES $(wc -l <"$tmp/items")" "5 1000"
gen_id=$(jq -s -r '.[41].id' "$tmp/items")
control PATCH "/tenants/gen.onmicrosoft.com/users/$gen_id" '{"mail":"renamed@gen.example"}'
expect "PATCH a generated user by its id" eq "$STATUS" 200
follow "$LAST_LINK"
expect "delta round shows the patched generated user" \
    eq "$(jq -s -c 'map([.id,.mail])' "$tmp/items")" "[[\"$gen_id\",\"renamed@gen.example\"]]"
stop_sim
expect "SIGTERM: exit 0" eq "$?" 0

echo "# $passed passed, $failed failed"
[[ $failed -eq 0 ]]
