// tests/integration/sync_cert_test.cpp - certificate credentials end to end: the real
// m365gate-sync signs client assertions with client_certificate_file and the simulator
// verifies them over real TLS as Entra does (signature with OpenSSL, thumbprint, validity,
// audience); each refusal ends in its own error code, and the certificate's notAfter is the
// expiry the alerts go by.
#include <catch2/catch.hpp>

#include "common/certificate.h"
#include "sync_harness.h"

using namespace sync_test;
using m365gate::store::TenantState;

namespace {

const char* contoso_app =
    "/_sim/tenants/11111111-1111-1111-1111-111111111111/apps/"
    "22222222-2222-2222-2222-222222222222";

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

// A key and certificate valid from `from` for `days`, as one PEM file (0600) in the run's
// directory; returns the certificate.
m365gate::NewCertificate make_cert(SyncRun& run, const std::string& name, std::int64_t from,
                                   int days) {
    m365gate::NewCertificate c = m365gate::make_self_signed_certificate("test " + name, days, from);
    write_file(run.dir / (name + ".pem"), c.key_pem.reveal() + c.cert_pem, 0600);
    return c;
}

void upload(const Simulator& sim, const std::vector<std::string>& pems) {
    json certs = json::array();
    for (const auto& p : pems) {
        certs.push_back({{"pem", p}});
    }
    REQUIRE(sim.call("POST", contoso_app, {{"certificates", certs}}).status == 200);
}

TenantSpec cert_tenant(const SyncRun& run, const std::string& name, const std::string& more = "") {
    TenantSpec spec;
    spec.secret.clear();
    spec.extra =
        "client_certificate_file = \"" + (run.dir / (name + ".pem")).string() + "\"\n" + more;
    return spec;
}

std::vector<json> token_requests(const Simulator& sim) {
    std::vector<json> out;
    for (auto& r : sim.requests()) {
        const std::string target = r["target"];
        if (contains(target, "/oauth2/v2.0/token")) {
            out.push_back(std::move(r));
        }
    }
    return out;
}

// POST the token endpoint with a client assertion; the status and the body.
CurlResult post_assertion(const Simulator& sim, const std::string& assertion) {
    const std::string url = sim.base() + "/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token";
    const std::string form =
        "client_id=22222222-2222-2222-2222-222222222222&scope=" + sim.base() +
        "/.default&grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3A"
        "oauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=" +
        assertion;
    CURL* h = curl_easy_init();
    CurlResult r;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_CAINFO, (ca_dir() / "ca.pem").c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, form.c_str());
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
    if (curl_easy_perform(h) == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    }
    curl_easy_cleanup(h);
    return r;
}

}  // namespace

TEST_CASE("the simulator verifies the signature: one flipped byte is AADSTS700027",
          "[sync][integration][certificate]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const auto cert = make_cert(run, "contoso", now(), 365);
    upload(sim, {cert.cert_pem});
    const std::string aud = sim.base() + "/11111111-1111-1111-1111-111111111111/oauth2/v2.0/token";
    const m365gate::Secret pem(cert.key_pem.reveal() + cert.cert_pem);
    const std::string good =
        m365gate::make_client_assertion(pem, "22222222-2222-2222-2222-222222222222", aud,
                                        m365gate::AssertionAlg::ps256, now())
            .reveal();
    CHECK(post_assertion(sim, good).status == 200);
    std::string bad = good;
    char& c = bad[bad.size() - 10];  // inside the signature
    c = c == 'A' ? 'B' : 'A';
    const CurlResult refused = post_assertion(sim, bad);
    CHECK(refused.status == 401);
    const json body = json::parse(refused.body, nullptr, false);
    CHECK(body["error"] == "invalid_client");
    CHECK(body["error_codes"] == json::array({700027}));
    CHECK(contains(body["error_description"].get<std::string>(),
                   "did not match the expected signature value"));
    // An assertion that expired ten minutes ago (past Entra's 5 minutes of skew).
    const std::string old =
        m365gate::make_client_assertion(pem, "22222222-2222-2222-2222-222222222222", aud,
                                        m365gate::AssertionAlg::rs256, now() - 1200)
            .reveal();
    CHECK(json::parse(post_assertion(sim, old).body)["error_codes"] == json::array({700024}));
}

TEST_CASE("a tenant signs in with a certificate (PS256 and RS256) and is imported",
          "[sync][integration][certificate]") {
    const std::string alg = GENERATE(std::string("PS256"), std::string("RS256"));
    INFO(alg);
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const auto cert = make_cert(run, "contoso", now(), 365);
    upload(sim, {cert.cert_pem});
    run.configure(sim, {cert_tenant(run, "contoso", "assertion_alg = \"" + alg + "\"\n")});
    REQUIRE(run.sync() == 0);
    INFO(run.last_output);
    CHECK(run.addresses() == expected_addresses("contoso"));
    const auto requests = token_requests(sim);
    REQUIRE(!requests.empty());
    const std::string body = requests.front()["body"];
    CHECK(contains(body,
                   "client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-"
                   "type%3Ajwt-bearer"));
    CHECK(contains(body, "client_assertion=ey"));
    CHECK_FALSE(contains(body, "client_secret"));
    // The expiry is the certificate's notAfter; Graph is not asked for it.
    const TenantState st = run.state();
    CHECK(st.secret_expires == m365gate::to_unix(cert.info.not_after));
    CHECK(st.secret_expires_source == "certificate");
    // Neither the key nor an assertion reaches the log.
    const std::string assertion = body.substr(body.find("client_assertion=ey") + 17, 40);
    CHECK_FALSE(contains(run.log(), assertion));
    CHECK_FALSE(contains(run.log(), "PRIVATE KEY"));
    CHECK_FALSE(contains(run.log(), cert.key_pem.reveal().substr(40, 40)));
}

