// sync/alert_texts_ja.cpp - the Japanese alert texts.
//
// They follow the habits of Japanese operator notices: a one-line summary, "■" section
// headings, the Entra admin center's own Japanese labels in [brackets], polite です/ます form,
// and no machine translation of key names (config keys stay as written). Sentences end in 。,
// the only place a line may break (sync/alert_wrap.h).
#include "sync/alert_texts.h"

namespace m365gate::sync {
namespace {

// Numbers with units, expiry sources, policies, the impact on mail.
void set_units_policies_and_impact(AlertTexts& t) {
    t.language = "ja";
    t.style = BodyStyle{LineBreaking::sentences, "■ ", 0};

    t.days = "{n}日";
    t.hours = "{n}時間";
    t.minutes = "{n}分";
    t.seconds = "{n}秒";
    t.one_day = "{n}日";
    t.many_days = "{n}日";
    t.list_separator = "、";

    t.source_credential_file = "資格情報ファイル（expires の値）";
    t.source_config = "m365gate.toml の client_secret_expires";
    t.source_graph = "Microsoft Graph（アプリの passwordCredentials）";
    t.source_unknown = "不明";
    t.on_stale_reject =
        "現在の設定は milter.on_stale = reject "
        "です。最後に取得したリストにないアドレス宛てのメールは、引き続き拒否（550 "
        "5.1.1）されます。";
    t.on_stale_tempfail =
        "現在の設定は milter.on_stale = tempfail "
        "です。最後に取得したリストにないアドレス宛てのメールは一時エラー（451 "
        "4.3.0）となり、送信元サーバーは再送を繰り返した後、保持期限を過ぎると"
        "差出人にエラーとして返送します。";
    t.on_stale_accept =
        "現在の設定は milter.on_stale = accept "
        "です。最後に取得したリストにないアドレス宛てのメールも確認せずに受け付ける"
        "ため、存在しないアドレス宛てのメールは Microsoft 365 "
        "側でエラーとして返送されます。";
    t.unavailable_tempfail = "一時エラー（451 4.3.0）となり、送信元サーバーが再送します";
    t.unavailable_accept = "確認せずに受け付けられます";
    t.unavailable_reject = "拒否されます";
    t.impact_never_synced =
        "このテナントはまだ一度も同期に成功していないため、m365gate "
        "には受信者リストがありません。このテナントのドメイン宛てのメールは、"
        "milter.on_cache_unavailable の設定により{verdict}。";
    t.impact_when_expired =
        "有効期限が切れると、m365gate-sync が Microsoft 365 "
        "にサインインできなくなり、このテナントの受信者リストが更新されなくなります。"
        "リストに登録済みのアドレス宛てのメールはこれまでどおり受け付けますが、"
        "その後に追加されたユーザー、グループ、エイリアス宛てのメールは"
        "「存在しない宛先」として拒否されます。最後に同期に成功してから "
        "sync.stale_after（{stale}）を過ぎると、リストが古くなったときの扱いを決める "
        "milter.on_stale の設定が適用されます。{policy}";
    t.impact_until_fixed =
        "この問題が解消されるまで、このテナントの受信者リストは更新されません。"
        "リストに登録済みのアドレス宛てのメールはこれまでどおり受け付けますが、"
        "最後に同期に成功した {last} 以降に追加されたユーザー、グループ、エイリアス宛ての"
        "メールは「存在しない宛先」として拒否されます。最後に同期に成功してから "
        "sync.stale_after（{stale}）を過ぎる {stale_at} "
        "以降は、リストが古くなったときの扱いを決める milter.on_stale "
        "の設定が適用されます。{policy}";
}

// Labels, headings, the renewal steps, the footer.
void set_labels_headings_and_steps(AlertTexts& t) {
    t.label_tenant = "テナント";
    t.label_tenant_id = "テナント ID";
    t.label_client_id = "アプリケーション (クライアント) ID";
    t.label_app_name = "アプリケーション名";
    t.label_secret = "クライアントシークレット";
    t.secret_name = "「{name}」";
    t.secret_key_id = "シークレット ID: {key_id}";
    t.label_secret_expires = "有効期限";
    t.label_days_left = "残り日数";
    t.label_expiry_source = "有効期限の取得元";
    t.label_missing_permission = "不足しているアクセス許可";
    t.label_last_success = "最後の同期成功";
    t.label_failing_since = "失敗が続いている期間の開始";
    t.label_last_error = "直近のエラー";
    t.never = "なし";

    t.heading_when_expired = "有効期限が切れた場合の影響";
    t.heading_impact_now = "影響";
    t.heading_what_to_do = "対処方法";
    t.heading_renew = "シークレットの更新手順";
    t.heading_credentials_page = "アプリの資格情報ページ";
    t.heading_api_permissions_page = "アプリの API のアクセス許可ページ";

    t.renew_create =
        "Microsoft Entra 管理センターで [アプリの登録] → 該当のアプリ（アプリケーション "
        "(クライアント) ID: {client_id}）→ [証明書とシークレット] → [新しいクライアント "
        "シークレット] を開き、新しいシークレットを作成します。作成直後に一度だけ表示される"
        "「値」をコピーしてください（「シークレット ID」ではありません）。";
    t.renew_install =
        "このゲートウェイで次のコマンドを実行し、コピーした値を標準入力から登録します。";
    t.renew_command =
        "       m365gatectl secret set --tenant {tenant} --expires <新しいシークレットの有効期限>";
    t.renew_notice =
        "m365gate-sync が新しいシークレットでのトークン取得を直ちに試し、使用できるかどうかを"
        "通知します。";
    t.renew_delete_old =
        "新しいシークレットで問題なく同期できることを確認したら、古いシークレットを Entra "
        "管理センターで削除してください。";
    t.footer =
        "このメールは {host} の m365gate-sync "
        "から自動送信されています。同じ内容の通知は一度だけ送信されます。"
        "ただし、解消されない問題は{repeat}ごとに再通知します。";
    t.reminder_subject = "【再通知】";
    t.reminder_intro =
        "再通知: 以下の問題はまだ解消されていません。解消されるまで{repeat}ごとに"
        "この通知を繰り返します。";
}

// The alerts secret_expiring and secret_expired.
void set_secret_texts(AlertTexts& t) {
    t.expiring_subject = "クライアントシークレットの有効期限まであと{days}です（{when}）";
    t.expiring_intro =
        "m365gate がテナント「{tenant}」で使用しているクライアントシークレットの有効期限が"
        "近づいています（残り{days}）。";
    t.next_reminder = "更新されない場合、次回は有効期限の{days}前に通知します。";
    t.expired_subject = "クライアントシークレットの有効期限が切れました（{when}）";
    t.expired_intro =
        "m365gate がテナント「{tenant}」で使用しているクライアントシークレットの有効期限が"
        "切れました。m365gate-sync は Microsoft 365 "
        "にサインインできず、受信者リストを更新できません。";
}

// The alert token_refused, with the AADSTS codes it explains.
void set_token_texts(AlertTexts& t) {
    t.token_errors = {{
        {"7000222", "クライアントシークレットの有効期限切れ",
         "クライアントシークレットの有効期限が切れているため、Entra ID "
         "がサインインを拒否しました（AADSTS7000222）。",
         "以下の手順で新しいクライアントシークレットを作成し、登録してください。"},
        {"7000215", "クライアントシークレットが正しくありません",
         "設定されているクライアントシークレットを Entra ID "
         "が受け付けませんでした（AADSTS7000215）。多くの場合、シークレットの「値」ではなく"
         "「シークレット ID」（GUID 形式）を登録している、値の一部が欠けている・誤っている、"
         "または別のアプリのシークレットを登録していることが原因です。",
         "シークレットの「値」（「シークレット ID」ではありません）を登録し直してください。"
         "値が手元にない場合は、以下の手順で新しいクライアントシークレットを作成してください"
         "（値は作成直後に一度だけ表示されます）。"},
        {"700016", "アプリケーションが見つかりません",
         "Entra ID のテナント {tenant_id} に、クライアント ID {client_id} "
         "のアプリケーションが見つかりませんでした（AADSTS700016）。m365gate.toml の "
         "client_id の誤り、アプリが別のテナントに登録されている、tenant_id "
         "が別のテナントを指している、または login_endpoint "
         "が別のクラウド（グローバル／国別クラウド）を指していることが考えられます。",
         "m365gate.toml の [[tenant]] \"{tenant}\" の client_id と tenant_id を Entra "
         "管理センターのアプリの [概要] ページと照合し、login_endpoint と graph_endpoint "
         "がテナントのクラウドに合っているか確認してください。修正後、m365gatectl reload で "
         "m365gate-sync をリロードしてください。"},
        {"90002", "テナントが見つかりません",
         "Entra ID にテナント {tenant_id} が見つかりませんでした（AADSTS90002）。"
         "m365gate.toml の tenant_id が誤っているか、テナントが login_endpoint "
         "とは別のクラウドにあることが考えられます。",
         "m365gate.toml の [[tenant]] \"{tenant}\" の tenant_id を Entra 管理センターの "
         "[概要] → [テナント ID] と照合し、login_endpoint "
         "がテナントのクラウドに合っているか確認してください。修正後、m365gatectl reload で "
         "m365gate-sync をリロードしてください。"},
        {"7000112", "アプリケーションが無効化されています",
         "アプリケーションが無効になっているため、Entra ID "
         "がサインインを拒否しました（AADSTS7000112）。エンタープライズ "
         "アプリケーション（サービス プリンシパル）のサインインが無効になっているか、"
         "Microsoft によってアプリが無効化されています。",
         "Entra 管理センターの [エンタープライズ アプリケーション] → 該当のアプリ → "
         "[プロパティ] で [ユーザーのサインインが有効になっていますか?] を [はい] "
         "にしてください。Microsoft によって無効化された場合は、アプリの登録画面に理由が"
         "表示されます。"},
    }};
    t.token_unexplained_title = "トークンの取得が拒否されました";
    t.token_unexplained_cause = "Entra ID がトークンの要求を拒否しました（{code}）: {error}";
    t.token_unexplained_action =
        "エラーコードの意味は https://login.microsoftonline.com/error?code={code_number} "
        "で確認できます。設定（m365gate.toml）を修正した場合は m365gatectl reload "
        "でリロードしてください。";
    t.new_secret_refused_subject =
        "新しいクライアントシークレットが使用できません: {title}（{code}）";
    t.new_secret_refused_intro =
        "設定のリロード後、m365gate-sync がテナント「{tenant}」の新しいクライアントシークレット"
        "でトークンを要求しましたが、Entra ID に拒否されました。";
    t.sign_in_refused_subject = "サインインが拒否されました: {title}（{code}）";
    t.retrying = "m365gate-sync は定期的に再試行し、同期が復旧した時点で通知します。";
}

// The alerts consent_missing and sync_failing.
void set_consent_and_sync_texts(AlertTexts& t) {
    t.permission_not_named = "（不明）";
    t.consent_subject = "Microsoft Graph のアクセス許可が不足しています: {permission}";
    t.consent_intro =
        "Microsoft Graph が 403（Authorization_RequestDenied）を返しました。アプリに "
        "Microsoft Graph のアプリケーションの許可 {permission} "
        "が付与されていません。アクセス許可が追加されていないか、管理者の同意が与えられて"
        "いない（または取り消された）状態です。";
    t.consent_action =
        "Entra 管理センターの [アプリの登録] → 該当のアプリ → [API のアクセス許可] → "
        "[アクセス許可の追加] → [Microsoft Graph] → [アプリケーションの許可] で {permission} "
        "を追加し、[<組織名> に管理者の同意を与えます] "
        "を選択してください。同意が新しいトークンに反映されるまで数分かかることが"
        "あります。m365gate-sync は自動的に再試行し、復旧した時点で通知します。";

    t.hint_network =
        "m365gate-sync が Microsoft のエンドポイントに接続できません。DNS、"
        "ファイアウォール（login_endpoint と graph_endpoint への HTTPS）、"
        "プロキシの設定を確認してください。";
    t.hint_tls =
        "Microsoft のエンドポイントの TLS 証明書を検証できません。システムの CA "
        "証明書、sync.ca_file、TLS を検査するプロキシの有無を確認してください。";
    t.hint_store =
        "LMDB ストアに書き込めません。ディスクの空き容量と store.max_size "
        "を確認してください。";
    t.hint_config =
        "資格情報ファイルを読み込めません。client_secret_file "
        "が存在し、同期ユーザーの所有でモードが 0600 になっているか確認してください。";
    t.hint_limit =
        "Microsoft Graph が [sync] の max_pages、max_objects、max_spill_size "
        "の上限を超えるページやオブジェクトを送り続けたか、同期が round_budget "
        "より長くかかりました。Microsoft 側または経路上の障害と考えられます。"
        "最後に正常に同期したリストが引き続き使われます。テナントが実際にそれほど"
        "大きい場合は上限を引き上げてください。";
    t.hint_separate_notice = "このエラーの内容と対処方法は、別途お送りした通知を参照してください。";
    t.hint_graph =
        "Microsoft Graph がエラーを返しました。一時的なものであることが多いですが、"
        "続く場合は m365gate-sync のログにある Graph のエラーコードと request-id を "
        "Microsoft サポートへの問い合わせにご利用ください。";
    t.sync_failing_subject = "{after}以上同期に成功していません";
    t.sync_failing_intro =
        "m365gate-sync はテナント「{tenant}」の同期に {after}以上成功していません。";
    t.sync_failing_details =
        "詳細は m365gate-sync のログ（tenant={tenant} "
        "を含む行）を確認してください。復旧した時点で通知します。";
}

// The alerts shrink_refused, recovered and secret_accepted.
void set_shrink_and_notice_texts(AlertTexts& t) {
    t.sync_kind_delta = "差分同期";
    t.sync_kind_full = "完全同期";
    t.sync_kind_unknown = "同期";
    t.shrink_subject =
        "受信者の大量削除を検出したため、{kind}の結果を適用していません（{before}件中{removed}件）";
    t.shrink_what_delta =
        "テナント「{tenant}」の差分同期を適用すると、アドレスは {after} 件になります。";
    t.shrink_what_other = "テナント「{tenant}」の{kind}で取得したアドレスは {after} 件です。";
    t.shrink_result =
        "{what}現在のリストの {before} 件より {removed} 件（{percent}%）少なく、"
        "sync.max_shrink（{allowed}%）の上限を超えています。そのため新しいリストは適用せず、"
        "milter は引き続き以前のリストを使用しています。";
    t.shrink_action =
        "この保護は、Graph からの不完全な応答や、誤って削除されたアクセス許可・"
        "ドメインによって正しい宛先まで拒否されるのを防ぐためのものです。削除が意図した"
        "ものであれば（ドメインや多数のユーザーを削除した場合など）、同期ユーザーで "
        "m365gate-sync --once --force を実行して適用してください。意図したものでなければ、"
        "アプリのアクセス許可とテナントのドメインを確認してください。";

    t.resolved_permission = "アクセス許可の不足 {permission}";
    t.resolved_sync_failing = "同期の失敗";
    t.recovered_subject = "同期が復旧しました";
    t.recovered_intro =
        "テナント「{tenant}」の同期が {when} に成功しました。先にお知らせした問題（{resolved}）"
        "は解消し、受信者リストは再び最新の状態に更新されています。";

    t.accepted_subject = "新しいクライアントシークレットを確認しました";
    t.accepted_intro =
        "設定のリロード後、m365gate-sync がテナント「{tenant}」の新しいクライアントシークレット"
        "でトークンを要求し、Entra ID に受け付けられました。";
    t.accepted_expiry_unknown =
        "不明です。有効期限が分からないと期限前の通知を送れません。m365gatectl "
        "secret set --expires で指定してください。";
    t.accepted_delete_old =
        "古いシークレットがまだ残っている場合は、新しいシークレットで同期できることを確認した"
        "うえで、Entra 管理センターから削除してください。";

    t.stale_subject = "受信者リストが古くなっています（{when} 以降）";
    t.stale_intro =
        "テナント「{tenant}」の受信者リストは {stale_at} "
        "に古い状態になりました。最後に同期に成功した {last} から sync.stale_after"
        "（{stale}）が経過しています。";
    t.stale_impact =
        "最後の同期成功以降に追加されたアドレス宛てのメールは「存在しない宛先」として"
        "拒否され、リストが古くなったときの扱いを決める milter.on_stale "
        "の設定が適用されています。{policy}";
    t.resolved_stale = "受信者リストが古い状態";
    t.test_subject = "テストメッセージ";
    t.test_intro =
        "これは {host} の m365gate-sync からテナント「{tenant}」の通知経路を確認する"
        "テストです（m365gatectl alert test）。対応は不要です。";

    t.store_damaged_subject = "受信者ストアの破損を検出し、再構築しています";
    t.store_damaged_intro =
        "m365gate-sync が受信者ストア {store} の破損を検出しました（ストアを読む前に各プロセス"
        "が行う検査に失敗しました）。破損したファイルを {moved_to} に移し、Microsoft Graph "
        "からの完全同期で全テナントのリストを作り直しています。";
    t.store_damaged_impact =
        "テナントの完全同期が終わるまで、そのドメイン宛てのメールは{verdict}。"
        "ほかのドメイン宛てのメールには影響しません。各テナントの同期状況は m365gatectl "
        "status で確認できます。";
    t.store_damaged_action =
        "ストアのあるディスクを確認してください（カーネルログ、SMART、空き容量）。"
        "ストアが自然に壊れることはありません。移したファイルは不具合報告用に保管するか、"
        "削除してください。";
}

// The notices secret_expiry_mismatch and secret_expiry_unknown.
void set_expiry_note_texts(AlertTexts& t) {
    t.label_graph_date = "Graph の有効期限";
    t.label_local_date = "ローカルの有効期限";
    t.mismatch_subject = "クライアントシークレットのローカルの有効期限が Graph と一致しません";
    t.mismatch_intro =
        "テナント「{tenant}」のクライアントシークレットについて、{local_source}"
        "にある有効期限（{local}）は、Microsoft Graph がこのシークレットについて返す有効期限"
        "（{graph}）と異なります。m365gate は Graph の日付で通知し、ローカルの日付は使いません。";
    t.mismatch_action =
        "ローカルの日付を直すか削除してください。正しい --expires を付けて m365gatectl secret "
        "set --tenant {tenant} をもう一度実行するか、m365gate.toml の client_secret_expires "
        "を修正します。この通知はこの二つの日付について一度だけ送信されます。";
    t.unknown_subject = "クライアントシークレットの有効期限が不明です（期限前の通知はありません）";
    t.unknown_intro =
        "m365gate はテナント「{tenant}」のクライアントシークレットの有効期限を把握していません。"
        "Microsoft Graph から取得できず（アプリにアプリケーション権限 Application.Read.All "
        "がない、または使用中のシークレットに一致するものがない）、資格情報ファイルにも "
        "m365gate.toml にも日付がありません。有効期限が切れる前の通知は送信されず、期限切れ後は"
        "新しい受信者宛てのメールが拒否されます。";
    t.unknown_action =
        "アプリに Microsoft Graph のアプリケーション権限 Application.Read.All "
        "を付与して管理者の同意を与えるか、日付を設定してください（m365gatectl secret set "
        "--tenant {tenant} --expires <有効期限>、または m365gate.toml の "
        "client_secret_expires）。この通知は一度だけ送信されます。";
}

// Certificate credentials (client_certificate_file).
void set_certificate_texts(AlertTexts& t) {
    t.cert_expiring_subject = "証明書の有効期限まであと{days}です（{when}）";
    t.cert_expiring_intro =
        "m365gate がテナント「{tenant}」へのサインインに使用している証明書の有効期限が"
        "近づいています（残り{days}）。";
    t.cert_expired_subject = "証明書の有効期限が切れました（{when}）";
    t.cert_expired_intro =
        "m365gate がテナント「{tenant}」へのサインインに使用している証明書の有効期限が"
        "切れました。m365gate-sync は Microsoft 365 "
        "にサインインできず、受信者リストを更新できません。";
    t.source_certificate = "証明書（notAfter）";
    t.heading_renew_certificate = "証明書の更新手順:";
    t.renew_certificate =
        "このゲートウェイで m365gatectl cert new --tenant {tenant} --out <新しいファイル> "
        "を実行し、作成された .cer を Microsoft Entra 管理センターの [アプリの登録] → "
        "該当のアプリ（アプリケーション ID {client_id}）→ [証明書とシークレット] → [証明書] → "
        "[証明書のアップロード] でアップロードしてから、m365gatectl cert set --tenant {tenant} "
        "<新しいファイル> で登録してください。動作を確認したら、古い証明書を Entra "
        "管理センターで削除してください。";
    t.cert_new_refused_subject = "新しい証明書が使用できません: {title}（{code}）";
    t.cert_new_refused_intro =
        "リロード後、m365gate-sync がテナント「{tenant}」の新しい証明書でトークンを要求しましたが、"
        "Entra ID に拒否されました。置き換えられた証明書は client_certificate_file.previous "
        "として残っています（m365gatectl cert set で元に戻せます）。";
    t.cert_accepted_subject = "新しい証明書が受け付けられました";
    t.cert_accepted_intro =
        "リロード後、m365gate-sync がテナント「{tenant}」の新しい証明書でトークンを要求し、"
        "Entra ID に受け付けられました。";
    t.cert_accepted_delete_old =
        "新しい証明書で同期できたことを確認したら、古い証明書（またはクライアントシークレット）を "
        "Entra 管理センターで削除してください。";
    t.certificate_token_errors = {{
        {"700027", "証明書が受け付けられません",
         "Entra ID がクライアント アサーションを拒否しました（AADSTS700027）。m365gate "
         "が送った拇印の証明書がアプリに登録されていないか、署名を検証できません。",
         "[[tenant]] \"{tenant}\" の client_certificate_file の .cer をアプリ（アプリケーション "
         "ID {client_id}）にアップロードしてください。"},
        {"certificate_expired", "証明書の有効期限切れ",
         "Entra ID がクライアント アサーションを拒否しました（AADSTS700027）。[[tenant]] "
         "\"{tenant}\" の証明書は notAfter の日時を過ぎています。",
         "以下の手順で新しい証明書を作成し、アップロードしてください。"},
        {"700024", "クライアント アサーションの有効期間外",
         "Entra ID がクライアント アサーションを有効期間外として拒否しました（AADSTS700024）。"
         "このゲートウェイの時計がずれている可能性があります。",
         "ゲートウェイの時計と時刻同期（timedatectl、NTP）を確認してください。"},
        {"700023", "クライアント アサーションの対象が違います",
         "クライアント アサーションの対象（aud）がこのトークン エンドポイントではないため、"
         "Entra ID が拒否しました（AADSTS700023）。",
         "m365gate.toml の [[tenant]] \"{tenant}\" の login_endpoint と tenant_id "
         "を確認してください。"},
    }};
}

AlertTexts make_japanese() {
    AlertTexts t;
    set_units_policies_and_impact(t);
    set_labels_headings_and_steps(t);
    set_secret_texts(t);
    set_certificate_texts(t);
    set_token_texts(t);
    set_consent_and_sync_texts(t);
    set_shrink_and_notice_texts(t);
    set_expiry_note_texts(t);
    return t;
}

}  // namespace

const AlertTexts& japanese_texts() {
    static const AlertTexts texts = make_japanese();
    return texts;
}

}  // namespace m365gate::sync
