// common/days.h - how every m365gate text counts the days left until a secret expires.
//
// One rule for the alerts (sync/alerts.cpp), m365gatectl status / check / check-config and
// secret set: the days left are rounded UP, so a secret that expires in 4 days and 1 hour has
// "5 days" left everywhere, and "N days or fewer" (alerts.secret_days, the check thresholds)
// means at most N * 24 hours. Pure, header-only: ctl/ and sync/ both use it.
#pragma once

#include <cstdint>

namespace m365gate {

inline constexpr std::int64_t seconds_per_day = 86400;

// ceil((expires - now) / 1 day): 1 for anything up to a day, 0 at the moment of expiry,
// -2 for a secret that expired 2 days and 5 seconds ago.
constexpr std::int64_t days_left(std::int64_t expires, std::int64_t now) {
    const std::int64_t left = expires - now;
    return left >= 0 ? (left + seconds_per_day - 1) / seconds_per_day : -(-left / seconds_per_day);
}

}  // namespace m365gate
