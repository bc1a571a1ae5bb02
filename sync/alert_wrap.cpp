// sync/alert_wrap.cpp - greedy line filling over units that may or may not be broken apart.
#include "sync/alert_wrap.h"

#include <algorithm>
#include <iterator>

namespace m365gate::sync {
namespace {

std::size_t utf8_length(unsigned char lead) {
    if (lead < 0x80) {
        return 1;
    }
    if ((lead >> 5) == 0x6) {
        return 2;
    }
    if ((lead >> 4) == 0xe) {
        return 3;
    }
    if ((lead >> 3) == 0x1e) {
        return 4;
    }
    return 1;  // stray continuation byte: one unit, never split further
}

bool is_japanese_stop(std::string_view ch) { return ch == "。"; }

// Characters a line must not start with (kinsoku), and ones it must not end with.
bool no_break_before(std::string_view ch) {
    static const char* const list[] = {"、", "。", "，", "．", "）", "」", "』", "】", "！",
                                       "？", "ー", "・", "：", "ぁ", "ぃ", "ぅ", "ぇ", "ぉ",
                                       "っ", "ゃ", "ゅ", "ょ", "ッ", "ャ", "ュ", "ョ", "］",
                                       "]",  ")",  ",",  ".",  ":",  ";",  "!",  "?"};
    return std::any_of(std::begin(list), std::end(list), [&](const char* c) { return ch == c; });
}
bool no_break_after(std::string_view ch) {
    return ch == "（" || ch == "「" || ch == "『" || ch == "【" || ch == "［" || ch == "[" ||
           ch == "(";
}

// An ASCII word or one non-ASCII character.
struct Unit {
    std::string text;
    std::size_t width = 0;
    bool space_before = false;
    bool glue_before = false;  // no line break allowed before this unit
};

bool may_break_between(const Unit& previous, const Unit& next, LineBreaking breaking) {
    if (breaking == LineBreaking::sentences) {
        return is_japanese_stop(previous.text);
    }
    if (next.space_before) {
        return true;
    }
    const bool ascii_after_ascii = static_cast<unsigned char>(next.text[0]) < 0x80 &&
                                   static_cast<unsigned char>(previous.text[0]) < 0x80;
    return !(ascii_after_ascii || no_break_before(next.text) || no_break_after(previous.text));
}

// ASCII words end at a space or at a non-ASCII character; every non-ASCII character is a unit
// of its own (width 2 when it takes three or more octets: CJK).
std::vector<Unit> split_units(std::string_view text, LineBreaking breaking) {
    std::vector<Unit> units;
    bool pending_space = false;
    for (std::size_t i = 0; i < text.size();) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == ' ') {
            pending_space = true;
            ++i;
            continue;
        }
        Unit u;
        u.space_before = pending_space;
        pending_space = false;
        if (c < 0x80) {
            std::size_t j = i;
            while (j < text.size() && text[j] != ' ' &&
                   static_cast<unsigned char>(text[j]) < 0x80) {
                ++j;
            }
            u.text = std::string(text.substr(i, j - i));
            u.width = u.text.size();
            i = j;
        } else {
            const std::size_t n = std::min(utf8_length(c), text.size() - i);
            u.text = std::string(text.substr(i, n));
            u.width = n >= 3 ? 2 : 1;
            i += n;
        }
        u.glue_before = !units.empty() && !may_break_between(units.back(), u, breaking);
        units.push_back(std::move(u));
    }
    return units;
}

// Glued units form unbreakable chunks; chunks fill lines up to wrap_width. A chunk wider than
// a line gets a line of its own.
std::vector<std::string> fill_lines(const std::vector<Unit>& units, const std::string& indent,
                                    const std::string& hanging) {
    std::vector<std::string> lines;
    std::string line = indent;
    std::size_t width = indent.size();
    bool line_empty = true;
    std::size_t k = 0;
    while (k < units.size()) {
        std::size_t end = k + 1;
        while (end < units.size() && units[end].glue_before) {
            ++end;
        }
        std::string chunk;
        std::size_t chunk_width = 0;
        for (std::size_t m = k; m < end; ++m) {
            if (m > k && units[m].space_before) {  // a space inside a chunk (Japanese) stays
                chunk += ' ';
                ++chunk_width;
            }
            chunk += units[m].text;
            chunk_width += units[m].width;
        }
        const bool space = units[k].space_before && !line_empty;
        if (!line_empty && width + (space ? 1 : 0) + chunk_width > wrap_width) {
            lines.push_back(line);
            line = hanging;
            width = hanging.size();
            line_empty = true;
        }
        if (units[k].space_before && !line_empty) {
            line += ' ';
            ++width;
        }
        line += chunk;
        width += chunk_width;
        line_empty = false;
        k = end;
    }
    if (!line_empty || lines.empty()) {
        lines.push_back(line);
    }
    return lines;
}

}  // namespace

std::vector<std::string> wrap_paragraph(std::string_view text, const std::string& indent,
                                        const std::string& hanging, LineBreaking breaking) {
    return fill_lines(split_units(text, breaking), indent, hanging);
}

void BodyWriter::add(std::vector<std::string> lines) {
    for (auto& l : lines) {
        lines_.push_back(std::move(l));
    }
}

void BodyWriter::paragraph(std::string_view text, const std::string& indent) {
    add(wrap_paragraph(text, indent, indent, style_.breaking));
    lines_.emplace_back();
}

void BodyWriter::heading(std::string_view text) {
    lines_.push_back(std::string(style_.heading_prefix) + std::string(text));
}

void BodyWriter::field(std::string_view label, std::string_view value) {
    std::string head = "  " + std::string(label) + ": ";
    if (head.size() < style_.label_column) {
        head.append(style_.label_column - head.size(), ' ');
    }
    add(wrap_paragraph(value, head, "      ", style_.breaking));
}

void BodyWriter::step(std::string_view number, std::string_view text) {
    add(wrap_paragraph(text, "  " + std::string(number) + " ", "     ", style_.breaking));
}

void BodyWriter::line(std::string text) { lines_.push_back(std::move(text)); }

void BodyWriter::blank() { lines_.emplace_back(); }

std::string BodyWriter::text() const {
    std::string out;
    for (const auto& l : lines_) {
        out += l;
        out += '\n';
    }
    return out;
}

}  // namespace m365gate::sync
