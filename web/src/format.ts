// Numbers, money and times as people here read them. Every day and time is in the
// operator's zone (Asia/Ho_Chi_Minh, UTC+7, no daylight saving), whatever the
// browser's own zone: a marketer in Singapore schedules in Vietnam time.
import type { Lang } from "./i18n";

export const ZONE = "Asia/Ho_Chi_Minh";
const OFFSET = "+07:00";

function locale(lang: Lang): string {
  return lang === "vi" ? "vi-VN" : "en-GB";
}

export function number(lang: Lang, value: number): string {
  return new Intl.NumberFormat(locale(lang)).format(value);
}

export function vnd(lang: Lang, value: number): string {
  return new Intl.NumberFormat(locale(lang), { style: "currency", currency: "VND" }).format(value);
}

export function percent(lang: Lang, ratio: number): string {
  return new Intl.NumberFormat(locale(lang), { style: "percent", maximumFractionDigits: 1 }).format(ratio);
}

export function dateTime(lang: Lang, iso: string): string {
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: "medium", timeStyle: "short", timeZone: ZONE }).format(
    new Date(iso),
  );
}

export function time(lang: Lang, iso: string): string {
  return new Intl.DateTimeFormat(locale(lang), { timeStyle: "short", timeZone: ZONE }).format(new Date(iso));
}

/** A calendar date (YYYY-MM-DD, already a local day) for reading. */
export function day(lang: Lang, isoDate: string): string {
  const [y, m, d] = isoDate.split("-").map(Number);
  return new Intl.DateTimeFormat(locale(lang), { dateStyle: "medium", timeZone: "UTC" }).format(
    new Date(Date.UTC(y ?? 2000, (m ?? 1) - 1, d ?? 1)),
  );
}

/** A short day label for the chart's axis: 15/11. */
export function shortDay(isoDate: string): string {
  const [, m, d] = isoDate.split("-");
  return `${d}/${m}`;
}

/** The local day (YYYY-MM-DD) an instant falls on. */
export function localDay(instant: Date = new Date()): string {
  // en-CA writes dates as YYYY-MM-DD
  return new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" }).format(
    instant,
  );
}

/** A `datetime-local` value (YYYY-MM-DDTHH:MM, read as Vietnam time) as an ISO instant; null if malformed. */
export function fromLocalInput(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return null;
  const withSeconds = value.length === 16 ? `${value}:00` : value;
  const instant = new Date(`${withSeconds}${OFFSET}`);
  return Number.isNaN(instant.getTime()) ? null : instant.toISOString().replace(".000Z", "Z");
}

/** An instant as a `datetime-local` value in Vietnam time. */
export function toLocalInput(instant: Date): string {
  const shifted = new Date(instant.getTime() + 7 * 3600 * 1000);
  return shifted.toISOString().slice(0, 16);
}
