// sync/alert_message.cpp - alert texts (en, ja), webhook JSON, the RFC 5322 message.
//
// The Japanese texts follow the habits of Japanese operator notices: a one-line summary,
// "■" section headings, the Entra admin center's own Japanese labels in [brackets], polite
// です/ます form, and no machine translation of key names (config keys stay as written).
// Japanese paragraphs are never cut at a column (that split words: 有効期/限); a line ends
// only after 。 (sentences are packed up to the width, a longer one stays whole), and mail
// clients wrap the rest (lines stay far below 998 octets; fold_long_lines guarantees it).
#include "sync/alert_message.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/log.h"

namespace m365gate::sync {
namespace {

constexpr std::size_t wrap_width = 76;  // display columns; a CJK character counts as 2

bool is_japanese_stop(std::string_view ch) { return ch == "。"; }

const char* pick(bool ja, const char* en, const char* jp) { return ja ? jp : en; }

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    std::size_t pos = 0;
    while ((pos = s.find(from, pos)) != std::string::npos) {
        s.replace(pos, from.size(), to);
        pos += to.size();
    }
    return s;
}

// "24h", "6h", "90m", "2d" (en) / "24時間", "2日" (ja).
std::string duration_text(Seconds d, bool ja) {
    const auto s = d.count();
    if (s >= 2 * 86400 && s % 86400 == 0) {
        return std::to_string(s / 86400) + pick(ja, "d", "日");
    }
    if (s > 0 && s % 3600 == 0) {
        return std::to_string(s / 3600) + pick(ja, "h", "時間");
    }
    if (s > 0 && s % 60 == 0) {
        return std::to_string(s / 60) + pick(ja, "m", "分");
    }
    return std::to_string(s) + pick(ja, "s", "秒");
}

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

// Greedy wrap of one paragraph: ASCII words break at spaces, CJK text between any two
// characters except around the kinsoku characters above. With `ja`, a line may break only
// after 。 (a sentence longer than the width stays whole). `indent` starts every line;
// `hanging` replaces it on continuation lines.
std::vector<std::string> wrap(std::string_view text, const std::string& indent,
                              const std::string& hanging, bool ja) {
    struct Unit {
        std::string text;
        std::size_t width = 0;
        bool space_before = false;
        bool glue_before = false;  // no line break allowed before this unit
    };
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
        if (ja) {
            u.glue_before = !units.empty() && !is_japanese_stop(units.back().text);
        } else if (!units.empty() && !u.space_before) {
            const bool ascii_after_ascii = static_cast<unsigned char>(u.text[0]) < 0x80 &&
                                           static_cast<unsigned char>(units.back().text[0]) < 0x80;
            u.glue_before =
                ascii_after_ascii || no_break_before(u.text) || no_break_after(units.back().text);
        }
        units.push_back(std::move(u));
    }
    // Group glued units into unbreakable chunks, then fill lines.
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
            if (m > k && units[m].space_before) {  // a space inside a chunk (ja) stays
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

class Body {
public:
    explicit Body(bool ja) : ja_(ja) {}
    void para(std::string_view text, const std::string& indent = "") {
        for (auto& l : wrap(text, indent, indent, ja_)) {
            lines_.push_back(std::move(l));
        }
        lines_.emplace_back();
    }
    void heading(std::string_view en, std::string_view jp) {
        lines_.push_back(ja_ ? "■ " + std::string(jp) : std::string(en));
    }
    void field(std::string_view label, std::string_view value) {
        std::string head = "  " + std::string(label) + ": ";
        if (!ja_) {
            while (head.size() < 28) {
                head += ' ';
            }
        }
        for (auto& l : wrap(value, head, "      ", ja_)) {
            lines_.push_back(std::move(l));
        }
    }
    void item(std::string_view number, std::string_view text) {
        for (auto& l : wrap(text, "  " + std::string(number) + " ", "     ", ja_)) {
            lines_.push_back(std::move(l));
        }
    }
    void raw(std::string line) { lines_.push_back(std::move(line)); }
    void blank() { lines_.emplace_back(); }
    std::string text() const {
        std::string out;
        for (const auto& l : lines_) {
            out += l;
            out += '\n';
        }
        return out;
    }

private:
    bool ja_;
    std::vector<std::string> lines_;
};

struct Context {
    const Config& cfg;
    const TenantConfig& tenant;
    const AlertFacts& facts;
    const TimeZone& tz;
    const std::string& host;
    bool ja = false;
};

std::string when(const Context& c, std::int64_t t) { return format_local(c.tz, t); }

// "2027-01-31 09:00 JST" for subjects (no zone name).
std::string when_short(const Context& c, std::int64_t t) {
    const std::string full = format_local(c.tz, t);
    const auto paren = full.find(" (");
    return paren == std::string::npos ? full : full.substr(0, paren);
}

std::string subject_prefix(const Context& c) { return "[m365gate] " + c.tenant.name + ": "; }

std::string days_text(int days, bool ja) {
    if (ja) {
        return std::to_string(days) + "日";
    }
    return std::to_string(days) + (days == 1 ? " day" : " days");
}

std::string source_text(const std::string& source, bool ja) {
    if (source == "credential_file") {
        return pick(ja, "the credential file (expires = ...)", "資格情報ファイル（expires の値）");
    }
    if (source == "config") {
        return pick(ja, "client_secret_expires in m365gate.toml",
                    "m365gate.toml の client_secret_expires");
    }
    if (source == "graph") {
        return pick(ja, "Microsoft Graph (the app's passwordCredentials)",
                    "Microsoft Graph（アプリの passwordCredentials）");
    }
    return pick(ja, "unknown", "不明");
}

std::string verdict_policy_text(Verdict v, bool ja) {
    switch (v) {
        case Verdict::reject:
            return pick(ja,
                        "(milter.on_stale = reject): addresses not on the last list keep being "
                        "rejected (550 5.1.1).",
                        "現在の設定は milter.on_stale = reject "
                        "です。最後に取得したリストにないアドレス宛てのメールは、引き続き拒否（550 "
                        "5.1.1）されます。");
        case Verdict::tempfail:
            return pick(ja,
                        "(milter.on_stale = tempfail): addresses not on the last list get a "
                        "temporary failure (451 4.3.0); senders keep retrying and bounce the "
                        "mail when their queue lifetime runs out.",
                        "現在の設定は milter.on_stale = tempfail "
                        "です。最後に取得したリストにないアドレス宛てのメールは一時エラー（451 "
                        "4.3.0）となり、送信元サーバーは再送を繰り返した後、保持期限を過ぎると"
                        "差出人にエラーとして返送します。");
        case Verdict::accept:
            return pick(ja,
                        "(milter.on_stale = accept): addresses not on the last list are accepted "
                        "without checking, and Microsoft 365 bounces mail for addresses that do "
                        "not exist.",
                        "現在の設定は milter.on_stale = accept "
                        "です。最後に取得したリストにないアドレス宛てのメールも確認せずに受け付ける"
                        "ため、存在しないアドレス宛てのメールは Microsoft 365 "
                        "側でエラーとして返送されます。");
    }
    return {};
}

std::string unavailable_text(Verdict v, bool ja) {
    switch (v) {
        case Verdict::tempfail:
            return pick(ja, "a temporary failure (451 4.3.0); senders retry",
                        "一時エラー（451 4.3.0）となり、送信元サーバーが再送します");
        case Verdict::accept:
            return pick(ja, "accepted without checking", "確認せずに受け付けられます");
        case Verdict::reject:
            return pick(ja, "rejected", "拒否されます");
    }
    return {};
}

// What happens to mail: `future` for a secret that has not expired yet.
std::string impact_text(const Context& c, bool future) {
    const bool ja = c.ja;
    const std::string stale = duration_text(c.cfg.sync.stale_after, ja);
    const std::string policy = verdict_policy_text(c.cfg.decision.on_stale, ja);
    if (!future && c.facts.last_success == 0) {
        const std::string v = unavailable_text(c.cfg.decision.on_cache_unavailable, ja);
        return ja ? "このテナントはまだ一度も同期に成功していないため、m365gate "
                    "には受信者リストがありません。このテナントのドメイン宛てのメールは、"
                    "milter.on_cache_unavailable の設定により" +
                        v + "。"
                  : "This tenant has never synced successfully, so m365gate has no recipient "
                    "list for it: mail to its domains is " +
                        v + " (milter.on_cache_unavailable).";
    }
    if (future) {
        return ja ? "有効期限が切れると、m365gate-sync が Microsoft 365 "
                    "にサインインできなくなり、このテナントの受信者リストが更新されなくなります。"
                    "リストに登録済みのアドレス宛てのメールはこれまでどおり受け付けますが、"
                    "その後に追加されたユーザー、グループ、エイリアス宛てのメールは"
                    "「存在しない宛先」として拒否されます。最後に同期に成功してから "
                    "sync.stale_after（" +
                        stale +
                        "）を過ぎると、リストが古くなったときの扱いを決める milter.on_stale "
                        "の設定が適用されます。" +
                        policy
                  : "When the secret expires, m365gate-sync can no longer sign in to "
                    "Microsoft 365 and the recipient list of this tenant stops updating. Mail "
                    "to addresses already on the list keeps being accepted, but users, groups "
                    "and aliases created after that are rejected as unknown recipients. Once "
                    "the last successful sync is older than sync.stale_after (" +
                        stale + "), the stale policy applies " + policy;
    }
    const std::string last = when_short(c, c.facts.last_success);
    return ja ? "この問題が解消されるまで、このテナントの受信者リストは更新されません。"
                "リストに登録済みのアドレス宛てのメールはこれまでどおり受け付けますが、"
                "最後に同期に成功した " +
                    last +
                    " 以降に追加されたユーザー、グループ、エイリアス宛てのメールは"
                    "「存在しない宛先」として拒否されます。最後に同期に成功してから "
                    "sync.stale_after（" +
                    stale +
                    "）を過ぎると、リストが古くなったときの扱いを決める milter.on_stale "
                    "の設定が適用されます。" +
                    policy
              : "Until this is fixed, the recipient list of this tenant is not updated. Mail "
                "to addresses already on the list keeps being accepted, but users, groups and "
                "aliases created since the last successful sync (" +
                    last +
                    ") are rejected as unknown recipients. Once the last successful sync is "
                    "older than sync.stale_after (" +
                    stale + "), the stale policy applies " + policy;
}

void identity(Body& b, const Context& c) {
    if (c.ja) {
        b.field("テナント", c.tenant.name);
        b.field("テナント ID", c.tenant.tenant_id);
        b.field("アプリケーション (クライアント) ID", c.tenant.client_id);
    } else {
        b.field("Tenant", c.tenant.name);
        b.field("Tenant id", c.tenant.tenant_id);
        b.field("Application (client) id", c.tenant.client_id);
    }
}

void expiry_fields(Body& b, const Context& c, bool with_days_left) {
    const bool ja = c.ja;
    b.field(pick(ja, "Secret expires", "有効期限"), when(c, c.facts.secret_expires));
    if (with_days_left) {
        b.field(pick(ja, "Days left", "残り日数"), days_text(c.facts.days_left, ja));
    }
    b.field(pick(ja, "Expiry date from", "有効期限の取得元"),
            source_text(c.facts.secret_expires_source, ja));
}

void renew_steps(Body& b, const Context& c) {
    const bool ja = c.ja;
    b.heading("How to renew the secret:", "シークレットの更新手順");
    if (ja) {
        b.item("1.",
               "Microsoft Entra 管理センターで [アプリの登録] → 該当のアプリ（アプリケーション "
               "(クライアント) ID: " +
                   c.tenant.client_id +
                   "）→ [証明書とシークレット] → [新しいクライアント シークレット] "
                   "を開き、新しいシークレットを作成します。作成直後に一度だけ表示される「値」を"
                   "コピーしてください（「シークレット ID」ではありません）。");
        b.item("2.",
               "このゲートウェイで次のコマンドを実行し、コピーした値を標準入力から登録します。");
        b.raw("       m365gatectl secret set --tenant " + c.tenant.name +
              " --expires <新しいシークレットの有効期限>");
        b.item(
            "3.",
            "m365gate-sync が新しいシークレットでのトークン取得を直ちに試し、使用できるかどうかを"
            "通知します。");
        b.item("4.",
               "新しいシークレットで問題なく同期できることを確認したら、古いシークレットを Entra "
               "管理センターで削除してください。");
        b.blank();
        b.heading("", "アプリの資格情報ページ");
    } else {
        b.item("1.",
               "In the Microsoft Entra admin center, go to App registrations → the app "
               "(application id " +
                   c.tenant.client_id +
                   ") → Certificates & secrets → New client secret. Copy the secret's Value "
                   "(not the Secret ID); it is shown only once.");
        b.item("2.", "On this gateway, install it (the secret is read from standard input):");
        b.raw("       m365gatectl secret set --tenant " + c.tenant.name +
              " --expires <expiry date of the new secret>");
        b.item("3.",
               "m365gate-sync tries the new secret at once and sends a notice saying whether "
               "it works.");
        b.item("4.", "Once it works, delete the old secret in the Entra admin center.");
        b.blank();
        b.heading("Credentials page of the application:", "");
    }
    b.raw("  " + credentials_url(c.tenant.client_id));
    b.blank();
}

void footer(Body& b, const Context& c) {
    b.raw("-- ");
    if (c.ja) {
        b.para(
            "このメールは " + c.host +
            " の m365gate-sync から自動送信されています。同じ内容の通知は一度だけ送信されます。");
    } else {
        b.para("Sent by m365gate-sync on " + c.host + ". Each notice is sent once.");
    }
}

// ---- token errors -------------------------------------------------------------------------

struct TokenText {
    const char* code;
    const char* en_title;
    const char* ja_title;
    const char* en_cause;
    const char* ja_cause;
    const char* en_action;
    const char* ja_action;
    bool renew;  // the renewal steps are the fix
};

const TokenText token_texts[] = {
    {"7000222", "the client secret has expired", "クライアントシークレットの有効期限切れ",
     "Entra ID refused the client secret because it has expired (AADSTS7000222).",
     "クライアントシークレットの有効期限が切れているため、Entra ID "
     "がサインインを拒否しました（AADSTS7000222）。",
     "Create a new client secret and install it as described below.",
     "以下の手順で新しいクライアントシークレットを作成し、登録してください。", true},
    {"7000215", "the client secret is invalid", "クライアントシークレットが正しくありません",
     "Entra ID does not accept the configured client secret (AADSTS7000215). Most often the "
     "secret's Secret ID (a GUID) was installed instead of its Value, the value was mistyped "
     "or cut off, or it belongs to another application.",
     "設定されているクライアントシークレットを Entra ID "
     "が受け付けませんでした（AADSTS7000215）。多くの場合、シークレットの「値」ではなく"
     "「シークレット ID」（GUID 形式）を登録している、値の一部が欠けている・誤っている、"
     "または別のアプリのシークレットを登録していることが原因です。",
     "Install the secret's Value (not the Secret ID). If the value is no longer at hand, "
     "create a new client secret as described below; Entra shows a value only once.",
     "シークレットの「値」（「シークレット ID」ではありません）を登録し直してください。"
     "値が手元にない場合は、以下の手順で新しいクライアントシークレットを作成してください"
     "（値は作成直後に一度だけ表示されます）。",
     true},
    {"700016", "the application was not found", "アプリケーションが見つかりません",
     "Entra ID found no application with client id {client_id} in tenant {tenant_id} "
     "(AADSTS700016). The client_id in m365gate.toml is wrong, the app is registered in "
     "another tenant, tenant_id names another tenant, or login_endpoint belongs to another "
     "cloud (global vs. national cloud).",
     "Entra ID のテナント {tenant_id} に、クライアント ID {client_id} "
     "のアプリケーションが見つかりませんでした（AADSTS700016）。m365gate.toml の client_id "
     "の誤り、アプリが別のテナントに登録されている、tenant_id "
     "が別のテナントを指している、または login_endpoint "
     "が別のクラウド（グローバル／国別クラウド）を指していることが考えられます。",
     "Compare client_id and tenant_id of [[tenant]] \"{tenant}\" in m365gate.toml with the "
     "app's Overview page in the Entra admin center, check login_endpoint and graph_endpoint "
     "for the tenant's cloud, then reload m365gate-sync (m365gatectl reload).",
     "m365gate.toml の [[tenant]] \"{tenant}\" の client_id と tenant_id を Entra "
     "管理センターのアプリの [概要] ページと照合し、login_endpoint と graph_endpoint "
     "がテナントのクラウドに合っているか確認してください。修正後、m365gatectl reload で "
     "m365gate-sync をリロードしてください。",
     false},
    {"90002", "the tenant was not found", "テナントが見つかりません",
     "Entra ID does not know the tenant {tenant_id} (AADSTS90002). The tenant_id in "
     "m365gate.toml is wrong, or the tenant lives in another cloud than login_endpoint.",
     "Entra ID にテナント {tenant_id} が見つかりませんでした（AADSTS90002）。m365gate.toml "
     "の tenant_id が誤っているか、テナントが login_endpoint "
     "とは別のクラウドにあることが考えられます。",
     "Compare tenant_id of [[tenant]] \"{tenant}\" with Entra admin center → Overview → "
     "Tenant ID, check login_endpoint for the tenant's cloud, then reload m365gate-sync "
     "(m365gatectl reload).",
     "m365gate.toml の [[tenant]] \"{tenant}\" の tenant_id を Entra 管理センターの [概要] "
     "→ [テナント ID] と照合し、login_endpoint "
     "がテナントのクラウドに合っているか確認してください。修正後、m365gatectl reload で "
     "m365gate-sync をリロードしてください。",
     false},
    {"7000112", "the application is disabled", "アプリケーションが無効化されています",
     "Entra ID refused the sign-in because the application is disabled (AADSTS7000112): its "
     "enterprise application (service principal) is not enabled for sign-in, or Microsoft "
     "disabled the app.",
     "アプリケーションが無効になっているため、Entra ID "
     "がサインインを拒否しました（AADSTS7000112）。エンタープライズ "
     "アプリケーション（サービス プリンシパル）のサインインが無効になっているか、Microsoft "
     "によってアプリが無効化されています。",
     "In the Entra admin center, open Enterprise applications → the app → Properties and set "
     "\"Enabled for users to sign-in?\" to Yes. If Microsoft disabled the app, the app "
     "registration says why.",
     "Entra 管理センターの [エンタープライズ アプリケーション] → 該当のアプリ → [プロパティ] "
     "で [ユーザーのサインインが有効になっていますか?] を [はい] にしてください。Microsoft "
     "によって無効化された場合は、アプリの登録画面に理由が表示されます。",
     false},
};

const TokenText* find_token_text(std::string_view code) {
    for (const auto& t : token_texts) {
        if (code == t.code) {
            return &t;
        }
    }
    return nullptr;
}

std::string fill(const Context& c, const char* text) {
    std::string s = text;
    s = replace_all(s, "{client_id}", c.tenant.client_id);
    s = replace_all(s, "{tenant_id}", c.tenant.tenant_id);
    s = replace_all(s, "{tenant}", c.tenant.name);
    return s;
}

std::string token_title(const Context& c) {
    if (const TokenText* t = find_token_text(c.facts.error_code)) {
        return pick(c.ja, t->en_title, t->ja_title);
    }
    return pick(c.ja, "the token request was refused", "トークンの取得が拒否されました");
}

std::string quoted_error(const Context& c) { return printable(c.facts.error_message, 300); }

// ---- one function per kind ----------------------------------------------------------------

void secret_expiring(const Context& c, std::string& subject, Body& b) {
    const bool ja = c.ja;
    const std::string days = days_text(c.facts.days_left, ja);
    subject = subject_prefix(c) + (ja ? "クライアントシークレットの有効期限まであと" + days +
                                            "です（" + when_short(c, c.facts.secret_expires) + "）"
                                      : "client secret expires in " + days + " (" +
                                            when_short(c, c.facts.secret_expires) + ")");
    b.para(ja ? "m365gate がテナント「" + c.tenant.name +
                    "」で使用しているクライアントシークレットの有効期限が近づいています（残り" +
                    days + "）。"
              : "The client secret m365gate uses for tenant \"" + c.tenant.name + "\" expires in " +
                    days + ".");
    identity(b, c);
    expiry_fields(b, c, true);
    b.blank();
    b.heading("What happens when it expires:", "有効期限が切れた場合の影響");
    b.para(impact_text(c, true), "  ");
    renew_steps(b, c);
    int next = 0;
    for (int d : c.cfg.alerts.secret_days) {
        if (d < c.facts.threshold_days && d > next) {
            next = d;
        }
    }
    if (next > 0) {
        b.para(ja ? "更新されない場合、次回は有効期限の" + days_text(next, true) +
                        "前に通知します。"
                  : "If the secret is not renewed, the next reminder goes out " +
                        days_text(next, false) + " before it expires.");
    }
}

void secret_expired(const Context& c, std::string& subject, Body& b) {
    const bool ja = c.ja;
    const std::string at = when_short(c, c.facts.secret_expires);
    subject =
        subject_prefix(c) + (ja ? "クライアントシークレットの有効期限が切れました（" + at + "）"
                                : "client secret EXPIRED (" + at + ")");
    b.para(ja ? "m365gate がテナント「" + c.tenant.name +
                    "」で使用しているクライアントシークレットの有効期限が切れました。m365gate-sync "
                    "は Microsoft 365 にサインインできず、受信者リストを更新できません。"
              : "The client secret m365gate uses for tenant \"" + c.tenant.name +
                    "\" has expired. m365gate-sync cannot sign in to Microsoft 365 and no "
                    "longer updates the recipient list.");
    identity(b, c);
    expiry_fields(b, c, false);
    b.blank();
    b.heading("What happens now:", "影響");
    b.para(impact_text(c, false), "  ");
    renew_steps(b, c);
}

void token_refused(const Context& c, std::string& subject, Body& b) {
    const bool ja = c.ja;
    const TokenText* t = find_token_text(c.facts.error_code);
    const std::string code = "AADSTS" + c.facts.error_code;
    if (c.facts.after_secret_change) {
        subject =
            subject_prefix(c) +
            (ja ? "新しいクライアントシークレットが使用できません: " + token_title(c) + "（" +
                      code + "）"
                : "the new client secret does not work: " + token_title(c) + " (" + code + ")");
    } else {
        subject = subject_prefix(c) +
                  (ja ? "サインインが拒否されました: " + token_title(c) + "（" + code + "）"
                      : "sign-in refused: " + token_title(c) + " (" + code + ")");
    }
    if (c.facts.after_secret_change) {
        b.para(ja ? "設定のリロード後、m365gate-sync がテナント「" + c.tenant.name +
                        "」の新しいクライアントシークレットでトークンを要求しましたが、Entra ID "
                        "に拒否されました。"
                  : "After the reload, m365gate-sync asked for a token with the new client "
                    "secret of tenant \"" +
                        c.tenant.name + "\", and Entra ID refused it.");
    }
    if (t != nullptr) {
        b.para(fill(c, pick(ja, t->en_cause, t->ja_cause)));
    } else {
        b.para(ja ? "Entra ID がトークンの要求を拒否しました（" + code + "）: " + quoted_error(c)
                  : "Entra ID refused the token request (" + code + "): " + quoted_error(c));
    }
    identity(b, c);
    if (c.facts.secret_expires != 0) {
        b.field(pick(ja, "Secret expires", "有効期限"), when(c, c.facts.secret_expires));
    }
    b.blank();
    b.heading("What happens now:", "影響");
    b.para(impact_text(c, false), "  ");
    b.heading("What to do:", "対処方法");
    if (t != nullptr) {
        b.para(fill(c, pick(ja, t->en_action, t->ja_action)), "  ");
    } else {
        b.para(ja ? "エラーコードの意味は https://login.microsoftonline.com/error?code=" +
                        c.facts.error_code +
                        " で確認できます。設定（m365gate.toml）を修正した場合は m365gatectl "
                        "reload でリロードしてください。"
                  : "Look the code up at https://login.microsoftonline.com/error?code=" +
                        c.facts.error_code +
                        " ; after fixing m365gate.toml, reload with m365gatectl reload.",
               "  ");
    }
    b.para(ja ? "m365gate-sync は定期的に再試行し、同期が復旧した時点で通知します。"
              : "m365gate-sync keeps retrying and sends a notice once the tenant syncs again.",
           "  ");
    if (t == nullptr || t->renew) {
        renew_steps(b, c);
    } else {
        b.heading("Credentials page of the application:", "アプリの資格情報ページ");
        b.raw("  " + credentials_url(c.tenant.client_id));
        b.blank();
    }
}

void consent_missing(const Context& c, std::string& subject, Body& b) {
    const bool ja = c.ja;
    const std::string perm = c.facts.missing_permission.empty()
                                 ? std::string(pick(ja, "(not named by Graph)", "（不明）"))
                                 : printable(c.facts.missing_permission, 80);
    subject = subject_prefix(c) + (ja ? "Microsoft Graph のアクセス許可が不足しています: " + perm
                                      : "Microsoft Graph permission missing: " + perm);
    b.para(
        ja ? "Microsoft Graph が 403（Authorization_RequestDenied）を返しました。アプリに "
             "Microsoft Graph のアプリケーションの許可 " +
                 perm +
                 " "
                 "が付与されていません。アクセス許可が追加されていないか、管理者の同意が与えられて"
                 "いない（または取り消された）状態です。"
           : "Microsoft Graph answered 403 (Authorization_RequestDenied): the application "
             "has not been granted the Microsoft Graph application permission " +
                 perm +
                 ". Either the permission was never added, or admin consent was not granted "
                 "(or was revoked).");
    identity(b, c);
    b.field(pick(ja, "Missing permission", "不足しているアクセス許可"), perm);
    b.blank();
    b.heading("What happens now:", "影響");
    b.para(impact_text(c, false), "  ");
    b.heading("What to do:", "対処方法");
    b.para(ja ? "Entra 管理センターの [アプリの登録] → 該当のアプリ → [API のアクセス許可] → "
                "[アクセス許可の追加] → [Microsoft Graph] → [アプリケーションの許可] で " +
                    perm +
                    " を追加し、[<組織名> に管理者の同意を与えます] "
                    "を選択してください。同意が新しいトークンに反映されるまで数分かかることが"
                    "あります。m365gate-sync は自動的に再試行し、復旧した時点で通知します。"
              : "In the Entra admin center, go to App registrations → the app → API "
                "permissions → Add a permission → Microsoft Graph → Application permissions, "
                "add " +
                    perm +
                    ", then choose \"Grant admin consent for <your organization>\". A new "
                    "consent can take a few minutes to reach new tokens; m365gate-sync retries "
                    "by itself and sends a notice once the tenant syncs again.",
           "  ");
    b.heading("Credentials page of the application:", "アプリの資格情報ページ");
    b.raw("  " + credentials_url(c.tenant.client_id));
    b.blank();
}

std::string error_kind_hint(const Context& c) {
    const std::string& k = c.facts.error_kind;
    const bool ja = c.ja;
    if (k == "network") {
        return pick(ja,
                    "m365gate-sync cannot reach the Microsoft endpoints: check DNS, the firewall "
                    "(HTTPS to login_endpoint and graph_endpoint) and any proxy.",
                    "m365gate-sync が Microsoft のエンドポイントに接続できません。DNS、"
                    "ファイアウォール（login_endpoint と graph_endpoint への HTTPS）、"
                    "プロキシの設定を確認してください。");
    }
    if (k == "tls") {
        return pick(ja,
                    "The TLS certificate of a Microsoft endpoint could not be verified: check "
                    "the system CA certificates, sync.ca_file, and any TLS-inspecting proxy.",
                    "Microsoft のエンドポイントの TLS 証明書を検証できません。システムの CA "
                    "証明書、sync.ca_file、TLS を検査するプロキシの有無を確認してください。");
    }
    if (k == "store") {
        return pick(ja,
                    "The LMDB store could not be written: check free disk space and "
                    "store.max_size.",
                    "LMDB ストアに書き込めません。ディスクの空き容量と store.max_size "
                    "を確認してください。");
    }
    if (k == "config") {
        return pick(ja,
                    "The credential file could not be read: check client_secret_file (it must "
                    "exist, belong to the sync user and have mode 0600).",
                    "資格情報ファイルを読み込めません。client_secret_file "
                    "が存在し、同期ユーザーの所有でモードが 0600 になっているか確認してください。");
    }
    if (k == "limit") {
        return pick(ja,
                    "Graph kept sending more pages or objects than [sync] max_pages, max_objects "
                    "or max_spill_size allow, or the round took longer than round_budget: a "
                    "fault on Microsoft's side or something between. The last good list stays "
                    "in force. If the tenant really is that large, raise the bound.",
                    "Microsoft Graph が [sync] の max_pages、max_objects、max_spill_size "
                    "の上限を超えるページやオブジェクトを送り続けたか、同期が round_budget "
                    "より長くかかりました。Microsoft 側または経路上の障害と考えられます。"
                    "最後に正常に同期したリストが引き続き使われます。テナントが実際にそれほど"
                    "大きい場合は上限を引き上げてください。");
    }
    if (k == "token" || k == "consent") {
        return pick(ja, "A separate notice explains this error and how to fix it.",
                    "このエラーの内容と対処方法は、別途お送りした通知を参照してください。");
    }
    return pick(ja,
                "Microsoft Graph answered with an error; this is often temporary. If it "
                "persists, the log of m365gate-sync has the Graph error code and request-id "
                "for Microsoft support.",
                "Microsoft Graph がエラーを返しました。一時的なものであることが多いですが、"
                "続く場合は m365gate-sync のログにある Graph のエラーコードと request-id を "
                "Microsoft サポートへの問い合わせにご利用ください。");
}

void sync_failing(const Context& c, std::string& subject, Body& b) {
    const bool ja = c.ja;
    const std::string after = duration_text(c.cfg.alerts.sync_failure_after, ja);
    subject = subject_prefix(c) +
              (ja ? after + "以上同期に成功していません" : "no successful sync for " + after);
    b.para(ja ? "m365gate-sync はテナント「" + c.tenant.name + "」の同期に " + after +
                    "以上成功していません。"
              : "m365gate-sync has not synced tenant \"" + c.tenant.name + "\" successfully for " +
                    after + ".");
    identity(b, c);
    b.field(pick(ja, "Last successful sync", "最後の同期成功"),
            c.facts.last_success != 0 ? when(c, c.facts.last_success)
                                      : std::string(pick(ja, "never", "なし")));
    if (c.facts.failing_since != 0) {
        b.field(pick(ja, "Failing since", "失敗が続いている期間の開始"),
                when(c, c.facts.failing_since));
    }
    std::string last_error = c.facts.error_kind;
    if (!c.facts.error_code.empty()) {
        last_error += " " + printable(c.facts.error_code, 64);
    }
    if (!c.facts.error_message.empty()) {
        last_error += ": " + quoted_error(c);
    }
    b.field(pick(ja, "Last error", "直近のエラー"), last_error);
    b.blank();
    b.heading("What happens now:", "影響");
    b.para(impact_text(c, false), "  ");
    b.heading("What to do:", "対処方法");
    b.para(error_kind_hint(c), "  ");
    b.para(ja ? "詳細は m365gate-sync のログ（tenant=" + c.tenant.name +
                    " を含む行）を確認してください。復旧した時点で通知します。"
              : "The log of m365gate-sync has the details (lines with tenant=" + c.tenant.name +
                    "). A notice follows once the tenant syncs again.",
           "  ");
}

// "full sync" / "delta sync" ("完全同期" / "差分同期"); "sync" when the kind is not known.
std::string sync_kind_text(const std::string& kind, bool ja) {
    if (kind == "delta") {
        return pick(ja, "delta sync", "差分同期");
    }
    if (kind == "full") {
        return pick(ja, "full sync", "完全同期");
    }
    return pick(ja, "sync", "同期");
}

void shrink_refused(const Context& c, std::string& subject, Body& b) {
    const bool ja = c.ja;
    const std::uint64_t before = c.facts.addresses_before;
    const std::uint64_t after = c.facts.addresses_after;
    const std::uint64_t removed = before > after ? before - after : 0;
    const std::string percent = std::to_string(shrink_percent(before, after));
    const std::string allowed = std::to_string(fraction_percent(c.cfg.sync.max_shrink));
    const std::string kind = sync_kind_text(c.facts.sync_kind, ja);
    const bool delta = c.facts.sync_kind == "delta";
    subject = subject_prefix(c) +
              (ja ? "受信者の大量削除を検出したため、" + kind + "の結果を適用していません（" +
                        std::to_string(before) + "件中" + std::to_string(removed) + "件）"
                  : kind + " not applied: it would remove " + std::to_string(removed) + " of " +
                        std::to_string(before) + " addresses");
    const std::string what =
        ja ? (delta ? "テナント「" + c.tenant.name + "」の差分同期を適用すると、アドレスは " +
                          std::to_string(after) + " 件になります。"
                    : "テナント「" + c.tenant.name + "」の" + kind + "で取得したアドレスは " +
                          std::to_string(after) + " 件です。")
           : (delta ? "A delta sync of tenant \"" + c.tenant.name + "\" would leave " +
                          std::to_string(after) + " addresses, "
                    : "A " + kind + " of tenant \"" + c.tenant.name + "\" returned " +
                          std::to_string(after) + " addresses, ");
    b.para(ja ? what + "現在のリストの " + std::to_string(before) + " 件より " +
                    std::to_string(removed) + " 件（" + percent + "%）少なく、sync.max_shrink（" +
                    allowed +
                    "%）の上限を超えています。そのため新しいリストは適用せず、milter "
                    "は引き続き以前のリストを使用しています。"
              : what + std::to_string(removed) + " (" + percent + "%) fewer than the " +
                    std::to_string(before) + " in the store, more than sync.max_shrink (" +
                    allowed +
                    "%) allows. The new list was NOT applied; the milter keeps using the "
                    "previous one.");
    identity(b, c);
    b.blank();
    b.heading("What to do:", "対処方法");
    b.para(ja ? "この保護は、Graph からの不完全な応答や、誤って削除されたアクセス許可・"
                "ドメインによって正しい宛先まで拒否されるのを防ぐためのものです。削除が意図した"
                "ものであれば（ドメインや多数のユーザーを削除した場合など）、同期ユーザーで "
                "m365gate-sync --once --force を実行して適用してください。意図したものでなければ、"
                "アプリのアクセス許可とテナントのドメインを確認してください。"
              : "This guard protects against a partial answer from Graph, or a permission or "
                "domain removed by mistake, rejecting real recipients. If the removal is "
                "intended (a domain or many users were removed), apply it by running "
                "m365gate-sync --once --force as the sync user. Otherwise check the app's "
                "permissions and the tenant's domains.",
           "  ");
}

std::string resolved_text(const Context& c) {
    std::string out;
    for (const auto& key : c.facts.resolved) {
        std::string item;
        if (key.rfind("token:", 0) == 0) {
            item = "AADSTS" + key.substr(6);
        } else if (key.rfind("consent:", 0) == 0) {
            item = pick(c.ja, "missing permission ", "アクセス許可の不足 ") + key.substr(8);
        } else if (key.rfind("sync_failing:", 0) == 0) {
            item = pick(c.ja, "no successful sync", "同期の失敗");
        } else {
            item = key;
        }
        if (out.find(item) == std::string::npos) {
            out += (out.empty() ? "" : pick(c.ja, ", ", "、")) + item;
        }
    }
    return out;
}

void recovered(const Context& c, std::string& subject, Body& b) {
    const bool ja = c.ja;
    subject = subject_prefix(c) + pick(ja, "syncing again", "同期が復旧しました");
    b.para(ja ? "テナント「" + c.tenant.name + "」の同期が " + when(c, c.facts.now) +
                    " に成功しました。先にお知らせした問題（" + resolved_text(c) +
                    "）は解消し、受信者リストは再び最新の状態に更新されています。"
              : "Tenant \"" + c.tenant.name + "\" synced successfully at " + when(c, c.facts.now) +
                    ". The problem reported earlier (" + resolved_text(c) +
                    ") is resolved, and the recipient list is up to date "
                    "again.");
    identity(b, c);
    b.blank();
}

void secret_accepted(const Context& c, std::string& subject, Body& b) {
    const bool ja = c.ja;
    subject = subject_prefix(c) + pick(ja, "new client secret accepted",
                                       "新しいクライアントシークレットを確認しました");
    b.para(ja ? "設定のリロード後、m365gate-sync がテナント「" + c.tenant.name +
                    "」の新しいクライアントシークレットでトークンを要求し、Entra ID "
                    "に受け付けられました。"
              : "After the reload, m365gate-sync asked for a token with the new client secret "
                "of tenant \"" +
                    c.tenant.name + "\", and Entra ID accepted it.");
    identity(b, c);
    if (c.facts.secret_expires != 0) {
        b.field(pick(ja, "Secret expires", "有効期限"), when(c, c.facts.secret_expires));
        b.field(pick(ja, "Expiry date from", "有効期限の取得元"),
                source_text(c.facts.secret_expires_source, ja));
    } else {
        b.field(pick(ja, "Secret expires", "有効期限"),
                pick(ja,
                     "unknown: without it no expiry reminder can be sent; set it with "
                     "m365gatectl secret set --expires DATE",
                     "不明です。有効期限が分からないと期限前の通知を送れません。m365gatectl "
                     "secret set --expires で指定してください。"));
    }
    b.blank();
    b.para(
        ja ? "古いシークレットがまだ残っている場合は、新しいシークレットで同期できることを確認した"
             "うえで、Entra 管理センターから削除してください。"
           : "If the old secret still exists, delete it in the Entra admin center once the "
             "tenant has synced with the new one.");
    b.heading("Credentials page of the application:", "アプリの資格情報ページ");
    b.raw("  " + credentials_url(c.tenant.client_id));
    b.blank();
}

AlertSeverity severity_of(AlertKind kind) {
    switch (kind) {
        case AlertKind::secret_expiring:
        case AlertKind::shrink_refused:
            return AlertSeverity::warning;
        case AlertKind::recovered:
        case AlertKind::secret_accepted:
            return AlertSeverity::info;
        default:
            return AlertSeverity::error;
    }
}

nlohmann::json null_or(bool present, nlohmann::json value) {
    return present ? std::move(value) : nlohmann::json(nullptr);
}

std::string fold_long_lines(const std::string& body) {
    // RFC 5322 2.1.1: at most 998 octets per line. Texts here are wrapped far below that; this
    // is the guarantee for quoted network text. Cut on a UTF-8 character boundary.
    constexpr std::size_t max_line = 990;
    std::string out;
    std::size_t start = 0;
    while (start < body.size()) {
        std::size_t end = body.find('\n', start);
        if (end == std::string::npos) {
            end = body.size();
        }
        std::size_t pos = start;
        while (end - pos > max_line) {
            std::size_t cut = pos + max_line;
            while (cut > pos && (static_cast<unsigned char>(body[cut]) & 0xc0) == 0x80) {
                --cut;
            }
            out.append(body, pos, cut - pos);
            out += '\n';
            pos = cut;
        }
        out.append(body, pos, end - pos);
        out += '\n';
        start = end + 1;
    }
    return out;
}

bool is_ascii_printable(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char ch) {
        const auto u = static_cast<unsigned char>(ch);
        return u >= 0x20 && u < 0x7f;
    });
}

