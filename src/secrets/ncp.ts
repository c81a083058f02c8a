import { createHmac } from 'node:crypto';
import type { Env } from '../config/load.js';

// NAVER Cloud Platform Secret Manager, through its REST API behind the API Gateway:
//   GET {endpoint}/api/v1/secrets/{secretId}/values
//   -> { "code": "SUCCESS", "data": { "decryptedSecretChain": { "previous", "active", "pending" }, "rotationTargets": [...] } }
// Each stage's value is the secret's JSON text ({"password": "..."}); dumptruck reads ACTIVE.
// Errors come back as { "error": { "errorCode", "message", "details" } }.

export interface NcpSecretManagerSource {
  readonly secretId: string;
  readonly key: string;
  readonly region?: string | undefined;
  readonly endpoint?: string | undefined;
}

/** Secrets encrypted with a KMS global key. */
export const NCP_SECRET_MANAGER_ENDPOINT = 'https://secretmanager.apigw.ntruss.com';
/** Secrets encrypted with a KMS region-isolated key (the only kind new secrets can use). */
export const NCP_REGIONAL_ENDPOINTS: Readonly<Record<string, string>> = {
  KR: 'https://ocapi-kr.ncloud.com/secretmanager',
  JPN: 'https://ocapi-jp.ncloud.com/secretmanager',
};

export interface NcpDeps {
  readonly env: Env;
  readonly fetch: typeof fetch;
  /** Milliseconds since the epoch; the gateway refuses timestamps more than 5 minutes off. */
  readonly now: () => number;
  readonly timeoutMs?: number;
}

/**
 * API Gateway signature v2: base64(HMAC-SHA256(secretKey, "{METHOD} {path?query}\n{timestamp}\n{accessKey}")).
 */
export function ncpSignature(a: {
  readonly method: string;
  readonly pathAndQuery: string;
  readonly timestamp: string;
  readonly accessKey: string;
  readonly secretKey: string;
}): string {
  return createHmac('sha256', a.secretKey).update(`${a.method} ${a.pathAndQuery}\n${a.timestamp}\n${a.accessKey}`).digest('base64');
}

export function ncpSecretUrl(source: NcpSecretManagerSource): URL {
  const base =
    source.endpoint ?? (source.region ? NCP_REGIONAL_ENDPOINTS[source.region.toUpperCase()] : undefined) ?? NCP_SECRET_MANAGER_ENDPOINT;
  const url = new URL(base);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/secrets/${encodeURIComponent(source.secretId)}/values`;
  return url;
}

/** The ACTIVE value of the secret chain (JSON text). */
export async function fetchNcpSecret(source: NcpSecretManagerSource, deps: NcpDeps): Promise<string> {
  const accessKey = deps.env.NCLOUD_ACCESS_KEY;
  const secretKey = deps.env.NCLOUD_SECRET_KEY;
  if (!accessKey || !secretKey)
    throw new Error('NCLOUD_ACCESS_KEY and NCLOUD_SECRET_KEY must be set (an API key of a sub account allowed to read the secret)');
  const url = ncpSecretUrl(source);
  const timestamp = String(deps.now());
  const signature = ncpSignature({ method: 'GET', pathAndQuery: `${url.pathname}${url.search}`, timestamp, accessKey, secretKey });
  let res: Response;
  try {
    res = await deps.fetch(url, {
      method: 'GET',
      headers: {
        'x-ncp-apigw-timestamp': timestamp,
        'x-ncp-iam-access-key': accessKey,
        'x-ncp-apigw-signature-v2': signature,
        accept: 'application/json',
      },
      signal: AbortSignal.timeout(deps.timeoutMs ?? 15_000),
    });
  } catch (err) {
    if ((err as Error).name === 'TimeoutError') throw new Error(`no answer within ${(deps.timeoutMs ?? 15_000) / 1000} s`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`unreachable (${cause?.code ?? cause?.message ?? (err as Error).message})`);
  }
  const text = await res.text();
  if (!res.ok) throw new Error(`${httpProblem(res.status)} (HTTP ${res.status}${gatewayError(text)})`);
  let body: { data?: { decryptedSecretChain?: { active?: unknown } } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new Error(`unexpected response from ${url.origin} (HTTP ${res.status}, not JSON)`);
  }
  const active = body.data?.decryptedSecretChain?.active;
  if (typeof active !== 'string') throw new Error('the response has no ACTIVE value in data.decryptedSecretChain');
  return active;
}

function httpProblem(status: number): string {
  if (status === 401)
    return 'the API gateway rejected the signature or the access key (check NCLOUD_ACCESS_KEY / NCLOUD_SECRET_KEY and the clock)';
  if (status === 403) return 'access denied (the sub account needs permission to read this secret)';
  if (status === 404) return 'no such secret';
  return 'request failed';
}

/** The gateway's error code and message; they describe the request, never the secret. */
function gatewayError(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { errorCode?: unknown; message?: unknown } };
    const e = parsed.error;
    const parts = [e?.errorCode, e?.message].filter((p): p is string => typeof p === 'string' && p !== '');
    return parts.length > 0 ? `, ${parts.join(': ').slice(0, 200)}` : '';
  } catch {
    return '';
  }
}
