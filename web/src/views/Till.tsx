// The partner's till, made for a phone: type (or scan) a voucher code, look it up,
// redeem it against an order, reverse a recent redemption, see today's, and save a
// period's redemptions as CSV. A code whose check character fails is caught here,
// before any request.
import { useId, useState } from "preact/hooks";
import { type PartnerVoucher, type Redemption, type Reversal, all, call, get, newKey } from "../api";
import { check, compact, display } from "../codes";
import { download, toCsv } from "../csv";
import { dateTime, localDay, number, time, vnd } from "../format";
import { type Key, type T, useI18n } from "../i18n";
import { usePolling } from "../router";
import { Field, Notice, errorText, useConfirm } from "../ui";

function warning(t: T, text: string): string | null {
  const found = check(text);
  switch (found.kind) {
    case "ok":
      return null;
    case "empty":
      return t("w_empty");
    case "incomplete":
      return t("w_incomplete", { have: found.have });
    case "too-long":
      return t("w_too_long");
    case "bad-symbol":
      return t("w_bad_symbol", { symbol: found.symbol });
    case "bad-check":
      return t("w_bad_check");
  }
}

export function statusWord(t: T, status: string): string {
  return t(`vs_${status}` as Key);
}

export function Till() {
  const { t, lang } = useI18n();
  const [code, setCode] = useState("");
  const [codeWarning, setCodeWarning] = useState<string | null>(null);
  const [voucher, setVoucher] = useState<PartnerVoucher | null>(null);
  const [order, setOrder] = useState("");
  const [orderError, setOrderError] = useState<string | null>(null);
  const [result, setResult] = useState<{ tone: "ok" | "error"; text: string } | null>(null);
  const [redeemKey, setRedeemKey] = useState(newKey());
  const [busy, setBusy] = useState(false);
  const [today, setToday] = useState<Redemption[] | null>(null);
  const [dialog, ask] = useConfirm();
  const headingId = `h${useId()}`;

  const loadToday = () => {
    const day = localDay();
    all<Redemption>("/v1/redemptions", { from: day, to: day })
      .then((items) => setToday(items.reverse()))
      .catch((exc) => setResult({ tone: "error", text: errorText(t, exc) }));
  };
  usePolling(loadToday, 30, []);

  const typed = (text: string) => {
    setCode(text);
    setVoucher(null);
    setResult(null);
    setRedeemKey(newKey());
    // warn as soon as a whole code is there; shorter input is warned about on Look up
    const found = check(text);
    setCodeWarning(found.kind === "bad-check" || found.kind === "bad-symbol" || found.kind === "too-long" ? warning(t, text) : null);
  };

  const valid = (): string | null => {
    const problem = warning(t, code);
    setCodeWarning(problem);
    return problem ? null : compact(code);
  };

  const lookUp = async (e?: Event) => {
    e?.preventDefault();
    const normal = valid();
    if (!normal) return;
    setBusy(true);
    setResult(null);
    try {
      setVoucher(await get<PartnerVoucher>(`/v1/vouchers/${encodeURIComponent(display(normal))}`));
    } catch (exc) {
      setVoucher(null);
      setResult({ tone: "error", text: errorText(t, exc, "voucher") });
    } finally {
      setBusy(false);
    }
  };

  const redeem = async () => {
    const normal = valid();
    if (!normal) return;
    if (!order.trim()) return setOrderError(t("e_required"));
    setBusy(true);
    setResult(null);
    try {
      const done = await call<Redemption>("POST", "/v1/redemptions", {
        body: { code: display(normal), order_ref: order.trim() },
        idempotencyKey: redeemKey,
      });
      setResult({
        tone: "ok",
        text: t("redeemed_ok", { code: done.code, order: done.order_ref, time: time(lang, done.redeemed_at) }),
      });
      setVoucher(voucher ? { ...voucher, status: "redeemed" } : null);
      setOrder("");
      setRedeemKey(newKey());
      loadToday();
    } catch (exc) {
      setResult({ tone: "error", text: errorText(t, exc, "voucher") });
    } finally {
      setBusy(false);
    }
  };

  const reverse = async (r: Redemption) => {
    const yes = await ask(t("confirm_reverse", { code: r.code, order: r.order_ref }), t("reverse"));
    if (!yes) return;
    try {
      const done = await call<Reversal>("POST", `/v1/redemptions/${encodeURIComponent(r.redemption_id)}/reversal`, {
        idempotencyKey: `reverse-${r.redemption_id}`,
      });
      setResult({ tone: "ok", text: t("reversed_ok", { status: statusWord(t, done.voucher_status) }) });
      if (voucher && compact(voucher.code) === compact(r.code)) setVoucher({ ...voucher, status: done.voucher_status });
      loadToday();
    } catch (exc) {
      setResult({ tone: "error", text: errorText(t, exc) });
    }
  };

  const recent = (today ?? []).filter((r) => !r.reversed_at).slice(0, 5);
  return (
    <section aria-labelledby={headingId} class="till">
      {dialog}
      <h1 id={headingId} tabIndex={-1}>
        {t("till_title")}
      </h1>
      <form class="till-form" noValidate onSubmit={lookUp}>
        <Field
          label={t("code_label")}
          value={code}
          onValue={typed}
          error={codeWarning}
          hint={t("code_hint")}
          autocomplete="off"
          autocapitalize="characters"
          spellcheck={false}
          class="code-input"
          name="code"
        />
        <button type="submit" disabled={busy}>
          {t("look_up")}
        </button>
      </form>
      {voucher && (
        <dl class="voucher-card" aria-live="polite">
          <div>
            <dt>{t("v_title")}</dt>
            <dd>{voucher.title}</dd>
          </div>
          <div>
            <dt>{t("v_value")}</dt>
            <dd>
              {voucher.value_vnd
                ? vnd(lang, voucher.value_vnd)
                : voucher.percent_off
                  ? t("percent", { percent: voucher.percent_off })
                  : ""}
            </dd>
          </div>
          <div>
            <dt>{t("v_status")}</dt>
            <dd class={`status ${voucher.status}`}>{statusWord(t, voucher.status)}</dd>
          </div>
          <div>
            <dt>{t("v_expires")}</dt>
            <dd>{dateTime(lang, voucher.expires_at)}</dd>
          </div>
        </dl>
      )}
      <div class="redeem-row">
        <Field
          label={t("order_ref")}
          value={order}
          onValue={(text) => {
            setOrder(text);
            setOrderError(null);
            setRedeemKey(newKey());
          }}
          error={orderError}
          autocomplete="off"
          name="order_ref"
          maxLength={128}
        />
        <button type="button" class="primary" disabled={busy} onClick={redeem}>
          {t("redeem")}
        </button>
      </div>
      <div aria-live="polite">{result && <Notice tone={result.tone}>{result.text}</Notice>}</div>

      <h2>{t("last_redemptions")}</h2>
      {recent.length === 0 ? (
        <p>{t("no_redemptions")}</p>
      ) : (
        <ul class="recent">
          {recent.map((r) => (
            <li key={r.redemption_id}>
              <span>
                <code>{r.code}</code> · {r.order_ref} · {time(lang, r.redeemed_at)}
              </span>
              <button type="button" aria-label={t("reverse_of", { code: r.code })} onClick={() => reverse(r)}>
                {t("reverse")}
              </button>
            </li>
          ))}
        </ul>
      )}

      <h2>{t("today_title")}</h2>
      {today === null ? (
        <p>{t("loading")}</p>
      ) : (
        <>
          <p>{t("today_count", { count: number(lang, today.filter((r) => !r.reversed_at).length) })}</p>
          {today.length > 0 && (
            <div class="table-wrap" tabIndex={0} role="region" aria-label={t("today_title")}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t("col_time")}</th>
                    <th scope="col">{t("col_code")}</th>
                    <th scope="col">{t("col_order")}</th>
                  </tr>
                </thead>
                <tbody>
                  {today.map((r) => (
                    <tr key={r.redemption_id} class={r.reversed_at ? "reversed" : ""}>
                      <td>{time(lang, r.redeemed_at)}</td>
                      <td>
                        <code>{r.code}</code>
                      </td>
                      <td>
                        {r.order_ref}
                        {r.reversed_at && <span class="sub"> ({t("reversed_at", { time: time(lang, r.reversed_at) })})</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
      <Export />
    </section>
  );
}

function Export() {
  const { t } = useI18n();
  const [from, setFrom] = useState(localDay());
  const [to, setTo] = useState(localDay());
  const [note, setNote] = useState<{ tone: "ok" | "error"; text: string } | null>(null);
  const headingId = `e${useId()}`;

  const save = async (e: Event) => {
    e.preventDefault();
    setNote(null);
    try {
      const items = await all<Redemption>("/v1/redemptions", { from, to });
      const file = `redemptions-${from}-${to}.csv`;
      download(
        file,
        toCsv(
          ["redemption_id", "code", "order_ref", "store_id", "redeemed_at", "reversed_at"],
          items.map((r) => [r.redemption_id, r.code, r.order_ref, r.store_id, r.redeemed_at, r.reversed_at]),
        ),
      );
      setNote({ tone: "ok", text: t("exported", { count: items.length, file }) });
    } catch (exc) {
      setNote({ tone: "error", text: errorText(t, exc) });
    }
  };

  return (
    <section aria-labelledby={headingId}>
      <h2 id={headingId}>{t("export_title")}</h2>
      <form class="export" onSubmit={save}>
        <Field label={t("export_from")} type="date" value={from} onValue={setFrom} name="from" />
        <Field label={t("export_to")} type="date" value={to} onValue={setTo} name="to" />
        <button type="submit">{t("download_csv")}</button>
      </form>
      {note && <Notice tone={note.tone}>{note.text}</Notice>}
    </section>
  );
}