std::string base64(std::string_view in) {
    static const char* const table =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    while (i + 2 < in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8) |
                           static_cast<unsigned char>(in[i + 2]);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += table[v & 63];
        i += 3;
    }
    if (i + 1 == in.size()) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += "==";
    } else if (i + 2 == in.size()) {
        const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                           (static_cast<unsigned char>(in[i + 1]) << 8);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += table[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (char& ch : out) {
        if (ch >= 'A' && ch <= 'Z') {
            ch = static_cast<char>(ch - 'A' + 'a');
        }
    }
    return out;
}

}  // namespace

const char* to_string(AlertKind kind) {
    switch (kind) {
        case AlertKind::secret_expiring:
            return "secret_expiring";
        case AlertKind::secret_expired:
            return "secret_expired";
        case AlertKind::token_refused:
            return "token_refused";
        case AlertKind::consent_missing:
            return "consent_missing";
        case AlertKind::sync_failing:
            return "sync_failing";
        case AlertKind::shrink_refused:
            return "shrink_refused";
        case AlertKind::recovered:
            return "recovered";
        case AlertKind::secret_accepted:
            return "secret_accepted";
    }
    return "unknown";
}

const char* to_string(AlertSeverity severity) {
    switch (severity) {
        case AlertSeverity::info:
            return "info";
        case AlertSeverity::warning:
            return "warning";
        case AlertSeverity::error:
            return "error";
    }
    return "error";
}

