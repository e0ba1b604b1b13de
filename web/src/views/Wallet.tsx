// The subscriber's wallet: balance, tier and the way to the next, points about to
// expire, vouchers (code as text and as a QR code) and offers to claim. An operator
// sees any subscriber's wallet (read only: claiming is the subscriber's own act).
import { useId, useRef, useState } from "preact/hooks";
import { type Offer, type Page, type Points, type WalletVoucher, call, get, newKey } from "../api";
import { normaliseMsisdn } from "../csv";
import { day, localDay, number, vnd } from "../format";
import { type Key, useI18n } from "../i18n";
import { Qr } from "../qr";
import { usePolling } from "../router";
import { Field, Notice, errorText } from "../ui";
import { statusWord } from "./Till";

export function Wallet({ msisdn: own, canClaim }: { msisdn: string | null; canClaim: boolean }) {
  const { t } = useI18n();
  const [asked, setAsked] = useState("");
  const [shown, setShown] = useState<string | null>(own);
  const [error, setError] = useState<string | null>(null);
  const headingId = `h${useId()}`;
  return (
    <section aria-labelledby={headingId} class="wallet">
      <h1 id={headingId} tabIndex={-1}>
        {t("wallet_title")}
      </h1>
      {own === null && (
        <form
          class="lookup"
          onSubmit={(e) => {
            e.preventDefault();
            const normal = normaliseMsisdn(asked);
            setError(normal ? null : t("grant_unreadable", { line: 1, text: asked }));
            if (normal) setShown(normal);
          }}
        >
          <Field label={t("wallet_for")} value={asked} onValue={setAsked} error={error} inputMode="tel" name="msisdn" />
          <button type="submit">{t("show")}</button>
        </form>
      )}
      {shown && <WalletOf msisdn={shown} canClaim={canClaim} key={shown} />}
    </section>
  );
}

function WalletOf({ msisdn, canClaim }: { msisdn: string; canClaim: boolean }) {
  const { t, lang } = useI18n();
  const [points, setPoints] = useState<Points | null>(null);
  const [vouchers, setVouchers] = useState<WalletVoucher[] | null>(null);
  const [offers, setOffers] = useState<Offer[] | null>(null);
  const [notice, setNotice] = useState<{ tone: "ok" | "error"; text: string } | null>(null);
  const [claiming, setClaiming] = useState<string | null>(null);
  const keys = useRef<Record<string, string>>({});
  const base = `/v1/subscribers/${encodeURIComponent(msisdn)}`;

  const load = () => {
    Promise.all([
      get<Points>(`${base}/points`).then(setPoints),
      get<Page<WalletVoucher>>(`${base}/vouchers?limit=50`).then((p) => setVouchers(p.items)),
      get<Page<Offer>>(`${base}/offers?limit=50`).then((p) => setOffers(p.items)),
    ]).catch((exc) => setNotice({ tone: "error", text: errorText(t, exc) }));
  };
  usePolling(load, 30, [msisdn]);

  const claim = async (offer: Offer) => {
    setClaiming(offer.campaign_id);
    setNotice(null);
    // one key per offer until it succeeds: a double tap or a retry claims once
    const key = (keys.current[offer.campaign_id] ??= newKey());
    try {
      const made = await call<{ voucher: WalletVoucher; balance: number }>(
        "POST",
        `/v1/campaigns/${encodeURIComponent(offer.campaign_id)}/claims`,
        { body: {}, idempotencyKey: key },
      );
      delete keys.current[offer.campaign_id];
      setNotice({ tone: "ok", text: t("claimed", { title: made.voucher.title ?? offer.voucher.title, code: made.voucher.code }) });
      load();
    } catch (exc) {
      delete keys.current[offer.campaign_id];
      setNotice({ tone: "error", text: errorText(t, exc) });
    } finally {
      setClaiming(null);
    }
  };

  const tierName = (tier: string) => t(`tier_${tier}` as Key);
  const toNext = points?.rank_points_to_next_tier ?? null;
  return (
    <>
      <div aria-live="polite">{notice && <Notice tone={notice.tone}>{notice.text}</Notice>}</div>
      {points === null ? (
        <p>{t("loading")}</p>
      ) : (
        <div class="summary">
          <div class="balance">
            <h2>{t("balance")}</h2>
            <p class="big" data-testid="balance">
              {t("points", { points: number(lang, points.balance) })}
            </p>
          </div>
          <div class="tier">
            <h2>{t("tier")}</h2>
            <p class={`big tier-${points.tier}`}>{tierName(points.tier)}</p>
            {points.next_tier && toNext !== null ? (
              <>
                <label for="tier-progress">{t("to_next_tier", { points: number(lang, toNext), tier: tierName(points.next_tier) })}</label>
                <progress
                  id="tier-progress"
                  max={points.rank_points + toNext}
                  value={points.rank_points}
                />
              </>
            ) : (
              <p>{t("top_tier")}</p>
            )}
            {points.tier_cycle_ends_on && <p class="hint">{t("cycle_ends", { date: day(lang, points.tier_cycle_ends_on) })}</p>}
          </div>
          <div class="expiring">
            <h2>{t("expiring_title")}</h2>
            {points.expiring.length === 0 ? (
              <p>{t("no_expiring")}</p>
            ) : (
              <ul>
                {points.expiring.slice(0, 6).map((e) => (
                  <li key={e.on}>{t("expiring_row", { points: number(lang, e.points), date: day(lang, e.on) })}</li>
                ))}
              </ul>
            )}
          </div>
        </div>
      )}

      <h2>{t("vouchers_title")}</h2>
      {vouchers === null ? (
        <p>{t("loading")}</p>
      ) : vouchers.length === 0 ? (
        <p>{t("no_vouchers")}</p>
      ) : (
        <ul class="vouchers">
          {vouchers.map((v) => (
            <li key={v.code} class={`voucher ${v.status}`}>
              <div class="voucher-text">
                <h3>{v.title}</h3>
                <p>{v.value_vnd ? vnd(lang, v.value_vnd) : v.percent_off ? t("percent", { percent: v.percent_off }) : ""}</p>
                <p class="code">
                  <code>{v.code}</code>
                </p>
                <p class="hint">
                  {v.status === "issued"
                    ? t("valid_until", { date: day(lang, localDay(new Date(v.expires_at))) })
                    : statusWord(t, v.status)}
                </p>
              </div>
              {v.status === "issued" && <Qr text={v.code} label={t("qr_of", { code: v.code })} />}
            </li>
          ))}
        </ul>
      )}

      <h2>{t("offers_title")}</h2>
      {offers === null ? (
        <p>{t("loading")}</p>
      ) : offers.length === 0 ? (
        <p>{t("no_offers")}</p>
      ) : (
        <ul class="offers">
          {offers.map((o) => (
            <li key={o.campaign_id} class="offer">
              <div>
                <h3>{o.name}</h3>
                <p>
                  {o.voucher.title} {t("by_partner", { partner: o.partner.name })}
                </p>
                <p class="price">
                  {t("points", { points: number(lang, o.points_price) })}
                  {o.few_left && <span class="badge few">{t("few_left")}</span>}
                </p>
              </div>
              {canClaim && (
                <button
                  type="button"
                  class="primary"
                  disabled={claiming !== null}
                  aria-label={t("claim_of", { name: o.name, points: number(lang, o.points_price) })}
                  onClick={() => claim(o)}
                >
                  {t("claim")}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
