//! The console's two languages: every fixed piece of text in Korean and in English, chosen per
//! request (an explicit `?lang=` choice kept in a cookie, else the browser's
//! `Accept-Language`), and how amounts and times are written in each.

use chrono::{Local, TimeZone};

/// A language the console speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// 한국어.
    Ko,
    /// English.
    En,
}

impl Lang {
    /// `ko` or `en`, as in `?lang=` and the `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// The language a code names, if it is one of ours (`ko`, `ko-KR`, `en-US`, …).
    pub fn parse(code: &str) -> Option<Lang> {
        let primary = code.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "ko" => Some(Lang::Ko),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The browser's preferred language among ours, from an `Accept-Language` header: the one
    /// with the highest weight (the first of equal weights); English when neither is listed.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(Lang, u32)> = None;
        for part in header.split(',') {
            let mut fields = part.split(';');
            let Some(lang) = fields.next().and_then(Lang::parse) else {
                continue;
            };
            let weight = fields
                .find_map(|f| f.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            // Weights are at most 1 with three decimals: thousandths compare exactly.
            let w = (weight.clamp(0.0, 1.0) * 1000.0).round() as u32;
            if w > 0 && best.is_none_or(|(_, b)| w > b) {
                best = Some((lang, w));
            }
        }
        best.map_or(Lang::En, |(l, _)| l)
    }

    /// The fixed text of the pages.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::Ko => &KO,
            Lang::En => &EN,
        }
    }

    /// An amount of won with thousands separators: `₩900,000,000` / `900,000,000원`.
    pub fn won(self, v: u128) -> String {
        let digits = group(v);
        match self {
            Lang::Ko => format!("{digits}원"),
            Lang::En => format!("₩{digits}"),
        }
    }

    /// A block time (unix seconds) in the time zone of the machine the console runs on (the
    /// official's own), with its UTC offset so a printout is never ambiguous.
    pub fn time(self, secs: u64) -> String {
        let Some(t) = i64::try_from(secs)
            .ok()
            .and_then(|s| Local.timestamp_opt(s, 0).single())
        else {
            return secs.to_string();
        };
        match self {
            Lang::Ko => t.format("%Y년 %-m월 %-d일 %H:%M (UTC%:z)").to_string(),
            Lang::En => t.format("%-d %b %Y, %H:%M (UTC%:z)").to_string(),
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn group(v: u128) -> String {
    let digits = v.to_string();
    let mut out = String::with_capacity(digits.len().saturating_add(digits.len() / 3));
    let len = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (len.saturating_sub(i)).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Every fixed piece of text, one field per use.
#[allow(missing_docs)]
pub struct Text {
    pub product: &'static str,
    pub queue_title: &'static str,
    pub queue_intro: &'static str,
    pub queue_empty: &'static str,
    pub live: &'static str,
    pub live_lost: &'static str,
    pub signed_in_as: &'static str,
    pub node: &'static str,
    pub height: &'static str,
    pub not_official: &'static str,
    pub deal: &'static str,
    pub parcel: &'static str,
    pub lot_number: &'static str,
    pub address: &'static str,
    pub area: &'static str,
    pub land_use: &'static str,
    pub price: &'static str,
    pub seller: &'static str,
    /// Co-owners selling with the seller.
    pub co_sellers: &'static str,
    /// The share sold in a share sale.
    pub share_sold: &'static str,
    /// The payment schedule row.
    pub stages: &'static str,
    /// Stage names and states.
    pub stage_deposit: &'static str,
    /// Interim payment.
    pub stage_interim: &'static str,
    /// Balance.
    pub stage_balance: &'static str,
    /// "paid" (with a date).
    pub stage_paid: &'static str,
    /// The acquisition tax row.
    pub acquisition_tax: &'static str,
    /// "quoted, paid with the last payment; relief decided at settlement".
    pub tax_quoted: &'static str,
    /// "paid to the municipality".
    pub tax_paid: &'static str,
    /// "first-home relief".
    pub tax_relief: &'static str,
    /// "due" (with a date).
    pub stage_due: &'static str,
    pub buyer: &'static str,
    pub broker: &'static str,
    pub encumbrances: &'static str,
    pub encumbrances_none: &'static str,
    pub rank: &'static str,
    pub kind: &'static str,
    pub holder: &'static str,
    pub amount: &'static str,
    pub payoff: &'static str,
    pub mortgage: &'static str,
    pub seizure: &'static str,
    pub lease: &'static str,
    pub lease_kept: &'static str,
    /// "valid until" after a payoff statement's amount.
    pub payoff_valid_until: &'static str,
    /// A lien whose bank has filed no payoff statement.
    pub payoff_missing: &'static str,
    /// A lien whose bank's payoff statement has lapsed.
    pub payoff_expired: &'static str,
    pub approvals: &'static str,
    pub approved_by: &'static str,
    pub deadline: &'static str,
    pub checks: &'static str,
    pub all_passed: &'static str,
    pub some_failed: &'static str,
    pub passed: &'static str,
    pub failed: &'static str,
    pub status: &'static str,
    pub open_deal: &'static str,
    pub new_mortgage: &'static str,
    pub effect: &'static str,
    pub effect_intro: &'static str,
    pub effect_fails: &'static str,
    pub approve: &'static str,
    pub reject: &'static str,
    pub reject_reason: &'static str,
    pub reject_reason_hint: &'static str,
    pub confirm_approve: &'static str,
    pub confirm_reject: &'static str,
    pub confirm_sign_note: &'static str,
    pub confirm: &'static str,
    pub cancel: &'static str,
    pub receipt: &'static str,
    pub receipt_ok: &'static str,
    pub tx_hash: &'static str,
    pub block: &'static str,
    pub events: &'static str,
    pub back_to_queue: &'static str,
    pub back_to_deal: &'static str,
    pub parcel_search: &'static str,
    pub parcel_search_button: &'static str,
    pub owners: &'static str,
    pub share: &'static str,
    pub frozen_yes: &'static str,
    pub frozen_no: &'static str,
    pub seized: &'static str,
    pub history: &'static str,
    pub history_seq: &'static str,
    pub time: &'static str,
    pub action: &'static str,
    pub detail: &'static str,
    pub certificate: &'static str,
    pub certificate_json: &'static str,
    pub live_deal: &'static str,
    pub error_title: &'static str,
    pub error_hint: &'static str,
    pub changed: &'static str,
    pub reload: &'static str,
    pub rejected_reason: &'static str,
    pub no_action: &'static str,
    pub language: &'static str,
    pub check_no_seizure: &'static str,
    pub check_payoffs: &'static str,
    pub check_escrow: &'static str,
    pub check_signed: &'static str,
    pub check_not_mine: &'static str,
    pub check_deadline: &'static str,
    pub check_owner: &'static str,
}

/// English.
pub static EN: Text = Text {
    product: "hanok · registry console",
    queue_title: "Transfers awaiting approval",
    queue_intro: "Deals signed by both parties and waiting for officials' approval, oldest first.",
    queue_empty: "No deal is waiting for approval.",
    live: "Live: updates as blocks land",
    live_lost: "Live updates paused; reconnecting…",
    signed_in_as: "Signing as",
    node: "Node",
    height: "height",
    not_official: "This key is not enrolled as an official in the registry policy: the node will refuse its approvals and rejections.",
    deal: "Deal",
    parcel: "Parcel",
    lot_number: "Lot number",
    address: "Address",
    area: "Area",
    land_use: "Use",
    price: "Price",
    seller: "Seller",
    co_sellers: "Co-owners selling",
    share_sold: "Share sold",
    stages: "Payments",
    stage_deposit: "Deposit",
    stage_interim: "Interim",
    stage_balance: "Balance",
    stage_paid: "paid",
    acquisition_tax: "Acquisition tax",
    tax_quoted: "quoted at the full rate, paid into escrow with the last payment; the first-home relief is decided at settlement",
    tax_paid: "paid to the municipality",
    tax_relief: "first-home relief",
    stage_due: "due",
    buyer: "Buyer",
    broker: "Broker",
    encumbrances: "Encumbrances, in rank order",
    encumbrances_none: "None active.",
    rank: "Rank",
    kind: "Kind",
    holder: "Holder",
    amount: "Registered amount",
    payoff: "Payoff at settlement",
    mortgage: "Mortgage",
    seizure: "Court seizure",
    lease: "Registered lease (deposit)",
    lease_kept: "kept: the buyer takes over the deposit; term ends",
    payoff_valid_until: "valid until",
    payoff_missing: "no payoff statement from the bank yet",
    payoff_expired: "payoff statement expired",
    approvals: "Approvals",
    approved_by: "Approved by",
    deadline: "Deadline",
    checks: "Checks before you sign",
    all_passed: "every check passed",
    some_failed: "a check FAILED",
    passed: "passed",
    failed: "FAILED",
    status: "Status",
    open_deal: "Open",
    new_mortgage: "Buyer's new mortgage",
    effect: "What settlement would do",
    effect_intro: "A dry run on the node (Simulate) of the approvals still needed and then the settlement; nothing is committed.",
    effect_fails: "Settlement would fail now:",
    approve: "Approve",
    reject: "Reject",
    reject_reason: "Reason for rejecting",
    reject_reason_hint: "Say why, in words the parties will read (required).",
    confirm_approve: "Approve this transfer?",
    confirm_reject: "Reject this transfer?",
    confirm_sign_note: "Confirming signs a transaction with your key and sends it to the node.",
    confirm: "Confirm",
    cancel: "Cancel",
    receipt: "Receipt",
    receipt_ok: "Committed.",
    tx_hash: "Transaction",
    block: "Block",
    events: "What happened",
    back_to_queue: "Back to the queue",
    back_to_deal: "Back to the deal",
    parcel_search: "Parcel id",
    parcel_search_button: "Show parcel",
    owners: "Owners",
    share: "Share",
    frozen_yes: "YES: an active court seizure freezes the title",
    frozen_no: "no",
    seized: "Seized",
    history: "History (latest first)",
    history_seq: "#",
    time: "Time",
    action: "Action",
    detail: "Detail",
    certificate: "Title certificate (printable)",
    certificate_json: "Certificate (JSON)",
    live_deal: "Deal holding it",
    error_title: "That did not work",
    error_hint: "Open the deal again to see where it stands before you retry.",
    changed: "This deal changed at block",
    reload: "Reload",
    rejected_reason: "Rejection reason",
    no_action: "This deal is not waiting for approval: nothing to approve or reject.",
    language: "한국어",
    check_no_seizure: "No court seizure on the title",
    check_payoffs: "Every lien has a valid payoff statement, all within the price",
    check_escrow: "Escrow holds the price (and the acquisition tax)",
    check_signed: "Every seller and the buyer signed these terms",
    check_not_mine: "You have not approved it yet",
    check_deadline: "Before the settlement deadline",
    check_owner: "The sellers still own what they sell",
};

/// 한국어.
pub static KO: Text = Text {
    product: "hanok · 등기관 콘솔",
    queue_title: "승인 대기 중인 이전",
    queue_intro:
        "매도인과 매수인이 모두 서명하고 등기관 승인을 기다리는 거래입니다. 오래된 순서입니다.",
    queue_empty: "승인을 기다리는 거래가 없습니다.",
    live: "실시간: 블록이 생성되면 갱신됩니다",
    live_lost: "실시간 갱신이 끊겼습니다. 다시 연결하는 중…",
    signed_in_as: "서명자",
    node: "노드",
    height: "높이",
    not_official:
        "이 키는 등기 정책의 등기관으로 등록되어 있지 않습니다. 노드가 승인과 거절을 거부합니다.",
    deal: "거래",
    parcel: "필지",
    lot_number: "지번",
    address: "소재지",
    area: "면적",
    land_use: "지목",
    price: "매매대금",
    seller: "매도인",
    co_sellers: "공동 매도인",
    share_sold: "매도 지분",
    stages: "대금 지급",
    stage_deposit: "계약금",
    stage_interim: "중도금",
    stage_balance: "잔금",
    stage_paid: "지급",
    acquisition_tax: "취득세",
    tax_quoted: "일반세율로 산정, 마지막 대금과 함께 에스크로에 예치; 생애최초 감면은 잔금 시 결정",
    tax_paid: "지자체에 납부",
    tax_relief: "생애최초 감면",
    stage_due: "기한",
    buyer: "매수인",
    broker: "중개사",
    encumbrances: "권리 (순위순)",
    encumbrances_none: "설정된 권리가 없습니다.",
    rank: "순위",
    kind: "종류",
    holder: "권리자",
    amount: "등기 금액",
    payoff: "결제 시 상환액",
    mortgage: "근저당",
    seizure: "압류",
    lease: "전세권 (보증금)",
    lease_kept: "승계: 매수인이 보증금 반환 의무를 인수, 만료",
    payoff_valid_until: "유효기한",
    payoff_missing: "은행의 상환금액 확인서 미제출",
    payoff_expired: "상환금액 확인서 기한 경과",
    approvals: "승인",
    approved_by: "승인한 등기관",
    deadline: "결제 기한",
    checks: "서명 전 확인 사항",
    all_passed: "모든 확인 통과",
    some_failed: "확인 실패 있음",
    passed: "통과",
    failed: "실패",
    status: "상태",
    open_deal: "열기",
    new_mortgage: "매수인의 새 근저당",
    effect: "결제 시 일어날 일",
    effect_intro:
        "남은 승인과 결제를 노드에서 모의 실행(Simulate)한 결과입니다. 아무것도 기록되지 않습니다.",
    effect_fails: "지금 결제하면 실패합니다:",
    approve: "승인",
    reject: "거절",
    reject_reason: "거절 사유",
    reject_reason_hint: "당사자가 읽을 수 있도록 사유를 적어 주십시오 (필수).",
    confirm_approve: "이 이전을 승인하시겠습니까?",
    confirm_reject: "이 이전을 거절하시겠습니까?",
    confirm_sign_note: "확인을 누르면 귀하의 키로 거래에 서명하여 노드에 보냅니다.",
    confirm: "확인",
    cancel: "취소",
    receipt: "영수증",
    receipt_ok: "기록되었습니다.",
    tx_hash: "트랜잭션",
    block: "블록",
    events: "처리 내용",
    back_to_queue: "대기 목록으로",
    back_to_deal: "거래로 돌아가기",
    parcel_search: "필지 번호",
    parcel_search_button: "필지 조회",
    owners: "소유자",
    share: "지분",
    frozen_yes: "예: 법원 압류로 등기가 동결되어 있습니다",
    frozen_no: "아니오",
    seized: "압류",
    history: "이력 (최근 순)",
    history_seq: "번호",
    time: "시각",
    action: "내용",
    detail: "세부",
    certificate: "등기 증명서 (인쇄용)",
    certificate_json: "증명서 (JSON)",
    live_deal: "진행 중인 거래",
    error_title: "처리하지 못했습니다",
    error_hint: "다시 시도하기 전에 거래를 다시 열어 현재 상태를 확인하십시오.",
    changed: "이 거래가 변경되었습니다. 블록",
    reload: "새로 고침",
    rejected_reason: "거절 사유",
    no_action: "이 거래는 승인 대기 중이 아닙니다. 승인하거나 거절할 것이 없습니다.",
    language: "English",
    check_no_seizure: "등기에 법원 압류 없음",
    check_payoffs: "모든 근저당에 유효한 상환금액 확인서, 합계가 매매대금 이내",
    check_escrow: "에스크로에 매매대금(및 취득세) 예치됨",
    check_signed: "모든 매도인과 매수인이 이 조건에 서명함",
    check_not_mine: "아직 승인하지 않음",
    check_deadline: "결제 기한 전",
    check_owner: "매도인이 여전히 매도 대상을 소유",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_language_picks_the_page_language() {
        assert_eq!(
            Lang::from_accept_language("ko-KR,ko;q=0.9,en-US;q=0.8"),
            Lang::Ko
        );
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,ko;q=0.8"),
            Lang::En
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR,ko;q=0.5,en;q=0.4"),
            Lang::Ko
        );
        assert_eq!(Lang::from_accept_language("fr-FR"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("ko;q=0"), Lang::En);
    }

    #[test]
    fn won_are_grouped_by_thousands() {
        assert_eq!(Lang::En.won(900_000_000), "₩900,000,000");
        assert_eq!(Lang::Ko.won(1_000), "1,000원");
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_234_567), "1,234,567");
    }
}
