// tests/tools/milter_wire.h - the milter wire format (libmilter mfdef.h), both directions: every
// packet is a 32-bit big-endian length (command byte included), a command byte, then the data.
// Shared by the MTA-side client (milter_client.h) and the null milter (bench/null_milter.cpp).
#pragma once

#include <arpa/inet.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace m365gate::testing::wire {

inline void put32(std::string& out, std::uint32_t v) {
    const std::uint32_t be = htonl(v);
    out.append(reinterpret_cast<const char*>(&be), 4);
}

inline std::uint32_t get32(std::string_view in, std::size_t at) {
    std::uint32_t be = 0;
    std::memcpy(&be, in.data() + at, 4);
    return ntohl(be);
}

inline std::string packet(char command, std::string_view data) {
    std::string out;
    put32(out, static_cast<std::uint32_t>(data.size() + 1));
    out.push_back(command);
    out.append(data);
    return out;
}

}  // namespace m365gate::testing::wire
