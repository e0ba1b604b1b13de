// Who is signed in, kept in sessionStorage only (gone with the tab; never
// localStorage, never a URL), and the OpenID Connect sign-in (authorization code
// with PKCE, RFC 7636) for a deployed stage.
import type { ConsoleConfig } from "./api";

export type Role = "marketer" | "operator" | "subscriber";

export type Session =
  | { kind: "bearer"; token: string; role: Role; subject: string; expiresAt: number }
  | { kind: "partner"; apiKey: string };

const KEY = "diem.session";
const PKCE_KEY = "diem.pkce";

let current: Session | null = read();

function read(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const value = JSON.parse(raw) as Session;
    if (value.kind === "bearer" && value.expiresAt * 1000 <= Date.now()) return null;
    return value;
  } catch {
    return null;
  }
}

export function session(): Session | null {
  return current;
}

export function save(value: Session | null): void {
  current = value;
  if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
  else sessionStorage.removeItem(KEY);
}

function base64UrlDecode(text: string): string {
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/** A bearer session from a JWT: its role, subject and expiry are read (the API verifies it). */
export function fromToken(token: string): Session | null {
  const [, payload] = token.split(".");
  if (!payload) return null;
  try {
    const claims = JSON.parse(base64UrlDecode(payload)) as { role?: string; sub?: string; exp?: number };
    const role = claims.role;
    if (role !== "marketer" && role !== "operator" && role !== "subscriber") return null;
    if (typeof claims.sub !== "string" || typeof claims.exp !== "number") return null;
    return { kind: "bearer", token, role, subject: claims.sub, expiresAt: claims.exp };
  } catch {
    return null;
  }
}

// -- OpenID Connect with PKCE ------------------------------------------------------

function base64Url(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomText(bytes = 32): string {
  return base64Url(crypto.getRandomValues(new Uint8Array(bytes)));
}

export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier));
  return base64Url(new Uint8Array(digest));
}

function redirectUri(): string {
  return `${location.origin}/`;
}

/** Go to the identity provider; it comes back to / with ?code=&state=. */
export async function beginOidc(oidc: NonNullable<ConsoleConfig["oidc"]>): Promise<void> {
  const verifier = randomText(48);
  const state = randomText(16);
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state }));
  const params = new URLSearchParams({
    response_type: "code",
    client_id: oidc.client_id,
    redirect_uri: redirectUri(),
    scope: oidc.scope,
    state,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: "S256",
  });
  location.assign(`${oidc.authorization_url}?${params.toString()}`);
}

/** Back from the identity provider: trade the code for tokens (the code leaves the URL at once). */
export async function finishOidc(oidc: NonNullable<ConsoleConfig["oidc"]>): Promise<Session | null> {
  const params = new URLSearchParams(location.search);
  const code = params.get("code");
  const state = params.get("state");
  const failure = params.get("error");
  if (!code && !failure) return null;
  history.replaceState(null, "", `${location.pathname}${location.hash}`);
  const pending = sessionStorage.getItem(PKCE_KEY);
  sessionStorage.removeItem(PKCE_KEY);
  if (failure) throw new Error(params.get("error_description") ?? failure);
  const { verifier, state: expected } = pending ? (JSON.parse(pending) as { verifier: string; state: string }) : {
    verifier: "",
    state: "",
  };
  if (!verifier || state !== expected) throw new Error("state mismatch");
  const response = await fetch(oidc.token_url, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    credentials: "omit",
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code: code ?? "",
      redirect_uri: redirectUri(),
      client_id: oidc.client_id,
      code_verifier: verifier,
    }),
  });
  if (!response.ok) throw new Error(`token endpoint answered ${response.status}`);
  const tokens = (await response.json()) as Record<string, unknown>;
  const token = tokens[oidc.bearer];
  const made = typeof token === "string" ? fromToken(token) : null;
  if (!made) throw new Error(`no usable ${oidc.bearer} (a role and a subject are needed)`);
  return made;
}
