// The marketer's view: campaigns by status with live stats, one campaign's figures,
// actions (with confirmation), per-day chart and grants from a CSV file.
import { useId, useRef, useState } from "preact/hooks";
import { type Campaign, type CampaignStats, type Day, type GrantResult, type Page, call, get, newKey, query } from "../api";
import { DailyChart } from "../chart";
import { download, readNumbers, type ReadNumbers, sha256, toCsv } from "../csv";
import { dateTime, number, percent, vnd } from "../format";
import { type Key, type Lang, type T, isKey, useI18n } from "../i18n";
import { href, usePolling } from "../router";
import { Notice, Select, errorText, useConfirm } from "../ui";

export const LIVE_SECONDS = 10;

/** A grant's result for one number in words (the API's error code if there are none). */
function grantResult(t: T, status: string): string {
  if (status === "issued") return t("issued");
  const key = `err_grant_${status}`;
  return isKey(key) ? `${t(key)} (${status})` : status;
}
const STATUSES = ["", "draft", "active", "paused", "ended"] as const;
const FIGURES = ["issued", "redeemed", "reversed", "remaining", "redemption_rate"] as const;

function figure(lang: Lang, s: CampaignStats, k: (typeof FIGURES)[number]): string {
  return k === "redemption_rate" ? percent(lang, s[k]) : number(lang, s[k]);
}

function statusKey(status: string): Key {
  return `status_${status || "all"}` as Key;
}

export function value(lang: Lang, t: T, v: Campaign["voucher"]): string {
  if (v.value_vnd) return vnd(lang, v.value_vnd);
  if (v.percent_off) return t("percent", { percent: v.percent_off });
  return "";
}

/** Stats of several campaigns, four requests at a time. */
async function statsOf(ids: string[]): Promise<Record<string, CampaignStats>> {
  const out: Record<string, CampaignStats> = {};
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      const found = await get<Campaign>(`/v1/campaigns/${encodeURIComponent(id)}`);
      if (found.stats) out[id] = found.stats;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return out;
}