int shrink_percent(std::uint64_t before, std::uint64_t after) {
    if (before == 0 || after >= before) {
        return 0;
    }
    const std::uint64_t removed = before - after;
    // Integer round-half-up of removed * 100 / before (no floating point: the log line and
    // the mail must never differ in the last digit).
    return static_cast<int>((removed * 200 + before) / (2 * before));
}

int fraction_percent(double fraction) { return static_cast<int>(fraction * 100.0 + 0.5); }

bool is_permanent_token_error(std::string_view code) {
    static const char* const permanent[] = {"7000222", "7000215", "7000218", "700016", "90002",
                                            "900023",  "90038",   "7000112", "70011",  "1002012",
                                            "500011",  "53003",   "9001023", "50194"};
    return std::any_of(std::begin(permanent), std::end(permanent),
                       [&](const char* p) { return code == p; });
}

std::string credentials_url(std::string_view client_id) {
    return "https://entra.microsoft.com/#view/Microsoft_AAD_RegisteredApps/"
           "ApplicationMenuBlade/~/Credentials/appId/" +
           printable(client_id, 64);
}

std::vector<std::string> mail_recipients(const AlertConfig& alerts, const TenantConfig& tenant) {
    std::vector<std::string> out;
    std::vector<std::string> seen;
    auto add = [&](const std::string& a) {
        if (a.empty() || !is_ascii_printable(a)) {
            return;
        }
        const std::string key = ascii_lower(a);
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
            return;
        }
        seen.push_back(key);
        out.push_back(a);
    };
    for (const auto& a : alerts.mail_to) {
        add(a);
    }
    for (const auto& a : tenant.alert_mail_to) {
        add(a);
    }
    return out;
}

