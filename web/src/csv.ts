// CSV in and out: a marketer's file of phone numbers (the first column of each line),
// and the results and settlement files the console writes. Numbers are normalised as
// chalicelib/subscribers/msisdn.py does (`0961234567`, `+84 96 123 4567` -> 84961234567),
// so a file's repeats are sent once; the API normalises again and decides.

const SEPARATORS = /[\s\-.()]/g;

export function normaliseMsisdn(raw: string): string | null {
  const compact = raw.trim().replace(SEPARATORS, "");
  const match = /^0([0-9]{9})$/.exec(compact) ?? /^\+?84([0-9]{9})$/.exec(compact);
  if (!match || !match[1] || match[1][0] === "0") return null;
  return `84${match[1]}`;
}

/** Fields of one CSV line (RFC 4180 quotes; a comma or semicolon separates). */
export function fields(line: string): string[] {
  const out: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === "," || ch === ";") {
      out.push(field);
      field = "";
    } else field += ch;
  }
  out.push(field);
  return out;
}

export interface ReadNumbers {
  numbers: string[];
  unreadable: { line: number; text: string }[];
  duplicates: number;
}

/** The phone numbers of a file, in order, each once; a first line that is no number is a header. */
export function readNumbers(text: string): ReadNumbers {
  const numbers: string[] = [];
  const seen = new Set<string>();
  const unreadable: ReadNumbers["unreadable"] = [];
  let duplicates = 0;
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\n|\r/);
  lines.forEach((line, index) => {
    const first = (fields(line)[0] ?? "").trim();
    if (!first) return;
    const msisdn = normaliseMsisdn(first);
    if (msisdn === null) {
      if (index === 0 && !/\d/.test(first)) return; // a header
      unreadable.push({ line: index + 1, text: first.slice(0, 40) });
      return;
    }
    if (seen.has(msisdn)) duplicates++;
    else {
      seen.add(msisdn);
      numbers.push(msisdn);
    }
  });
  return { numbers, unreadable, duplicates };
}

function quote(value: string): string {
  return /[",;\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function toCsv(header: string[], rows: (string | number | null | undefined)[][]): string {
  const lines = [header, ...rows].map((row) => row.map((v) => quote(v === null || v === undefined ? "" : String(v))));
  return lines.map((row) => row.join(",")).join("\r\n") + "\r\n";
}

/** Save `text` as a file the browser downloads (a blob URL, revoked after). */
export function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** SHA-256 of text, hex: what an Idempotency-Key of a file's chunk is derived from. */
export async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
