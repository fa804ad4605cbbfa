import { isIP } from 'node:net';

/**
 * Which destinations outbound HTTP may reach (DESIGN §5). Matching is done on parsed bytes rather than
 * with node:net BlockList because BlockList matches IPv4 addresses against IPv6 rules through the mapped
 * form (::ffff:0:0/96), which makes mixed-family rule lists surprising; here an IPv4-mapped IPv6 address
 * is first turned into its IPv4 address and each family is checked only against its own rules.
 */

/** denied: never reachable, whatever the allowlist; loopback and private: allowlistable in server mode. */
export type AddressClass = 'denied' | 'loopback' | 'private' | 'public';

export type RunMode = 'embedded' | 'server';

export interface AddressPolicyOptions {
  mode: RunMode;
  /** CIDRs (or single addresses) of loopback/private networks that server mode may reach. */
  allowPrivateNetworks: readonly string[];
}

interface ParsedIp {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface Cidr extends ParsedIp {
  prefix: number;
}

function parseIpv4(text: string): Uint8Array {
  return Uint8Array.from(text.split('.').map(Number));
}

/** Expects text that net.isIP already accepted as IPv6 (no zone id). */
function parseIpv6(text: string): Uint8Array {
  const bytes = new Uint8Array(16);
  let groups = text;
  let tail: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tail = parseIpv4(text.slice(lastColon + 1));
    groups = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head = '', rest] = groups.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':');
  const all = [...headGroups, ...new Array<string>(8 - headGroups.length - restGroups.length).fill('0'), ...restGroups];
  all.forEach((group, index) => {
    const value = parseInt(group, 16);
    bytes[index * 2] = value >> 8;
    bytes[index * 2 + 1] = value & 0xff;
  });
  if (tail) bytes.set(tail, 12);
  return bytes;
}

const isMappedIpv4 = (bytes: Uint8Array): boolean =>
  bytes.subarray(0, 10).every((byte) => byte === 0) && bytes[10] === 0xff && bytes[11] === 0xff;

/**
 * Parses an IP literal; IPv4-mapped IPv6 (::ffff:a.b.c.d, also in hex) becomes IPv4 so it meets the IPv4
 * rules. Zone ids (fe80::1%eth0) are refused: a scoped address names an interface, never a public host.
 */
export function parseIp(text: string): ParsedIp | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const family = isIP(bare);
  if (family === 4) return { family: 4, bytes: parseIpv4(bare) };
  if (family !== 6 || bare.includes('%')) return undefined;
  const bytes = parseIpv6(bare);
  return isMappedIpv4(bytes) ? { family: 4, bytes: bytes.slice(12) } : { family: 6, bytes };
}

/** Parses "a.b.c.d/n", "x::/n" or a single address (a /32 or /128); undefined when malformed. */
export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) return undefined;
  const bare = isIP(address);
  if (bare === 0) return undefined;
  const maxPrefix = bare === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (prefix > maxPrefix) return undefined;
  const parsed = parseIp(address);
  if (!parsed) return undefined;
  // A mapped IPv6 rule (::ffff:10.0.0.0/104) names IPv4 addresses: keep its IPv4 part of the prefix.
  if (bare === 6 && parsed.family === 4) return prefix >= 96 ? { ...parsed, prefix: prefix - 96 } : undefined;
  return { ...parsed, prefix };
}

export function cidrContains(cidr: Cidr, ip: ParsedIp): boolean {
  if (cidr.family !== ip.family) return false;
  const fullBytes = Math.floor(cidr.prefix / 8);
  for (let index = 0; index < fullBytes; index += 1) {
    if (cidr.bytes[index] !== ip.bytes[index]) return false;
  }
  const remainingBits = cidr.prefix % 8;
  if (remainingBits === 0) return true;
  const mask = (0xff << (8 - remainingBits)) & 0xff;
  return ((cidr.bytes[fullBytes] ?? 0) & mask) === ((ip.bytes[fullBytes] ?? 0) & mask);
}