std::string header_value(std::string_view in, std::size_t max_len) {
    std::string out;
    for (char ch : in) {
        const auto u = static_cast<unsigned char>(ch);
        if (u < 0x20 || u == 0x7f) {
            continue;
        }
        out.push_back(ch);
    }
    if (out.size() > max_len) {
        std::size_t cut = max_len;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xc0) == 0x80) {
            --cut;
        }
        out.resize(cut);
    }
    return out;
}

std::string encode_header_text(std::string_view utf8) {
    const std::string clean = header_value(utf8);
    if (is_ascii_printable(clean)) {
        return clean;
    }
    // "=?UTF-8?B?" + base64 + "?=" <= 75 characters: 45 input octets give 60 base64 characters.
    constexpr std::size_t chunk = 45;
    std::string out;
    std::size_t pos = 0;
    while (pos < clean.size()) {
        std::size_t end = std::min(clean.size(), pos + chunk);
        while (end < clean.size() && end > pos &&
               (static_cast<unsigned char>(clean[end]) & 0xc0) == 0x80) {
            --end;
        }
        if (end == pos) {
            end = std::min(clean.size(), pos + chunk);
        }
        if (!out.empty()) {
            out += "\n ";
        }
        out += "=?UTF-8?B?" + base64(std::string_view(clean).substr(pos, end - pos)) + "?=";
        pos = end;
    }
    return out;
}

