// The API on the same origin (/v1/...): no CORS, no preflight. A person's bearer
// token or a shop's API key comes from the session (sessionStorage, never localStorage
// or a URL). Errors arrive in the API's shape {error: {code, message}}.
import { session } from "./session";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface CampaignStats {
  issued: number;
  redeemed: number;
  reversed: number;
  remaining: number;
  redemption_rate: number;
}

export type CampaignStatus = "draft" | "active" | "paused" | "ended";

export interface Campaign {
  campaign_id: string;
  status: CampaignStatus;
  name: string;
  partner_id: string;
  voucher: { title: string; value_vnd?: number | null; percent_off?: number | null };
  points_price: number;
  inventory: number;
  per_subscriber_limit: number;
  starts_at: string;
  ends_at: string;
  voucher_valid_days: number;
  stats?: CampaignStats | null;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface Day {
  day: string;
  issued: number;
  redeemed: number;
  reversed: number;
}

export interface GrantResult {
  msisdn: string;
  status: string;
  code?: string | null;
}

export interface PartnerVoucher {
  code: string;
  status: "issued" | "redeemed" | "expired" | "cancelled";
  title: string;
  value_vnd?: number | null;
  percent_off?: number | null;
  expires_at: string;
}

export interface Redemption {
  redemption_id: string;
  code: string;
  order_ref: string;
  redeemed_at: string;
  store_id?: string | null;
  reversed_at?: string | null;
}

export interface Reversal {
  redemption_id: string;
  reversed_at: string;
  voucher_status: PartnerVoucher["status"];
}

export interface Points {
  msisdn: string;
  balance: number;
  rank_points: number;
  tier: string;
  tier_cycle_ends_on: string | null;
  next_tier: string | null;
  rank_points_to_next_tier: number | null;
  expiring: { on: string; points: number }[];
}

export interface WalletVoucher {
  code: string;
  campaign_id: string;
  status: PartnerVoucher["status"];
  expires_at: string;
  title?: string | null;
  value_vnd?: number | null;
  percent_off?: number | null;
}

export interface Offer {
  campaign_id: string;
  name: string;
  partner: { name: string };
  voucher: { title: string; value_vnd?: number | null; percent_off?: number | null };
  points_price: number;
  few_left: boolean;
}

export interface ConsoleConfig {
  stage: string;
  dev_sign_in: boolean;
  oidc: {
    authorization_url: string;
    token_url: string;
    client_id: string;
    scope: string;
    bearer: "id_token" | "access_token";
  } | null;
}

type Listener = (error: ApiError) => void;
let onUnauthenticated: Listener = () => undefined;

/** Called when the API refuses the session's credentials (401): the app signs out. */
export function whenUnauthenticated(listener: Listener): void {
  onUnauthenticated = listener;
}

export interface CallOptions {
  body?: unknown;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const current = session();
  if (current?.kind === "bearer") headers.Authorization = `Bearer ${current.token}`;
  if (current?.kind === "partner") headers["X-Api-Key"] = current.apiKey;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: "omit",
      cache: "no-store",
      signal: options.signal,
    });
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === "AbortError") throw exc;
    throw new ApiError(0, "NETWORK", String(exc));
  }
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data as { error?: { code?: string; message?: string } } | null)?.error;
    const failure = new ApiError(response.status, error?.code ?? `HTTP_${response.status}`, error?.message ?? text);
    if (response.status === 401) onUnauthenticated(failure);
    throw failure;
  }
  return data as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => call<T>("GET", path, { signal });

export function newKey(): string {
  return crypto.randomUUID();
}

export function query(params: Record<string, string | number | null | undefined>): string {
  const parts = Object.entries(params)
    .filter(([, v]) => v !== null && v !== undefined && v !== "")
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

/** Every page of a list, following next_cursor. */
export async function all<T>(path: string, params: Record<string, string | number | null | undefined>): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await get<Page<T>>(path + query({ ...params, limit: 200, cursor }));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}
