// The tables of alert texts: both languages explain the same things, templates fill as written.
#include "sync/alert_texts.h"

#include <catch2/catch.hpp>

using namespace m365gate::sync;

TEST_CASE("both languages explain the same token errors, in the same order", "[alerts][texts]") {
    const AlertTexts& en = english_texts();
    const AlertTexts& ja = japanese_texts();
    for (std::size_t i = 0; i < explained_token_errors; ++i) {
        INFO(en.token_errors[i].code);
        CHECK(en.token_errors[i].code == ja.token_errors[i].code);
        CHECK_FALSE(ja.token_errors[i].title.empty());
        CHECK_FALSE(ja.token_errors[i].cause.empty());
        CHECK_FALSE(ja.token_errors[i].action.empty());
    }
}

TEST_CASE("alerts.language picks the table", "[alerts][texts]") {
    CHECK(alert_texts("ja").language == "ja");
    CHECK(alert_texts("en").language == "en");
    CHECK(alert_texts("").language == "en");
}

TEST_CASE("a template is filled in one pass and unknown names stay as written", "[alerts][texts]") {
    CHECK(fill_template("tenant \"{tenant}\" ({tenant_id})",
                        {{"tenant", "contoso"}, {"tenant_id", "1111"}}) ==
          "tenant \"contoso\" (1111)");
    // A value is not scanned again: a tenant named "{tenant_id}" stays that name.
    CHECK(fill_template("{tenant}: {tenant_id}", {{"tenant", "{tenant_id}"}, {"tenant_id", "x"}}) ==
          "{tenant_id}: x");
    CHECK(fill_template("{unknown} and {n}", {{"n", "7"}}) == "{unknown} and 7");
    CHECK(fill_template("no close {brace", {{"brace", "x"}}) == "no close {brace");
    CHECK(fill_template("", {}).empty());
}
