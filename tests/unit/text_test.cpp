// common/text.h: cutting UTF-8 text and the ASCII predicates every part shares.
#include "common/text.h"

#include <catch2/catch.hpp>
#include <string>

using namespace m365gate;

TEST_CASE("utf8_cut_point never splits a character", "[text]") {
    const std::string s =
        "ab\xC3\xA9"
        "c\xE3\x81\x82";  // a b é c あ
    struct Case {
        std::size_t pos, floor, want;
    };
    const Case cases[] = {
        {0, 0, 0}, {2, 0, 2},   // before é
        {3, 0, 2},              // inside é: back to its lead byte
        {4, 0, 4}, {5, 0, 5},   // after é, before あ
        {6, 0, 5}, {7, 0, 5},   // inside あ
        {8, 0, 8}, {99, 0, 8},  // at and past the end
        {7, 6, 6},              // the floor stops the walk back
    };
    for (const auto& c : cases) {
        INFO("pos " << c.pos << " floor " << c.floor);
        CHECK(utf8_cut_point(s, c.pos, c.floor) == c.want);
    }
    // Continuation bytes only (not UTF-8): the cut stays at the floor, never before it.
    CHECK(utf8_cut_point(std::string(10, '\x80'), 5, 2) == 2);
}

TEST_CASE("ASCII predicates and lowering", "[text]") {
    CHECK(is_ascii("Bob@Example.COM"));
    CHECK_FALSE(
        is_ascii("b\xC3\xBC"
                 "cher"));
    CHECK(is_ascii_printable("a b~"));
    CHECK_FALSE(is_ascii_printable("a\tb"));
    CHECK_FALSE(is_ascii_printable("a\x7f"));
    CHECK(ascii_lower("Bob@B\xC3\x9C"
                      "cher.EXAMPLE") ==
          "bob@b\xC3\x9C"
          "cher.example");
}
