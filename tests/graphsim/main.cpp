// m365gate-graphsim: the stand-in for login.microsoftonline.com and graph.microsoft.com that
// every m365gate test, benchmark and demo talks to (README.md in this directory is its
// interface). main() parses the command line, loads or generates the tenants, binds the HTTPS
// listeners (one thread pool each), writes the port files and waits for SIGTERM/SIGINT.
#include <httplib.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "simulator.h"

namespace {

constexpr int exit_usage = 64;    // EX_USAGE
constexpr int exit_dataerr = 65;  // EX_DATAERR: a fixture
constexpr int exit_noinput = 66;  // EX_NOINPUT: certificate or key
constexpr int exit_oserr = 71;    // EX_OSERR: bind, files

struct Endpoint {
    std::string host;
    int port = 0;
};

std::optional<Endpoint> parse_endpoint(const std::string& text) {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) {
        return std::nullopt;
    }
    Endpoint e;
    e.host = text.substr(0, colon);
    try {
        std::size_t used = 0;
        e.port = std::stoi(text.substr(colon + 1), &used);
        if (used != text.size() - colon - 1 || e.port < 0 || e.port > 65535) {
            return std::nullopt;
        }
    } catch (const std::exception&) {
        return std::nullopt;
    }
    return e;
}

// Atomically: temp file + rename, so a reader never sees a half-written port.
void write_port_file(const std::string& path, int port) {
    const std::string temp = path + ".tmp." + std::to_string(getpid());
    {
        std::ofstream out(temp, std::ios::trunc);
        out << port << '\n';
        if (!out) {
            throw std::runtime_error(temp + ": cannot write");
        }
    }
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
        throw std::runtime_error(path + ": cannot rename into place");
    }
}

void configure(httplib::SSLServer& server, graphsim::Simulator& sim, graphsim::Listener listener,
               std::size_t threads) {
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_keep_alive_max_count(1000000);
    server.set_keep_alive_timeout(5);  // an idle keep-alive connection holds a pool thread
    const auto handler = [&sim, listener](const httplib::Request& req, httplib::Response& res) {
        try {
            sim.handle(listener, req, res);
        } catch (const std::exception& e) {
            res.status = 500;
            res.set_content(R"({"error":{"code":"graphsimInternalError","message":"see stderr"}})",
                            "application/json");
            std::cerr << "graphsim: internal error on " << req.method << ' ' << req.path << ": "
                      << e.what() << std::endl;
        }
    };
    server.Get(".*", handler);
    server.Post(".*", handler);
    server.Put(".*", handler);
    server.Patch(".*", handler);
    server.Delete(".*", handler);
}

