// store/runs.cpp - see runs.h.
#include "store/runs.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "store/store.h"

namespace m365gate::store::detail {

namespace {

constexpr std::size_t read_buffer_bytes = 256u << 10;  // per spilled run while merging

}  // namespace

void Run::sort() {
    std::sort(offsets_.begin(), offsets_.end(), [&](std::size_t a, std::size_t b) {
        const auto ka = key_at(a), kb = key_at(b);
        return ka != kb ? ka < kb : a < b;
    });
}

std::string Run::serialise_unique(bool combine) const {
    std::string out;
    out.reserve(arena_.size());
    const auto emit = [&](std::string_view k, std::string_view v) {
        append_u32(out, static_cast<std::uint32_t>(k.size()));
        out.append(k);
        append_u32(out, static_cast<std::uint32_t>(v.size()));
        out.append(v);
    };
    std::size_t i = 0;
    while (i < offsets_.size()) {
        const auto k = key(i);
        std::size_t j = i + 1;
        if (!combine) {
            while (j < offsets_.size() && key(j) == k) ++j;
            emit(k, value(i));
        } else {
            std::string v(value(i));
            for (; j < offsets_.size() && key(j) == k; ++j) v = combine_objects(v, value(j));
            emit(k, v);
        }
        i = j;
    }
    return out;
}

void Run::clear() {
    arena_.clear();
    arena_.shrink_to_fit();
    offsets_.clear();
    offsets_.shrink_to_fit();
}

std::string combine_objects(std::string_view a, std::string_view b) {
    std::vector<std::string_view> all;
    for (std::string_view list : {a.substr(1), b.substr(1)}) {
        while (!list.empty()) {
            const auto nl = list.find('\n');
            all.push_back(list.substr(0, nl));
            if (nl == std::string_view::npos) break;
            list.remove_prefix(nl + 1);
        }
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    std::string out(1, a.empty() ? char(ObjectKind::user) : a.front());
    for (std::size_t i = 0; i < all.size(); ++i) {
        if (i != 0) out.push_back('\n');
        out.append(all[i]);
    }
    return out;
}

bool Source::next() {
    if (run_ != nullptr) {
        if (index_ >= run_->size()) return false;
        key_ = run_->key(index_);
        value_ = run_->value(index_);
        ++index_;
        return true;
    }
    pos_ += consumed_;
    consumed_ = 0;
    if (!ensure(8)) return false;
    const std::uint32_t klen = read_u32(buffer_.data() + pos_);
    if (!ensure(8 + std::size_t(klen))) corrupt();
    const std::uint32_t vlen = read_u32(buffer_.data() + pos_ + 4 + klen);
    if (!ensure(8 + std::size_t(klen) + vlen)) corrupt();
    key_ = std::string_view(buffer_.data() + pos_ + 4, klen);
    value_ = std::string_view(buffer_.data() + pos_ + 8 + klen, vlen);
    consumed_ = 8 + std::size_t(klen) + vlen;
    return true;
}

bool Source::ensure(std::size_t n) {
    while (buffer_.size() - pos_ < n) {
        if (read_ >= extent_.length) return false;
        if (pos_ != 0) {
            buffer_.erase(0, pos_);
            pos_ = 0;
        }
        const std::size_t want = static_cast<std::size_t>(
            std::min<std::uint64_t>(std::max(read_buffer_bytes, n), extent_.length - read_));
        const std::size_t had = buffer_.size();
        buffer_.resize(had + want);
        const ssize_t got =
            ::pread(fd_, buffer_.data() + had, want, static_cast<off_t>(extent_.offset + read_));
        if (got < 0 && errno == EINTR) {
            buffer_.resize(had);
            continue;
        }
        if (got <= 0) {
            throw StoreError(StoreError::Kind::io,
                             "cannot read the rebuild spill file in " + dir_.string() + ": " +
                                 (got < 0 ? std::strerror(errno) : "unexpected end"));
        }
        buffer_.resize(had + static_cast<std::size_t>(got));
        read_ += static_cast<std::uint64_t>(got);
    }
    return true;
}

void Source::corrupt() const {
    throw StoreError(StoreError::Kind::io,
                     "the rebuild spill file in " + dir_.string() + " is inconsistent");
}

Merger::Merger(std::vector<Source> sources, bool combine)
    : sources_(std::move(sources)), combine_(combine) {
    for (std::size_t i = 0; i < sources_.size(); ++i) {
        if (sources_[i].next()) push(i);
    }
}

bool Merger::next() {
    if (heap_.empty()) return false;
    std::size_t i = pop();
    key_.assign(sources_[i].key());
    value_.assign(sources_[i].value());
    if (sources_[i].next()) push(i);
    while (!heap_.empty() && sources_[heap_.front()].key() == key_) {
        i = pop();
        if (combine_) value_ = combine_objects(value_, sources_[i].value());
        if (sources_[i].next()) push(i);
    }
    return true;
}

void Merger::push(std::size_t i) {
    heap_.push_back(i);
    std::push_heap(heap_.begin(), heap_.end(),
                   [this](std::size_t a, std::size_t b) { return later(a, b); });
}

std::size_t Merger::pop() {
    std::pop_heap(heap_.begin(), heap_.end(),
                  [this](std::size_t a, std::size_t b) { return later(a, b); });
    const std::size_t i = heap_.back();
    heap_.pop_back();
    return i;
}

}  // namespace m365gate::store::detail
