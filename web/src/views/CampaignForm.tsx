// A new campaign (a draft). Checked here first (required fields, whole numbers in the
// API's ranges, the end after the start); what only the server knows (an unknown
// partner, its own checks) comes back as a 400 and is shown beside the field it names.
import { useId, useRef, useState } from "preact/hooks";
import { ApiError, type Campaign, call, newKey } from "../api";
import { fromLocalInput, toLocalInput } from "../format";
import { type Key, type T, useI18n } from "../i18n";
import { href } from "../router";
import { Field, Notice, Select, errorText } from "../ui";

interface Values {
  name: string;
  partner_id: string;
  voucher_title: string;
  value_kind: "vnd" | "percent";
  value_vnd: string;
  percent_off: string;
  points_price: string;
  inventory: string;
  per_subscriber_limit: string;
  starts_at: string;
  ends_at: string;
  voucher_valid_days: string;
  expected_peak_claims_per_second: string;
  min_tier: string;
}

type Name = keyof Values;
type Errors = Partial<Record<Name, string>>;

// the API's bounds (chalicelib/api/models.py, CampaignIn)
const INTEGERS: Partial<Record<Name, [number, number]>> = {
  value_vnd: [1, 10 ** 10],
  percent_off: [1, 100],
  points_price: [0, 10 ** 9],
  inventory: [1, 10 ** 8],
  per_subscriber_limit: [1, 1000],
  voucher_valid_days: [1, 3650],
  expected_peak_claims_per_second: [0, 100000],
};
const TIERS = ["", "potential", "loyal", "silver", "gold", "diamond"];

function defaults(): Values {
  const now = new Date();
  return {
    name: "",
    partner_id: "",
    voucher_title: "",
    value_kind: "vnd",
    value_vnd: "",
    percent_off: "",
    points_price: "1000",
    inventory: "1000",
    per_subscriber_limit: "1",
    starts_at: toLocalInput(now),
    ends_at: toLocalInput(new Date(now.getTime() + 30 * 86400 * 1000)),
    voucher_valid_days: "30",
    expected_peak_claims_per_second: "0",
    min_tier: "",
  };
}

export function check(t: T, v: Values): Errors {
  const errors: Errors = {};
  const required: Name[] = ["name", "partner_id", "voucher_title", "starts_at", "ends_at"];
  for (const name of required) if (!v[name].trim()) errors[name] = t("e_required");
  for (const name of ["name", "voucher_title"] as const) {
    if (v[name].length > 200) errors[name] = t("e_text_length", { max: 200 });
  }
  const wanted = new Set<Name>(Object.keys(INTEGERS) as Name[]);
  wanted.delete(v.value_kind === "vnd" ? "percent_off" : "value_vnd");
  for (const name of wanted) {
    const [min, max] = INTEGERS[name] as [number, number];
    const text = v[name].trim();
    if (!text) errors[name] = t("e_required");
    else if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
      errors[name] = t("e_int_range", { min: min.toLocaleString(), max: max.toLocaleString() });
    }
  }
  const starts = fromLocalInput(v.starts_at);
  const ends = fromLocalInput(v.ends_at);
  if (v.starts_at && !starts) errors.starts_at = t("e_datetime");
  if (v.ends_at && !ends) errors.ends_at = t("e_datetime");
  if (starts && ends && ends <= starts) errors.ends_at = t("e_ends_after");
  return errors;
}

function body(v: Values): Record<string, unknown> {
  const voucher: Record<string, unknown> = { title: v.voucher_title.trim() };
  if (v.value_kind === "vnd") voucher.value_vnd = Number(v.value_vnd);
  else voucher.percent_off = Number(v.percent_off);
  return {
    name: v.name.trim(),
    partner_id: v.partner_id.trim(),
    voucher,
    points_price: Number(v.points_price),
    inventory: Number(v.inventory),
    per_subscriber_limit: Number(v.per_subscriber_limit),
    starts_at: fromLocalInput(v.starts_at),
    ends_at: fromLocalInput(v.ends_at),
    voucher_valid_days: Number(v.voucher_valid_days),
    expected_peak_claims_per_second: Number(v.expected_peak_claims_per_second),
    eligibility: v.min_tier ? { min_tier: v.min_tier } : {},
  };
}

// where the API's own words name a field: "voucher.title: ..." (pydantic) or
// "partner_id does not name a partner." (the service)
const API_FIELDS: Record<string, Name> = {
  name: "name",
  partner_id: "partner_id",
  "voucher.title": "voucher_title",
  "voucher.value_vnd": "value_vnd",
  "voucher.percent_off": "percent_off",
  voucher: "value_vnd",
  points_price: "points_price",
  inventory: "inventory",
  per_subscriber_limit: "per_subscriber_limit",
  starts_at: "starts_at",
  ends_at: "ends_at",
  voucher_valid_days: "voucher_valid_days",
  expected_peak_claims_per_second: "expected_peak_claims_per_second",
  "eligibility.min_tier": "min_tier",
};

