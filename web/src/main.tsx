// The console: one page, three views by who signed in (marketer: campaigns; a
// partner's key: the till; subscriber: the wallet; operator: any wallet and the
// campaigns' figures). Vietnamese first, English one click away.
import { render } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { type ConsoleConfig, get, whenUnauthenticated } from "./api";
import { I18nContext, type Lang, translate } from "./i18n";
import { href, navigate, useRoute } from "./router";
import { type Session, finishOidc, save, session } from "./session";
import "./styles.css";
import { Notice } from "./ui";
import { CampaignDetail, CampaignList } from "./views/Campaigns";
import { CampaignForm } from "./views/CampaignForm";
import { SignIn } from "./views/SignIn";
import { Till } from "./views/Till";
import { Wallet } from "./views/Wallet";

const LANG_KEY = "diem.lang";

function initialLang(): Lang {
  return sessionStorage.getItem(LANG_KEY) === "en" ? "en" : "vi";
}

function home(s: Session): string {
  if (s.kind === "partner") return "till";
  return s.role === "marketer" ? "campaigns" : "wallet";
}

function App() {
  const [lang, setLangState] = useState<Lang>(initialLang);
  const [config, setConfig] = useState<ConsoleConfig | null>(null);
  const [who, setWho] = useState<Session | null>(session());
  const [problem, setProblem] = useState<string | null>(null);
  const [flash, setFlash] = useState<string | null>(null);
  const [partners, setPartners] = useState<string[]>([]);
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const i18n = useMemo(
    () => ({
      lang,
      t: (key: Parameters<typeof translate>[1], vars?: Parameters<typeof translate>[2]) => translate(lang, key, vars),
      setLang: (next: Lang) => {
        sessionStorage.setItem(LANG_KEY, next);
        setLangState(next);
      },
    }),
    [lang],
  );
  const t = i18n.t;

  useEffect(() => {
    document.documentElement.lang = lang;
    document.title = `${t("app_name")} · ${t(who ? (home(who) === "till" ? "nav_till" : home(who) === "wallet" ? "nav_wallet" : "nav_campaigns") : "sign_in_title")}`;
  }, [lang, who]);

  useEffect(() => {
    whenUnauthenticated(() => {
      save(null);
      setWho(null);
      setProblem(translate(lang, "error_session"));
    });
    get<ConsoleConfig>("/v1/console/config")
      .then(async (c) => {
        setConfig(c);
        if (c.oidc) {
          try {
            const made = await finishOidc(c.oidc);
            if (made) signIn(made);
          } catch (exc) {
            setProblem(translate(lang, "oidc_failed", { reason: String((exc as Error).message ?? exc) }));
          }
        }
      })
      .catch(() => setConfig({ stage: "", dev_sign_in: false, oidc: null }));
  }, []);

  // a new view: its heading takes the focus, so a screen reader starts there
  useEffect(() => {
    setTimeout(() => main.current?.querySelector<HTMLElement>("h1")?.focus({ preventScroll: false }), 0);
  }, [route.join("/"), who === null]);

  const signIn = (s: Session) => {
    save(s);
    setWho(s);
    setProblem(null);
    navigate(home(s));
  };
  const signOut = () => {
    save(null);
    setWho(null);
    navigate("");
  };
  const say = (text: string | null) => setFlash(text);

  let view;
  if (!who) {
    view = config ? <SignIn config={config} onSession={signIn} problem={problem} /> : <p>{t("loading")}</p>;
  } else {
    const [section, id] = route;
    if (who.kind === "partner") view = <Till />;
    else if (section === "campaigns" && who.role === "marketer" && id === "new") {
      view = (
        <CampaignForm
          partners={partners}
          onCreated={(c) => {
            say(t("created", { name: c.name }));
            navigate("campaigns", c.campaign_id);
          }}
        />
      );
    } else if (section === "campaigns" && id && who.role === "marketer") view = <CampaignDetail id={id} flash={flash} key={id} />;
    else if (who.role === "marketer") view = <CampaignList flash={flash} onPartners={setPartners} />;
    else view = <Wallet msisdn={who.role === "subscriber" ? who.subject : null} canClaim={who.role === "subscriber"} />;
  }
  // a flash message is for the next view only
  useEffect(() => {
    if (flash) {
      const timer = setTimeout(() => setFlash(null), 8000);
      return () => clearTimeout(timer);
    }
    return undefined;
  }, [flash]);

  const other: Lang = lang === "vi" ? "en" : "vi";
  return (
    <I18nContext.Provider value={i18n}>
      <a class="skip" href="#main">
        {t("skip")}
      </a>
      <header class="top">
        <a class="brand" href={who ? href(home(who)) : "#/"}>
          {t("app_name")}
        </a>
        {who && (
          <nav aria-label={t("nav_label")}>
            {who.kind === "partner" ? (
              <a href={href("till")} aria-current="page">
                {t("nav_till")}
              </a>
            ) : who.role === "marketer" ? (
              <a href={href("campaigns")} aria-current={route[0] === "campaigns" ? "page" : undefined}>
                {t("nav_campaigns")}
              </a>
            ) : (
              <a href={href("wallet")} aria-current="page">
                {t("nav_wallet")}
              </a>
            )}
          </nav>
        )}
        <div class="tools">
          {who && (
            <span class="who">
              {t("signed_in_as", {
                who: who.kind === "partner" ? t("till_sign_in_title") : `${who.subject} (${t(`role_${who.role}`)})`,
              })}
            </span>
          )}
          <button type="button" lang={other} aria-label={t("switch_lang_label")} onClick={() => i18n.setLang(other)}>
            {t("switch_lang")}
          </button>
          {who && (
            <button type="button" onClick={signOut}>
              {t("sign_out")}
            </button>
          )}
        </div>
      </header>
      <main id="main" ref={main}>
        {view}
      </main>
      {problem && who && <Notice tone="error">{problem}</Notice>}
    </I18nContext.Provider>
  );
}

const root = document.getElementById("app");
if (root) render(<App />, root);