int bind_listener(httplib::SSLServer& server, const Endpoint& endpoint) {
    if (endpoint.port == 0) {
        return server.bind_to_any_port(endpoint.host);
    }
    return server.bind_to_port(endpoint.host, endpoint.port) ? endpoint.port : -1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "m365gate-graphsim: Microsoft identity platform and Microsoft Graph simulator "
        "for m365gate tests (see tests/graphsim/README.md)"};
    std::string listen, cert, key, port_file, record_file, foreign_listen, foreign_port_file,
        now_text;
    std::vector<std::string> fixtures;
    std::size_t users = 0, groups = 0, contacts = 0, threads = 16;
    std::uint64_t seed = 1;
    graphsim::Options options;
    app.add_option("--listen", listen, "HOST:PORT of the HTTPS listener (port 0: any free one)")
        ->required();
    app.add_option("--cert", cert, "server certificate (PEM, chain allowed)")->required();
    app.add_option("--key", key, "server private key (PEM)")->required();
    auto* fixture_opt = app.add_option("--fixture", fixtures, "tenant fixture JSON (repeatable)");
    auto* users_opt = app.add_option("--users", users, "generate a tenant with N users");
    auto* groups_opt = app.add_option("--groups", groups, "... and M groups")->needs(users_opt);
    app.add_option("--contacts", contacts, "... and K org contacts")->needs(users_opt);
    app.add_option("--seed", seed, "seed of the generated ids")->needs(users_opt);
    users_opt->needs(groups_opt);
    app.add_option("--port-file", port_file, "write the port here once listening");
    app.add_option("--record", record_file, "append every request as a JSON line");
    auto* foreign_opt =
        app.add_option("--foreign-listen", foreign_listen, "HOST:PORT of the foreign listener");
    app.add_option("--foreign-port-file", foreign_port_file, "write the foreign port here")
        ->needs(foreign_opt);
    app.add_option("--token-lifetime", options.token_lifetime, "access token lifetime, seconds")
        ->check(CLI::Range(1, 86400 * 365));
    app.add_option("--delta-page-size", options.delta_page_size, "items per delta page")
        ->check(CLI::Range(1, 100000));
    app.add_option("--now", now_text, "start the simulator clock here (ISO 8601)");
    app.add_option("--threads", threads, "worker threads per listener")->check(CLI::Range(1, 256));
    app.add_option("--graph-host", options.graph_hosts,
                   "also serve Graph as https://NAME:PORT, with scope https://NAME:PORT/.default "
                   "(repeatable; a national cloud's graph_endpoint differs from login_endpoint)");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? 0 : exit_usage;  // --help is not an error
    }

    if (fixture_opt->count() == 0 && users_opt->count() == 0) {
        std::cerr << "m365gate-graphsim: give --fixture FILE or --users N --groups M\n";
        return exit_usage;
    }
    const auto main_endpoint = parse_endpoint(listen);
    std::optional<Endpoint> foreign_endpoint;
    if (!main_endpoint) {
        std::cerr << "m365gate-graphsim: --listen wants HOST:PORT, got \"" << listen << "\"\n";
        return exit_usage;
    }
    if (!foreign_listen.empty()) {
        foreign_endpoint = parse_endpoint(foreign_listen);
        if (!foreign_endpoint) {
            std::cerr << "m365gate-graphsim: --foreign-listen wants HOST:PORT\n";
            return exit_usage;
        }
    }
    options.listen_host = main_endpoint->host;

    // SIGTERM/SIGINT are taken by sigwait() below: block them before any thread starts.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    graphsim::Simulator sim(options);
    try {
        const auto started = std::chrono::steady_clock::now();
        for (const auto& file : fixtures) {
            for (auto& tenant : graphsim::load_fixture(file)) {
                sim.add_tenant(std::move(tenant));
            }
        }
        if (users_opt->count() > 0) {
            sim.add_tenant(graphsim::generate_tenant(users, groups, contacts, seed));
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - started)
                                .count();
            std::cerr << "m365gate-graphsim: generated " << users << " users, " << groups
                      << " groups, " << contacts << " contacts in " << ms << " ms\n";
        }
    } catch (const std::exception& e) {
        std::cerr << "m365gate-graphsim: " << e.what() << '\n';
        return exit_dataerr;
    }
    if (!now_text.empty()) {
        const auto now = graphsim::parse_iso8601(now_text);
        if (!now) {
            std::cerr << "m365gate-graphsim: --now is not an ISO 8601 date-time\n";
            return exit_usage;
        }
        sim.clock.set(*now);
    }
    try {
        if (!record_file.empty()) {
            sim.record().open(record_file);
        }
    } catch (const std::exception& e) {
        std::cerr << "m365gate-graphsim: " << e.what() << '\n';
        return exit_oserr;
    }

    httplib::SSLServer main_server(cert.c_str(), key.c_str());
    if (!main_server.is_valid()) {
        std::cerr << "m365gate-graphsim: cannot load certificate " << cert << " / key " << key
                  << '\n';
        return exit_noinput;
    }
    std::unique_ptr<httplib::SSLServer> foreign_server;
    configure(main_server, sim, graphsim::Listener::main, threads);
    const int main_port = bind_listener(main_server, *main_endpoint);
    if (main_port <= 0) {
        std::cerr << "m365gate-graphsim: cannot listen on " << listen << '\n';
        return exit_oserr;
    }
    int foreign_port = 0;
    if (foreign_endpoint) {
        foreign_server = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
        configure(*foreign_server, sim, graphsim::Listener::foreign, 2);
        foreign_port = bind_listener(*foreign_server, *foreign_endpoint);
        if (foreign_port <= 0) {
            std::cerr << "m365gate-graphsim: cannot listen on " << foreign_listen << '\n';
            return exit_oserr;
        }
    }
    sim.set_bases(main_port, foreign_port);

    std::thread main_thread([&] { main_server.listen_after_bind(); });
    std::thread foreign_thread;
    if (foreign_server) {
        foreign_thread = std::thread([&] { foreign_server->listen_after_bind(); });
    }
    int rc = 0;
    try {
        if (foreign_server && !foreign_port_file.empty()) {
            write_port_file(foreign_port_file, foreign_port);
        }
        if (!port_file.empty()) {
            write_port_file(port_file, main_port);
        }
        if (foreign_server) {
            std::cout << "foreign listening on " << sim.foreign_base << '\n';
        }
        std::cout << "listening on " << sim.base << std::endl;
        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
    } catch (const std::exception& e) {
        std::cerr << "m365gate-graphsim: " << e.what() << '\n';
        rc = exit_oserr;
    }
    main_server.stop();
    if (foreign_server) {
        foreign_server->stop();
    }
    main_thread.join();
    if (foreign_thread.joinable()) {
        foreign_thread.join();
    }
    return rc;
}