TEST_CASE("a certificate refused by Entra gives its own reason for each cause",
          "[sync][integration][certificate]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const auto good = make_cert(run, "contoso", now(), 365);
    upload(sim, {good.cert_pem});

    SECTION("a certificate the app does not have: AADSTS700027") {
        make_cert(run, "other", now(), 365);
        run.configure(sim, {cert_tenant(run, "other")});
        CHECK(run.sync() != 0);
        INFO(run.last_output);
        CHECK(run.state().last_error_code == "700027");
        CHECK(contains(run.last_output, "event=alert alert=token_refused"));
        CHECK(contains(run.last_output, "code=700027"));
    }
    SECTION("an expired certificate: certificate_expired") {
        const auto old = make_cert(run, "expired", now() - 3 * 86400, 1);
        upload(sim, {good.cert_pem, old.cert_pem});
        run.configure(sim, {cert_tenant(run, "expired")});
        CHECK(run.sync() != 0);
        INFO(run.last_output);
        CHECK(run.state().last_error_code == "certificate_expired");
        CHECK(contains(run.last_output, "code=certificate_expired"));
        CHECK(contains(run.last_output, "event=alert alert=secret_expired"));
    }
    SECTION("an assertion for another audience: AADSTS700023") {
        // The same simulator under another name: the assertion's aud names localhost.
        TenantSpec spec = cert_tenant(run, "contoso");
        spec.login_endpoint = "https://localhost:" + std::to_string(sim.port());
        run.configure(sim, {spec});
        CHECK(run.sync() != 0);
        INFO(run.last_output);
        CHECK(run.state().last_error_code == "700023");
        CHECK(contains(run.last_output, "code=700023"));
    }
}

TEST_CASE("a certificate with 20 days left sends the 30-day expiry alert",
          "[sync][integration][certificate]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const auto cert = make_cert(run, "contoso", now(), 20);
    upload(sim, {cert.cert_pem});
    run.configure(sim, {cert_tenant(run, "contoso")});
    REQUIRE(run.sync() == 0);
    INFO(run.last_output);
    CHECK(contains(run.last_output, "event=alert alert=secret_expiring tenant=contoso days_left="));
    CHECK(contains(run.last_output, "threshold=30"));
    CHECK(contains(run.last_output, "source=certificate"));
    CHECK(contains(run.last_output, "certificate expires in"));
}

TEST_CASE("a new certificate installed while the daemon runs is tried at once on SIGHUP",
          "[sync][integration][certificate][daemon]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const auto first = make_cert(run, "contoso", now(), 365);
    const auto second = m365gate::make_self_signed_certificate("second", 365, now());
    upload(sim, {first.cert_pem, second.cert_pem});
    run.configure(sim, {cert_tenant(run, "contoso")}, "interval = \"1h\"\n", "debug");
    Daemon daemon(run);
    REQUIRE(wait_until([&] { return contains(run.log(), "event=sync kind=full status=ok"); }));
    write_file(run.dir / "contoso.pem", second.key_pem.reveal() + second.cert_pem, 0600);
    run.hand_over();
    daemon.signal(SIGHUP);
    REQUIRE(wait_until([&] { return contains(run.log(), "event=secret_changed status=ok"); }));
    CHECK(wait_until([&] { return contains(run.log(), "alert=secret_accepted"); }));
    // The round that tried it publishes the new expiry after the alert: wait for it.
    CHECK(wait_until(
        [&] { return run.state().secret_expires == m365gate::to_unix(second.info.not_after); }));
    CHECK(daemon.stop() == 0);
    CHECK_FALSE(contains(run.log(), "PRIVATE KEY"));
}

TEST_CASE("check-credential (what cert set runs) accepts the uploaded certificate, refuses another",
          "[sync][integration][certificate]") {
    SyncRun run;
    Simulator sim(run.dir, fixture_args("contoso"));
    const auto good = make_cert(run, "contoso", now(), 365);
    upload(sim, {good.cert_pem});
    make_cert(run, "other", now(), 365);
    run.configure(sim, {cert_tenant(run, "contoso")});
    // m365gate-sync --check-credential --tenant contoso < NAME.pem; the status and its output.
    auto check = [&](const std::string& name, std::string& output) {
        run.hand_over();
        const std::string cmd = std::string("exec '") + M365GATE_SYNC_BIN + "' --config '" +
                                run.config_file().string() +
                                "' --check-credential --tenant contoso < '" +
                                (run.dir / (name + ".pem")).string() + "'";
        const auto before = fs::exists(run.log_file()) ? fs::file_size(run.log_file()) : 0;
        const int rc = wait_exit(spawn({"/bin/sh", "-c", cmd}, run.log_file(), run.env));
        output = read_file(run.log_file()).substr(before);
        return rc;
    };
    std::string out;
    CHECK(check("contoso", out) == 0);
    CHECK(contains(out, "status=accepted"));
    CHECK(check("other", out) == 1);
    INFO(out);
    CHECK(contains(out, "status=refused kind=token code=\"700027\""));
    CHECK_FALSE(contains(run.log(), "PRIVATE KEY"));
    CHECK_FALSE(contains(run.log(), "eyJ"));  // no client assertion (a JWT) in the output
}
