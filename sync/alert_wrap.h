// sync/alert_wrap.h - the layout of an alert body: paragraphs wrapped for reading, headings,
// labelled fields, numbered steps.
//
// Two ways to break lines. English breaks at spaces (and between CJK characters, except
// around the kinsoku characters a line must not start or end with). Japanese never breaks at a
// column, which split words (有効期/限): a line ends only after 。, sentences are packed up to
// the width and a longer one stays whole; mail clients wrap the rest, and build_mail() keeps
// every line below 998 octets (sync/alert_mail.h). Pure: no I/O, no locale.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace m365gate::sync {

// Display columns of a wrapped line; a CJK character counts as 2.
inline constexpr std::size_t wrap_width = 76;

enum class LineBreaking {
    words,      // at spaces, and between CJK characters outside the kinsoku rules
    sentences,  // only after 。 (Japanese)
};

// Greedy wrap of one paragraph. `indent` starts the first line, `hanging` every further one.
std::vector<std::string> wrap_paragraph(std::string_view text, const std::string& indent,
                                        const std::string& hanging, LineBreaking breaking);

// How one language lays out a body.
struct BodyStyle {
    LineBreaking breaking = LineBreaking::words;
    std::string_view heading_prefix;  // put before every heading ("■ " in Japanese notices)
    std::size_t label_column = 0;     // "  Label: " padded to this many octets; 0 = no padding
};

// Collects the lines of a body; text() joins them with '\n'.
class BodyWriter {
public:
    explicit BodyWriter(const BodyStyle& style) : style_(style) {}

    void paragraph(std::string_view text, const std::string& indent = "");  // then a blank line
    void heading(std::string_view text);
    void field(std::string_view label, std::string_view value);
    void step(std::string_view number, std::string_view text);
    void line(std::string text);  // as is, never wrapped (commands, URLs)
    void blank();
    std::string text() const;

private:
    void add(std::vector<std::string> lines);

    const BodyStyle& style_;
    std::vector<std::string> lines_;
};

}  // namespace m365gate::sync
