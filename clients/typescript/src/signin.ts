// Wallet sign-in (docs/auth.md): ask the server for a challenge, have the account sign its
// SNIP-12 typed data, trade the signature for a session token. The account is described by
// the shape of the few members used, so a starknet.js `Account` or `WalletAccount` fits
// without the client depending on starknet.js at run time.

import { ServerError } from "./client.ts";
import type { ErrorBody } from "./protocol.ts";

/** The SNIP-12 typed data (revision 1) of a challenge, to be signed as it is. */
export interface SignInTypedData {
  types: Record<string, { name: string; type: string }[]>;
  primaryType: string;
  domain: { name?: string; version?: string; chainId?: string | number; revision?: string | number };
  message: Record<string, unknown>;
}

/** A felt as accounts and wallets hand them out: hex or decimal text, a bigint, a number. */
export type Felt = string | bigint | number;

/**
 * A signature as `signMessage` returns it: a list of felts (wallets, multi-signer and
 * session-key accounts), or the `{ r, s }` of a single Stark key (starknet.js's `Signer`).
 */
export type WalletSignature = readonly Felt[] | { r: bigint; s: bigint };

/** What sign-in needs of an account: a starknet.js `Account` or `WalletAccount` is one. */
export interface SignInAccount {
  address: string;
  // Method syntax on purpose: starknet.js declares its own, wider typed-data type.
  signMessage(typedData: SignInTypedData): Promise<WalletSignature>;
}

/** A session: the canonical address, the token to connect with, and when it expires. */
export interface SignInSession {
  address: string;
  token: string;
  expiresAt: Date;
}

/** The Stark field prime: a felt is below it. */
const FIELD_PRIME = 2n ** 251n + 17n * 2n ** 192n + 1n;

function felt(value: Felt, what: string): bigint {
  // Text in the two spellings the server reads (`BigInt` alone would also take `0b`, `0o`
  // and surrounding blanks), numbers only when exact.
  const n =
    typeof value === "bigint"
      ? value
      : typeof value === "number"
        ? Number.isSafeInteger(value)
          ? BigInt(value)
          : null
        : /^(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(value)
          ? BigInt(value)
          : null;
  // Out of range is refused too, not reduced: the server does the same (so `r + p` cannot
  // stand for `r`), and refusing here says which value is wrong.
  if (n === null || n < 0n || n >= FIELD_PRIME) throw new TypeError(`${what} is not a felt: ${String(value)}`);
  return n;
}

const hex = (n: bigint): string => `0x${n.toString(16)}`;

// `Array.isArray` does not narrow a readonly array out of a union.
function isPair(signature: WalletSignature): signature is { r: bigint; s: bigint } {
  return !Array.isArray(signature);
}

/** A signature as the server takes it: every felt as `0x` hex, `r` then `s` for a pair. */
export function signatureFelts(signature: WalletSignature): string[] {
  const felts: readonly Felt[] = isPair(signature) ? [signature.r, signature.s] : signature;
  if (felts.length === 0) throw new TypeError("the signature is empty");
  return felts.map((f, i) => hex(felt(f, `signature[${i}]`)));
}

/** The canonical spelling of an address: `0x` and 64 lower-case hex digits, as the server's. */
export function canonicalAddress(address: string): string {
  return `0x${felt(address, "address").toString(16).padStart(64, "0")}`;
}

async function post<T>(fetchFn: typeof fetch, baseUrl: string, path: string, body: unknown): Promise<T> {
  const res = await fetchFn(`${baseUrl.replace(/\/+$/, "")}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  let json: unknown;
  try {
    json = await res.json();
  } catch {
    // Not the server's JSON (a proxy's error page, say): nothing more precise to report.
    throw new Error(`${path}: HTTP ${res.status} without a JSON body`);
  }
  if (json && typeof json === "object" && "error" in json) throw new ServerError((json as { error: ErrorBody }).error);
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
  return json as T;
}

/**
 * Signs in with a wallet: one challenge, one `signMessage` (one wallet prompt), one verify.
 * `baseUrl` is the server's HTTP origin (`https://chat.example.com`). A refusal by the server
 * is thrown as a `ServerError` with its code (`invalid_signature`, `invalid_nonce`,
 * `account_not_deployed`, `rate_limited`, ...); a refusal by the wallet as the wallet threw it.
 */
export async function signIn(baseUrl: string, account: SignInAccount, fetchFn?: typeof fetch): Promise<SignInSession> {
  const f = fetchFn ?? globalThis.fetch.bind(globalThis);
  const challenge = await post<{ address: string; nonce: string; typed_data: SignInTypedData }>(f, baseUrl, "/v1/auth/challenge", {
    address: canonicalAddress(account.address),
  });
  const signature = signatureFelts(await account.signMessage(challenge.typed_data));
  // The challenge's own address: the nonce was issued to exactly that spelling.
  const session = await post<{ address: string; token: string; expires_at: string }>(f, baseUrl, "/v1/auth/verify", {
    address: challenge.address,
    nonce: challenge.nonce,
    signature,
  });
  return { address: session.address, token: session.token, expiresAt: new Date(session.expires_at) };
}

export interface WalletTokenSourceOptions {
  /** Sign in again once the token has this little left (default 60 000 ms). */
  marginMs?: number;
  /** Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
}

/**
 * A token source for `new RealtimeClient({ token })` that signs in with the wallet only when
 * needed: it hands out the last token while more than `marginMs` of it is left, and signs in
 * again otherwise, or when the account's address changed (a wallet switching accounts).
 * Calls made while a sign-in is under way wait for that one, so a reconnect and a refresh
 * at the same moment cause one wallet prompt, not two. A failed sign-in is not remembered:
 * the next call asks the wallet again.
 */
export function walletTokenSource(
  baseUrl: string,
  account: SignInAccount,
  options: WalletTokenSourceOptions = {},
): () => Promise<string> {
  const marginMs = options.marginMs ?? 60_000;
  let session: SignInSession | null = null;
  let inFlight: Promise<SignInSession> | null = null;
  return async () => {
    if (
      session &&
      session.expiresAt.getTime() - Date.now() > marginMs &&
      session.address === canonicalAddress(account.address)
    ) {
      return session.token;
    }
    if (!inFlight) {
      inFlight = signIn(baseUrl, account, options.fetch).finally(() => {
        inFlight = null;
      });
    }
    session = await inFlight;
    return session.token;
  };
}