const table = (entries: readonly string[]): Cidr[] =>
  entries.map((entry) => {
    const cidr = parseCidr(entry);
    if (!cidr) throw new Error(`address-policy table entry is malformed: ${entry}`);
    return cidr;
  });

// Checked first: ::1 lies inside ::/96, which is denied below.
const LOOPBACK = table(['127.0.0.0/8', '::1/128']);

const DENIED = table([
  '0.0.0.0/8', // "this network", incl. the unspecified 0.0.0.0 (reaches the local host on Linux)
  '169.254.0.0/16', // link-local, incl. 169.254.169.254 (AWS, GCP, Azure, OCI metadata)
  '100.100.100.200/32', // Alibaba Cloud metadata
  '192.0.0.0/24', // IETF protocol assignments, incl. 192.0.0.192 (Oracle Cloud Classic metadata)
  '192.0.2.0/24', // documentation (TEST-NET-1)
  '198.51.100.0/24', // documentation (TEST-NET-2)
  '203.0.113.0/24', // documentation (TEST-NET-3)
  '224.0.0.0/4', // multicast
  '240.0.0.0/4', // reserved, incl. the limited broadcast 255.255.255.255
  '::/96', // unspecified and the deprecated IPv4-compatible form (::a.b.c.d)
  '100::/64', // discard-only
  '2001:db8::/32', // documentation
  'fd00:ec2::254/128', // AWS metadata over IPv6 (inside fc00::/7, so checked before the private ranges)
  'fe80::/10', // link-local
  'ff00::/8', // multicast
]);

const PRIVATE = table([
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  '100.64.0.0/10', // carrier-grade NAT, also used for cloud-internal services
  '198.18.0.0/15', // benchmarking, used inside networks (and by fake-IP DNS proxies)
  'fc00::/7', // unique local
  'fec0::/10', // deprecated site-local
]);

/** Classifies an IP literal; anything that is not a plain IP literal is denied. */
export function classifyAddress(ip: string): AddressClass {
  const parsed = parseIp(ip);
  if (!parsed) return 'denied';
  const within = (cidrs: readonly Cidr[]) => cidrs.some((cidr) => cidrContains(cidr, parsed));
  if (within(LOOPBACK)) return 'loopback';
  if (within(DENIED)) return 'denied';
  if (within(PRIVATE)) return 'private';
  return 'public';
}

/**
 * Parses the allowlist; malformed entries are returned apart so configuration checks can report them.
 * They never match anything (fail closed).
 */
export function parseCidrList(entries: readonly string[]): { cidrs: Cidr[]; invalid: string[] } {
  const cidrs: Cidr[] = [];
  const invalid: string[] = [];
  for (const entry of entries) {
    const cidr = parseCidr(entry);
    if (cidr) cidrs.push(cidr);
    else invalid.push(entry);
  }
  return { cidrs, invalid };
}

/**
 * Whether outbound traffic may go to an IP. Denied addresses never pass, not even when an allowlist entry
 * covers them; loopback and private addresses pass in embedded mode (the operator's own machine) and in
 * server mode only inside `allowPrivateNetworks`. The allowlist is parsed once per returned function.
 */
export function createAddressPolicy(options: AddressPolicyOptions): (ip: string) => boolean {
  const allowlist = options.mode === 'server' ? parseCidrList(options.allowPrivateNetworks).cidrs : [];
  return (ip) => {
    const kind = classifyAddress(ip);
    if (kind === 'denied') return false;
    if (kind === 'public' || options.mode === 'embedded') return true;
    const parsed = parseIp(ip);
    return parsed !== undefined && allowlist.some((cidr) => cidrContains(cidr, parsed));
  };
}

export const isAllowed = (ip: string, options: AddressPolicyOptions): boolean => createAddressPolicy(options)(ip);