export function CampaignList({ flash, onPartners }: { flash: string | null; onPartners: (ids: string[]) => void }) {
  const { t, lang } = useI18n();
  const [status, setStatus] = useState("");
  const [items, setItems] = useState<Campaign[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [stats, setStats] = useState<Record<string, CampaignStats>>({});
  const [error, setError] = useState<string | null>(null);
  const [count, setCount] = useState(20);
  const headingId = `h${useId()}`;

  usePolling(
    () => {
      get<Page<Campaign>>(`/v1/campaigns${query({ status, limit: count })}`)
        .then(async (page) => {
          setItems(page.items);
          setCursor(page.next_cursor);
          onPartners([...new Set(page.items.map((c) => c.partner_id))]);
          setError(null);
          setStats(await statsOf(page.items.map((c) => c.campaign_id)));
        })
        .catch((exc) => setError(errorText(t, exc)));
    },
    LIVE_SECONDS,
    [status, count],
  );

  return (
    <section aria-labelledby={headingId}>
      <div class="title-row">
        <h1 id={headingId} tabIndex={-1}>
          {t("campaigns_title")}
        </h1>
        <a class="button primary" href={href("campaigns", "new")}>
          {t("new_campaign")}
        </a>
      </div>
      {flash && <Notice tone="ok">{flash}</Notice>}
      <div class="toolbar">
        <Select
          label={t("status_filter")}
          value={status}
          onValue={(v) => {
            setStatus(v);
            setItems(null);
          }}
          options={STATUSES.map((s) => ({ value: s, label: t(statusKey(s)) }))}
        />
        <p class="hint">{t("live_note", { seconds: LIVE_SECONDS })}</p>
      </div>
      {error && <Notice tone="error">{error}</Notice>}
      {items === null && !error && <p>{t("loading")}</p>}
      {items && items.length === 0 && <p>{t("no_campaigns")}</p>}
      {items && items.length > 0 && (
        <div class="table-wrap" tabIndex={0} role="region" aria-label={t("campaigns_title")}>
          <table class="campaigns">
            <thead>
              <tr>
                <th scope="col">{t("col_name")}</th>
                <th scope="col">{t("col_status")}</th>
                {FIGURES.map((k) => (
                  <th key={k} scope="col" class="num">
                    {t(k)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {items.map((c) => {
                const s = stats[c.campaign_id];
                return (
                  <tr key={c.campaign_id}>
                    <th scope="row">
                      <a href={href("campaigns", c.campaign_id)}>{c.name}</a>
                      <span class="sub">{value(lang, t, c.voucher)}</span>
                    </th>
                    <td>
                      <span class={`badge ${c.status}`}>{t(statusKey(c.status))}</span>
                    </td>
                    {FIGURES.map((k) => (
                      <td key={k} class="num">
                        {s ? figure(lang, s, k) : "…"}
                      </td>
                    ))}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" onClick={() => setCount(Math.min(count + 20, 200))}>
          {t("more")}
        </button>
      )}
    </section>
  );
}

const ACTIONS: Record<string, { action: "launch" | "pause" | "end"; word: "launch" | "resume" | "pause" | "end" }[]> = {
  draft: [{ action: "launch", word: "launch" }],
  active: [
    { action: "pause", word: "pause" },
    { action: "end", word: "end" },
  ],
  paused: [
    { action: "launch", word: "resume" },
    { action: "end", word: "end" },
  ],
  ended: [],
};

export function CampaignDetail({ id, flash }: { id: string; flash: string | null }) {
  const { t, lang } = useI18n();
  const [campaign, setCampaign] = useState<Campaign | null>(null);
  const [days, setDays] = useState<Day[] | null>(null);
  const [notice, setNotice] = useState<{ tone: "ok" | "error"; text: string } | null>(
    flash ? { tone: "ok", text: flash } : null,
  );
  const [busy, setBusy] = useState(false);
  const [dialog, ask] = useConfirm();
  const path = `/v1/campaigns/${encodeURIComponent(id)}`;
  const headingId = `h${useId()}`;
  const chartId = `c${useId()}`;

  const load = () => {
    get<Campaign>(path)
      .then(setCampaign)
      .catch((exc) => setNotice({ tone: "error", text: errorText(t, exc) }));
    get<{ items: Day[] }>(`${path}/daily`)
      .then((r) => setDays(r.items))
      .catch(() => setDays([]));
  };
  usePolling(load, LIVE_SECONDS, [id]);

  const act = async (action: "launch" | "pause" | "end", word: "launch" | "resume" | "pause" | "end") => {
    if (!campaign) return;
    const yes = await ask(t(`confirm_${word}` as Key, { name: campaign.name }), t(word));
    if (!yes) return;
    setBusy(true);
    try {
      const changed = await call<Campaign>("POST", `${path}/${action}`, { idempotencyKey: newKey() });
      setCampaign({ ...changed, stats: campaign.stats });
      setNotice({ tone: "ok", text: t(`done_${word}` as Key, { name: changed.name }) });
      load();
    } catch (exc) {
      setNotice({ tone: "error", text: errorText(t, exc) });
    } finally {
      setBusy(false);
    }
  };

  if (!campaign) {
    return (
      <section>
        <a href={href("campaigns")}>{t("back")}</a>
        {notice ? <Notice tone={notice.tone}>{notice.text}</Notice> : <p>{t("loading")}</p>}
      </section>
    );
  }
  const s = campaign.stats;
  return (
    <section aria-labelledby={headingId} class="detail">
      {dialog}
      <a href={href("campaigns")}>{t("back")}</a>
      <div class="title-row">
        <h1 id={headingId} tabIndex={-1}>
          {campaign.name}
        </h1>
        <span class={`badge ${campaign.status}`}>{t(statusKey(campaign.status))}</span>
      </div>
      <p class="lead">
        {campaign.voucher.title} · {value(lang, t, campaign.voucher)} ·{" "}
        {t("price_points", { points: number(lang, campaign.points_price) })}
      </p>
      <p class="hint">
        {t("window", { from: dateTime(lang, campaign.starts_at), to: dateTime(lang, campaign.ends_at) })} ·{" "}
        {t("partner")}: <code>{campaign.partner_id}</code>
      </p>
      {notice && <Notice tone={notice.tone}>{notice.text}</Notice>}
      <div class="actions">
        {(ACTIONS[campaign.status] ?? []).map(({ action, word }) => (
          <button
            key={word}
            type="button"
            class={word === "end" ? "danger" : "primary"}
            disabled={busy}
            onClick={() => act(action, word)}
          >
            {t(word)}
          </button>
        ))}
      </div>
      {s && (
        <dl class="stats" aria-live="polite">
          {FIGURES.map((k) => (
            <div key={k}>
              <dt>{t(k)}</dt>
              <dd>{figure(lang, s, k)}</dd>
            </div>
          ))}
        </dl>
      )}
      <h2 id={chartId}>{t("chart_title")}</h2>
      {days === null ? <p>{t("loading")}</p> : <DailyChart days={days} titleId={chartId} />}
      <Grant campaign={campaign} onGranted={load} />
    </section>
  );
}

const CHUNK = 250;

function Grant({ campaign, onGranted }: { campaign: Campaign; onGranted: () => void }) {
  const { t } = useI18n();
  const [file, setFile] = useState<{ name: string; text: string; read: ReadNumbers } | null>(null);
  const [done, setDone] = useState(0);
  const [running, setRunning] = useState(false);
  const [results, setResults] = useState<GrantResult[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const input = useRef<HTMLInputElement>(null);
  const headingId = `g${useId()}`;
  const fileId = `f${useId()}`;

  const choose = async (chosen: File | undefined) => {
    setResults(null);
    setError(null);
    setDone(0);
    if (!chosen) return setFile(null);
    const text = await chosen.text();
    setFile({ name: chosen.name, text, read: readNumbers(text) });
  };

  const grant = async () => {
    if (!file || !file.read.numbers.length) return setError(t("grant_none"));
    setRunning(true);
    setError(null);
    const all: GrantResult[] = [];
    setResults(all);
    // the same file granted again sends the same keys: nothing is issued twice
    const fileHash = await sha256(`${campaign.campaign_id}\n${file.read.numbers.join("\n")}`);
    try {
      for (let start = 0; start < file.read.numbers.length; start += CHUNK) {
        const msisdns = file.read.numbers.slice(start, start + CHUNK);
        const reply = await call<{ results: GrantResult[] }>(
          "POST",
          `/v1/campaigns/${encodeURIComponent(campaign.campaign_id)}/grants`,
          { body: { msisdns }, idempotencyKey: `grant-${fileHash.slice(0, 40)}-${start / CHUNK}` },
        );
        all.push(...reply.results);
        setResults([...all]);
        setDone(start + msisdns.length);
      }
      onGranted();
    } catch (exc) {
      setError(errorText(t, exc));
    } finally {
      setRunning(false);
    }
  };

  const issued = results?.filter((r) => r.status === "issued").length ?? 0;
  const total = file?.read.numbers.length ?? 0;
  return (
    <section aria-labelledby={headingId} class="grant">
      <h2 id={headingId}>{t("grant_title")}</h2>
      {campaign.status !== "active" ? (
        <p class="hint">{t("grant_only_active")}</p>
      ) : (
        <>
          <div class="field">
            <label for={fileId}>{t("grant_file")}</label>
            <input
              ref={input}
              id={fileId}
              type="file"
              accept=".csv,text/csv,text/plain"
              aria-describedby={`${fileId}-hint`}
              disabled={running}
              onChange={(e) => choose((e.currentTarget as HTMLInputElement).files?.[0])}
            />
            <p class="hint" id={`${fileId}-hint`}>
              {t("grant_hint")}
            </p>
          </div>
          {file && (
            <div role="status">
              <p>{t("grant_read", { count: file.read.numbers.length, duplicates: file.read.duplicates })}</p>
              {file.read.unreadable.length > 0 && (
                <ul class="problems">
                  {file.read.unreadable.slice(0, 20).map((u) => (
                    <li key={u.line}>{t("grant_unreadable", { line: u.line, text: u.text })}</li>
                  ))}
                </ul>
              )}
            </div>
          )}
          <button type="button" class="primary" disabled={running || !file} onClick={grant}>
            {t("grant_start")}
          </button>
          {(running || results) && (
            <div class="progress">
              <label for={`${fileId}-progress`}>{t("grant_progress", { done, total })}</label>
              <progress id={`${fileId}-progress`} max={total || 1} value={done} />
            </div>
          )}
          {error && <Notice tone="error">{error}</Notice>}
          {results && !running && (
            <Notice tone="ok">{t("grant_done", { issued, refused: results.length - issued })}</Notice>
          )}
          {results && results.length > 0 && (
            <>
              <h3>{t("grant_results")}</h3>
              <div class="table-wrap" tabIndex={0} role="region" aria-label={t("grant_results")}>
                <table class="results">
                  <thead>
                    <tr>
                      <th scope="col">{t("col_msisdn")}</th>
                      <th scope="col">{t("col_result")}</th>
                      <th scope="col">{t("col_code")}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {results.slice(0, 200).map((r) => (
                      <tr key={r.msisdn} class={r.status === "issued" ? "" : "refused"}>
                        <td>{r.msisdn}</td>
                        <td>{grantResult(t, r.status)}</td>
                        <td>
                          <code>{r.code ?? ""}</code>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <button
                type="button"
                onClick={() =>
                  download(
                    `grants-${campaign.campaign_id}.csv`,
                    toCsv(
                      ["msisdn", "status", "code"],
                      results.map((r) => [r.msisdn, r.status, r.code]),
                    ),
                  )
                }
              >
                {t("download_results")}
              </button>
            </>
          )}
        </>
      )}
    </section>
  );
}