std::string make_message_id(std::int64_t unix_seconds, std::string_view unique,
                            std::string_view host) {
    std::string h;
    for (char ch : host) {
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.') {
            h.push_back(ch);
        }
    }
    while (!h.empty() && h.back() == '.') {
        h.pop_back();
    }
    std::string u;
    for (char ch : unique) {
        if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')) {
            u.push_back(ch);
        }
    }
    return "<" + std::to_string(unix_seconds) + "." + (u.empty() ? "0" : u) + "@m365gate." +
           (h.empty() ? "localhost" : h) + ">";
}

std::string build_mail(const MailEnvelope& envelope, const Alert& alert,
                       const std::string& tenant_name, const TimeZone& tz) {
    std::string from = header_value(envelope.from, 300);
    if (from.find('<') == std::string::npos) {
        from = "m365gate <" + from + ">";
    }
    std::string to;
    std::size_t line_len = 4;  // "To: "
    for (const auto& raw : envelope.to) {
        const std::string a = header_value(raw, 300);
        if (a.empty()) {
            continue;
        }
        if (!to.empty()) {
            to += ",";
            ++line_len;
            if (line_len + 1 + a.size() > 78) {
                to += "\n ";
                line_len = 1;
            } else {
                to += " ";
                ++line_len;
            }
        }
        to += a;
        line_len += a.size();
    }
    std::string m;
    m += "Date: " + format_rfc5322(tz, envelope.date) + "\n";
    m += "From: " + from + "\n";
    m += "To: " + to + "\n";
    m += "Subject: " + encode_header_text(alert.subject) + "\n";
    m += "Message-ID: " + header_value(envelope.message_id, 300) + "\n";
    m += "MIME-Version: 1.0\n";
    m += "Content-Type: text/plain; charset=UTF-8\n";
    m += "Content-Transfer-Encoding: 8bit\n";
    m += "Auto-Submitted: auto-generated\n";
    m += "X-Auto-Response-Suppress: All\n";
    m += std::string("X-M365gate-Event: ") + to_string(alert.kind) + "\n";
    m += "X-M365gate-Tenant: " + header_value(tenant_name, 64) + "\n";
    m += "\n";
    m += fold_long_lines(alert.body);
    return m;
}

