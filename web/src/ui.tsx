// Small accessible building blocks: a labelled field whose error stands beside it
// (aria-invalid, aria-describedby), a confirmation dialog (the native <dialog>:
// focus kept inside, Esc cancels), and notices read out by screen readers.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";
import { type Key, type T, isKey, useI18n } from "./i18n";

/** The input attributes the console's fields use. */
interface InputProps {
  id?: string;
  name?: string;
  type?: "text" | "password" | "date" | "datetime-local" | "tel";
  autocomplete?: string;
  autocapitalize?: "characters" | "off";
  inputMode?: "text" | "numeric" | "tel";
  list?: string;
  spellcheck?: boolean;
  maxLength?: number;
  class?: string;
}

export function Field(
  props: InputProps & {
    label: string;
    value: string;
    onValue: (value: string) => void;
    error?: string | null | undefined;
    hint?: string | undefined;
  },
) {
  const { label, value, onValue, error, hint, id: given, ...rest } = props;
  const made = useId();
  const id = given ?? `f${made}`;
  const described = [hint ? `${id}-hint` : "", error ? `${id}-error` : ""].filter(Boolean).join(" ");
  return (
    <div class={error ? "field has-error" : "field"}>
      <label for={id}>{label}</label>
      <input
        {...(rest as object)}
        id={id}
        value={value}
        onInput={(e) => onValue((e.currentTarget as HTMLInputElement).value)}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={described || undefined}
      />
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p class="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

export function Select(props: {
  label: string;
  value: string;
  onValue: (value: string) => void;
  options: { value: string; label: string }[];
  id?: string;
}) {
  const made = useId();
  const id = props.id ?? `s${made}`;
  return (
    <div class="field">
      <label for={id}>{props.label}</label>
      <select id={id} value={props.value} onChange={(e) => props.onValue((e.currentTarget as HTMLSelectElement).value)}>
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </div>
  );
}

export type Tone = "ok" | "error" | "info";

export function Notice({ tone, children }: { tone: Tone; children: ComponentChildren }) {
  return (
    <p class={`notice ${tone}`} role={tone === "error" ? "alert" : "status"}>
      {children}
    </p>
  );
}

/** An API error in words: the code's own sentence where there is one, else the server's message. */
export function errorText(t: T, error: unknown, context?: string): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return t("error_network");
    if (error.status === 403 && error.code === "FORBIDDEN") return t("error_forbidden");
    const specific = `err_${context ? `${context}_` : ""}${error.code}`;
    if (isKey(specific)) return t(specific as Key, { message: error.message });
    const general = `err_${error.code}`;
    if (isKey(general)) return t(general as Key, { message: error.message });
    return t("error_unexpected", { message: error.message || error.code });
  }
  return t("error_unexpected", { message: String(error) });
}

interface Ask {
  message: string;
  action: string;
  resolve: (yes: boolean) => void;
}

/** `[dialog, ask]`: render `dialog`; `await ask(message, action)` is true when confirmed. */
export function useConfirm(): [JSX.Element, (message: string, action: string) => Promise<boolean>] {
  const { t } = useI18n();
  const [pending, setPending] = useState<Ask | null>(null);
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = `c${useId()}`;
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (pending && !dialog.open) dialog.showModal();
    if (!pending && dialog.open) dialog.close();
  }, [pending]);
  const answer = (yes: boolean) => {
    pending?.resolve(yes);
    setPending(null);
  };
  const dialog = (
    <dialog
      ref={ref}
      class="confirm"
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        answer(false);
      }}
    >
      <p id={titleId}>{pending?.message}</p>
      <div class="actions">
        <button type="button" onClick={() => answer(false)}>
          {t("cancel")}
        </button>
        <button type="button" class="primary" onClick={() => answer(true)}>
          {pending?.action ?? t("confirm")}
        </button>
      </div>
    </dialog>
  );
  const ask = (message: string, action: string) =>
    new Promise<boolean>((resolve) => setPending({ message, action, resolve }));
  return [dialog, ask];
}
