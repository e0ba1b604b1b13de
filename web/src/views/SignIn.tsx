// Signing in: the development sign-in where the server offers it (local dev only),
// OpenID Connect with PKCE where the stage has an identity provider, and the till's
// partner API key.
import { useId, useState } from "preact/hooks";
import { type ConsoleConfig, call } from "../api";
import { normaliseMsisdn } from "../csv";
import { useI18n } from "../i18n";
import { type Session, beginOidc, fromToken } from "../session";
import { Field, Notice, Select, errorText } from "../ui";

export function SignIn({
  config,
  onSession,
  problem,
}: {
  config: ConsoleConfig;
  onSession: (s: Session) => void;
  problem: string | null;
}) {
  const { t } = useI18n();
  const headingId = `h${useId()}`;
  return (
    <section aria-labelledby={headingId} class="sign-in">
      <h1 id={headingId} tabIndex={-1}>
        {t("sign_in_title")}
      </h1>
      {problem && <Notice tone="error">{problem}</Notice>}
      <div class="cards">
        {config.dev_sign_in && <DevSignIn onSession={onSession} />}
        {config.oidc && (
          <div class="card">
            <h2>{t("oidc_title")}</h2>
            <button type="button" class="primary" onClick={() => config.oidc && beginOidc(config.oidc)}>
              {t("oidc_sign_in")}
            </button>
          </div>
        )}
        {!config.dev_sign_in && !config.oidc && <p>{t("no_sign_in")}</p>}
        <TillSignIn onSession={onSession} />
      </div>
    </section>
  );
}

function DevSignIn({ onSession }: { onSession: (s: Session) => void }) {
  const { t } = useI18n();
  const [role, setRole] = useState("marketer");
  const [subject, setSubject] = useState("demo-marketer");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!subject.trim()) return setError(t("e_required"));
    if (role === "subscriber" && !normaliseMsisdn(subject)) {
      return setError(t("grant_unreadable", { line: 1, text: subject }));
    }
    setBusy(true);
    try {
      const made = await call<{ token: string }>("POST", "/v1/dev/sign-in", { body: { role, subject: subject.trim() } });
      const s = fromToken(made.token);
      if (s) onSession(s);
    } catch (exc) {
      setError(errorText(t, exc));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card" onSubmit={submit} noValidate>
      <h2>{t("dev_sign_in_title")}</h2>
      <p class="hint">{t("dev_sign_in_note")}</p>
      <Select
        label={t("role")}
        value={role}
        onValue={(r) => {
          setRole(r);
          setError(null);
          setSubject(r === "subscriber" ? "0961234567" : r === "operator" ? "demo-crm" : "demo-marketer");
        }}
        options={(["marketer", "operator", "subscriber"] as const).map((r) => ({ value: r, label: t(`role_${r}`) }))}
      />
      <Field
        label={t("subject")}
        value={subject}
        onValue={(v) => {
          setSubject(v);
          setError(null);
        }}
        error={error}
        autocomplete="off"
        name="subject"
      />
      <button type="submit" class="primary" disabled={busy}>
        {t("sign_in")}
      </button>
    </form>
  );
}

function TillSignIn({ onSession }: { onSession: (s: Session) => void }) {
  const { t } = useI18n();
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  return (
    <form
      class="card"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (!key.trim()) return setError(t("e_required"));
        onSession({ kind: "partner", apiKey: key.trim() });
      }}
    >
      <h2>{t("till_sign_in_title")}</h2>
      <p class="hint">{t("till_sign_in_note")}</p>
      <Field
        label={t("api_key")}
        type="password"
        value={key}
        onValue={(v) => {
          setKey(v);
          setError(null);
        }}
        error={error}
        autocomplete="off"
        name="api_key"
      />
      <button type="submit" class="primary">
        {t("open_till")}
      </button>
    </form>
  );
}