std::string log_summary(const TenantConfig& tenant, const AlertFacts& f) {
    (void)tenant;
    switch (f.kind) {
        case AlertKind::secret_expiring:
            return "client secret expires in " + days_text(f.days_left, false);
        case AlertKind::secret_expired:
            return "client secret has expired";
        case AlertKind::token_refused: {
            const TokenText* t = find_token_text(f.error_code);
            return std::string(f.after_secret_change ? "new client secret refused: "
                                                     : "token request refused: ") +
                   (t != nullptr ? t->en_title : "AADSTS" + f.error_code);
        }
        case AlertKind::consent_missing:
            return "Graph permission or admin consent missing";
        case AlertKind::sync_failing:
            return "no successful sync for too long";
        case AlertKind::shrink_refused:
            return sync_kind_text(f.sync_kind, false) +
                   " would shrink the list too much; not applied";
        case AlertKind::recovered:
            return "tenant syncs again";
        case AlertKind::secret_accepted:
            return "new client secret accepted";
    }
    return {};
}

Alert build_alert(const Config& cfg, const TenantConfig& tenant, const AlertFacts& facts,
                  const TimeZone& tz, const std::string& host) {
    Context c{cfg, tenant, facts, tz, host, cfg.alerts.language == "ja"};
    Alert a;
    a.kind = facts.kind;
    a.severity = severity_of(facts.kind);
    Body b(c.ja);
    switch (facts.kind) {
        case AlertKind::secret_expiring:
            secret_expiring(c, a.subject, b);
            break;
        case AlertKind::secret_expired:
            secret_expired(c, a.subject, b);
            break;
        case AlertKind::token_refused:
            token_refused(c, a.subject, b);
            break;
        case AlertKind::consent_missing:
            consent_missing(c, a.subject, b);
            break;
        case AlertKind::sync_failing:
            sync_failing(c, a.subject, b);
            break;
        case AlertKind::shrink_refused:
            shrink_refused(c, a.subject, b);
            break;
        case AlertKind::recovered:
            recovered(c, a.subject, b);
            break;
        case AlertKind::secret_accepted:
            secret_accepted(c, a.subject, b);
            break;
    }
    footer(b, c);
    a.subject = header_value(a.subject, 600);
    a.body = fold_long_lines(b.text());

    const bool secret_kind =
        facts.kind == AlertKind::secret_expiring || facts.kind == AlertKind::secret_expired ||
        facts.kind == AlertKind::secret_accepted || facts.kind == AlertKind::token_refused;
    const bool has_expiry = secret_kind && facts.secret_expires != 0;
    nlohmann::json j;
    j["event"] = to_string(facts.kind);
    j["severity"] = to_string(a.severity);
    j["tenant"] = tenant.name;
    j["tenant_id"] = tenant.tenant_id;
    j["client_id"] = tenant.client_id;
    j["days_left"] = null_or(facts.kind == AlertKind::secret_expiring, facts.days_left);
    j["threshold_days"] = null_or(facts.kind == AlertKind::secret_expiring, facts.threshold_days);
    j["expires"] = null_or(has_expiry, format_utc(facts.secret_expires));
    j["expires_local"] = null_or(has_expiry, format_local(tz, facts.secret_expires));
    j["expires_source"] = null_or(has_expiry, facts.secret_expires_source);
    j["error_kind"] = null_or(!facts.error_kind.empty(), facts.error_kind);
    j["error_code"] = null_or(!facts.error_code.empty(), printable(facts.error_code, 64));
    j["missing_permission"] =
        null_or(facts.kind == AlertKind::consent_missing, printable(facts.missing_permission, 80));
    j["last_success"] = null_or(facts.last_success != 0, format_utc(facts.last_success));
    j["failing_since"] = null_or(facts.failing_since != 0, format_utc(facts.failing_since));
    j["addresses_before"] =
        null_or(facts.kind == AlertKind::shrink_refused, facts.addresses_before);
    j["addresses_after"] = null_or(facts.kind == AlertKind::shrink_refused, facts.addresses_after);
    j["sync_kind"] = null_or(facts.kind == AlertKind::shrink_refused && !facts.sync_kind.empty(),
                             facts.sync_kind);
    j["resolved"] = facts.resolved;
    j["credentials_url"] = credentials_url(tenant.client_id);
    j["host"] = host;
    j["time"] = format_utc(facts.now);
    j["language"] = c.ja ? "ja" : "en";
    j["subject"] = a.subject;
    j["text"] = a.subject + "\n\n" + a.body;
    a.json = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return a;
}

}  // namespace m365gate::sync