/** The field errors a 400 VALIDATION_ERROR's message names, by field. */
export function serverErrors(message: string, kind: Values["value_kind"]): Errors {
  const errors: Errors = {};
  for (const part of message.split("; ")) {
    const located = /^([\w.]+): (.*)$/.exec(part);
    let where = located?.[1];
    let text = located?.[2] ?? part;
    if (!located) {
      where = Object.keys(API_FIELDS)
        .sort((a, b) => b.length - a.length)
        .find((name) => part.startsWith(`${name} `));
      text = part;
    }
    let name = where ? API_FIELDS[where] : undefined;
    if (name === "value_vnd" && kind === "percent") name = "percent_off";
    if (name && !errors[name]) errors[name] = text;
  }
  return errors;
}

export function CampaignForm({ partners, onCreated }: { partners: string[]; onCreated: (c: Campaign) => void }) {
  const { t } = useI18n();
  const [v, setV] = useState<Values>(defaults);
  const [errors, setErrors] = useState<Errors>({});
  const [general, setGeneral] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const key = useRef(newKey());
  const headingId = `h${useId()}`;
  const listId = `p${useId()}`;

  const set = (name: Name) => (value: string) => {
    setV({ ...v, [name]: value });
    key.current = newKey(); // another body: another request
    if (errors[name]) setErrors({ ...errors, [name]: undefined });
  };

  const focusFirstError = (found: Errors) => {
    requestAnimationFrame(() => {
      const first = form.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
      first?.focus();
    });
    setErrors(found);
  };

  const submit = async (e: Event) => {
    e.preventDefault();
    const found = check(t, v);
    setGeneral(null);
    if (Object.keys(found).length) {
      setGeneral(t("form_has_errors"));
      return focusFirstError(found);
    }
    setBusy(true);
    try {
      const created = await call<Campaign>("POST", "/v1/campaigns", { body: body(v), idempotencyKey: key.current });
      onCreated(created);
    } catch (exc) {
      if (exc instanceof ApiError && exc.code === "VALIDATION_ERROR") {
        const fromServer = serverErrors(exc.message, v.value_kind);
        setGeneral(Object.keys(fromServer).length ? t("form_has_errors") : exc.message);
        focusFirstError(fromServer);
      } else setGeneral(errorText(t, exc));
    } finally {
      setBusy(false);
    }
  };

  const field = (name: Name, label: Key, extra: Record<string, unknown> = {}) => (
    <Field label={t(label)} value={v[name]} onValue={set(name)} error={errors[name]} name={name} {...extra} />
  );
  const integer = { inputMode: "numeric", autocomplete: "off" };

  return (
    <section aria-labelledby={headingId}>
      <a href={href("campaigns")}>{t("back")}</a>
      <h1 id={headingId} tabIndex={-1}>
        {t("form_title")}
      </h1>
      {general && <Notice tone="error">{general}</Notice>}
      <form ref={form} class="campaign-form" noValidate onSubmit={submit}>
        <fieldset>
          <legend>{t("f_about")}</legend>
          {field("name", "f_name", { autocomplete: "off" })}
          {field("partner_id", "f_partner_id", { list: listId, autocomplete: "off", spellcheck: false })}
          <datalist id={listId}>
            {partners.map((p) => (
              <option key={p} value={p} />
            ))}
          </datalist>
        </fieldset>
        <fieldset>
          <legend>{t("v_title")}</legend>
          {field("voucher_title", "f_voucher_title", { autocomplete: "off" })}
          <Select
            label={t("f_value_kind")}
            value={v.value_kind}
            onValue={set("value_kind")}
            options={[
              { value: "vnd", label: t("f_value_kind_vnd") },
              { value: "percent", label: t("f_value_kind_percent") },
            ]}
          />
          {v.value_kind === "vnd"
            ? field("value_vnd", "f_value_vnd", integer)
            : field("percent_off", "f_percent_off", integer)}
          {field("voucher_valid_days", "f_voucher_valid_days", integer)}
        </fieldset>
        <fieldset>
          <legend>{t("f_claims")}</legend>
          {field("points_price", "f_points_price", integer)}
          {field("inventory", "f_inventory", integer)}
          {field("per_subscriber_limit", "f_per_subscriber_limit", integer)}
          {field("expected_peak_claims_per_second", "f_peak", integer)}
          {field("starts_at", "f_starts_at", { type: "datetime-local" })}
          {field("ends_at", "f_ends_at", { type: "datetime-local" })}
          <Select
            label={t("f_min_tier")}
            value={v.min_tier}
            onValue={set("min_tier")}
            options={TIERS.map((tier) => ({ value: tier, label: tier ? t(`tier_${tier}` as Key) : t("any_tier") }))}
          />
        </fieldset>
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            {t("create_draft")}
          </button>
        </div>
      </form>
    </section>
  );
}
