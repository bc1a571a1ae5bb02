// sync/alert_texts.cpp - the language choice and the one template filler.
#include "sync/alert_texts.h"

#include <algorithm>

namespace m365gate::sync {

const AlertTexts& alert_texts(std::string_view language) {
    return language == "ja" ? japanese_texts() : english_texts();
}

std::string fill_template(std::string_view text, TemplateValues values) {
    std::string out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t open = text.find('{', pos);
        if (open == std::string_view::npos) {
            break;
        }
        const std::size_t close = text.find('}', open);
        if (close == std::string_view::npos) {
            break;
        }
        const std::string_view name = text.substr(open + 1, close - open - 1);
        const auto value = std::find_if(values.begin(), values.end(),
                                        [&](const auto& v) { return v.first == name; });
        out.append(text.substr(pos, open - pos));
        if (value != values.end()) {
            out.append(value->second);
            pos = close + 1;
        } else {
            out.push_back('{');
            pos = open + 1;
        }
    }
    out.append(text.substr(pos));
    return out;
}

}  // namespace m365gate::sync
