/**
 * The password inside a secret's value: the value itself, or one key of it when the secret is a
 * JSON object (both AWS and NAVER Cloud consoles store key/value pairs as JSON). Error messages
 * name keys, never values: V8's JSON.parse errors quote the input, so they are not passed on.
 */
export function valueAtKey(secret: string, key: string | undefined, what: string): string {
  if (key === undefined) {
    if (secret === '') throw new Error(`${what} is empty`);
    return secret;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(secret);
  } catch {
    throw new Error(`${what} is not a JSON object, so key ${JSON.stringify(key)} cannot be read from it`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`${what} is not a JSON object, so key ${JSON.stringify(key)} cannot be read from it`);
  }
  const record = parsed as Record<string, unknown>;
  if (!Object.hasOwn(record, key)) {
    const keys = Object.keys(record);
    throw new Error(
      `${what} has no key ${JSON.stringify(key)} (keys: ${keys.length > 0 ? keys.map((k) => JSON.stringify(k)).join(', ') : 'none'})`,
    );
  }
  const value = record[key];
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'string') throw new Error(`${what}: key ${JSON.stringify(key)} is not a string`);
  if (value === '') throw new Error(`${what}: key ${JSON.stringify(key)} is empty`);
  return value;
}
