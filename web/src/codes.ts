// Voucher codes as chalicelib/vouchers/codes.py makes them: 16 symbols of Crockford
// base32 (80 bits) and Crockford's mod-37 check symbol, grouped by four with hyphens.
// The till checks the check symbol here, before any look-up: a mistyped code is caught
// without a request (and without counting toward the server's enumeration defence).

export const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
export const CHECK_SYMBOLS = ALPHABET + "*~$=U";
export const DATA_LENGTH = 16;
export const LENGTH = DATA_LENGTH + 1;

const READ_AS: Record<string, string> = { I: "1", L: "1", O: "0" };

/** What the person typed, upper case, I/L read as 1 and O as 0, without hyphens or spaces. */
export function compact(text: string): string {
  let out = "";
  for (const ch of text.toUpperCase()) {
    if (ch === "-" || ch === " " || ch === "\t") continue;
    out += READ_AS[ch] ?? ch;
  }
  return out;
}

export type CodeCheck =
  | { kind: "empty" }
  | { kind: "incomplete"; have: number }
  | { kind: "too-long" }
  | { kind: "bad-symbol"; symbol: string }
  | { kind: "bad-check" }
  | { kind: "ok"; code: string };

/** The check symbol of the 16 data symbols (value mod 37, computed digit by digit). */
export function checkSymbol(data: string): string | null {
  let rest = 0;
  for (const symbol of data) {
    const digit = ALPHABET.indexOf(symbol);
    if (digit < 0) return null;
    rest = (rest * 32 + digit) % 37;
  }
  return CHECK_SYMBOLS[rest] ?? null;
}

export function check(text: string): CodeCheck {
  const code = compact(text);
  if (!code) return { kind: "empty" };
  const data = code.slice(0, DATA_LENGTH);
  for (const symbol of data) {
    if (!ALPHABET.includes(symbol)) return { kind: "bad-symbol", symbol };
  }
  if (code.length < LENGTH) return { kind: "incomplete", have: code.length };
  if (code.length > LENGTH) return { kind: "too-long" };
  const last = code[DATA_LENGTH] ?? "";
  if (!CHECK_SYMBOLS.includes(last) || checkSymbol(data) !== last) return { kind: "bad-check" };
  return { kind: "ok", code };
}

/** `7KQ2M9XD4RTW0CZPX` -> `7KQ2-M9XD-4RTW-0CZP-X`. */
export function display(code: string): string {
  const parts: string[] = [];
  for (let i = 0; i < code.length; i += 4) parts.push(code.slice(i, i + 4));
  return parts.join("-");
}
