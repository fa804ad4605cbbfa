import { describe, expect, it } from 'vitest';
import { classifyAddress, isAllowed, parseCidr, parseCidrList, parseIp, type AddressClass } from './address-policy.js';

const server = (allowPrivateNetworks: string[] = []) => ({ mode: 'server' as const, allowPrivateNetworks });
const embedded = { mode: 'embedded' as const, allowPrivateNetworks: [] };

describe('classifyAddress', () => {
  const cases: Array<[string, AddressClass]> = [
    // always denied: unspecified, link-local, metadata, multicast, reserved, documentation
    ['0.0.0.0', 'denied'],
    ['0.1.2.3', 'denied'],
    ['169.254.169.254', 'denied'],
    ['169.254.0.1', 'denied'],
    ['169.254.255.255', 'denied'],
    ['100.100.100.200', 'denied'],
    ['192.0.0.192', 'denied'],
    ['192.0.2.10', 'denied'],
    ['198.51.100.7', 'denied'],
    ['203.0.113.99', 'denied'],
    ['224.0.0.1', 'denied'],
    ['239.255.255.250', 'denied'],
    ['240.0.0.1', 'denied'],
    ['255.255.255.255', 'denied'],
    ['::', 'denied'],
    ['0:0:0:0:0:0:0:0', 'denied'],
    ['::127.0.0.1', 'denied'],
    ['100::1', 'denied'],
    ['2001:db8::1', 'denied'],
    ['fd00:ec2::254', 'denied'],
    ['FD00:EC2:0:0:0:0:0:254', 'denied'],
    ['fe80::1', 'denied'],
    ['febf:ffff::1', 'denied'],
    ['ff02::1', 'denied'],
    // IPv4-mapped IPv6 meets the IPv4 rules, in dotted and in hex form
    ['::ffff:169.254.169.254', 'denied'],
    ['::ffff:a9fe:a9fe', 'denied'],
    ['0:0:0:0:0:ffff:a9fe:a9fe', 'denied'],
    ['::ffff:0.0.0.0', 'denied'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:8.8.8.8', 'public'],
    // loopback
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    // private
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.255', 'private'],
    ['198.18.0.1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['fec0::1', 'private'],
    // public, including neighbours of the ranges above
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['100.63.255.255', 'public'],
    ['100.128.0.0', 'public'],
    ['100.100.100.201', 'private'], // CGNAT neighbour of the Alibaba metadata address
    ['169.253.255.255', 'public'],
    ['169.255.0.0', 'public'],
    ['192.169.0.1', 'public'],
    ['223.255.255.255', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['2001:4860:4860::8888', 'public'],
    ['fd00:ec2::253', 'private'],
    ['::2', 'denied'],
    // not an IP literal: denied
    ['localhost', 'denied'],
    ['', 'denied'],
    ['1.2.3', 'denied'],
    ['256.1.1.1', 'denied'],
    ['01.2.3.4', 'denied'],
    ['fe80::1%eth0', 'denied'],
    ['fd00::1%1', 'denied'],
  ];

  it.each(cases)('[ASVS 1.3.6] classifies %s as %s', (ip, expected) => {
    expect(classifyAddress(ip)).toBe(expected);
  });

  it('accepts a bracketed IPv6 literal as written in URLs', () => {
    expect(classifyAddress('[::1]')).toBe('loopback');
    expect(classifyAddress('[fe80::1]')).toBe('denied');
  });
});

describe('isAllowed', () => {
  it('[ASVS 1.3.6] embedded mode reaches loopback and private networks but never denied addresses', () => {
    expect(isAllowed('127.0.0.1', embedded)).toBe(true);
    expect(isAllowed('::1', embedded)).toBe(true);
    expect(isAllowed('192.168.0.10', embedded)).toBe(true);
    expect(isAllowed('8.8.8.8', embedded)).toBe(true);
    expect(isAllowed('169.254.169.254', embedded)).toBe(false);
    expect(isAllowed('0.0.0.0', embedded)).toBe(false);
    expect(isAllowed('fd00:ec2::254', embedded)).toBe(false);
  });

  it('[ASVS 13.2.4] server mode refuses loopback and private networks without an allowlist', () => {
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '10.0.0.1', '172.20.0.1', '192.168.0.1', '100.64.0.1', 'fd00::1']) {
      expect(isAllowed(ip, server())).toBe(false);
    }
    expect(isAllowed('8.8.8.8', server())).toBe(true);
    expect(isAllowed('2606:4700:4700::1111', server())).toBe(true);
  });

  it('[ASVS 13.2.4] server mode reaches only the allowlisted private networks', () => {
    const policy = server(['10.1.0.0/16', '127.0.0.0/8', 'fd00:1234::/32', '192.168.5.7']);
    expect(isAllowed('10.1.200.3', policy)).toBe(true);
    expect(isAllowed('10.2.0.1', policy)).toBe(false);
    expect(isAllowed('127.0.0.1', policy)).toBe(true);
    expect(isAllowed('::ffff:127.0.0.1', policy)).toBe(true);
    expect(isAllowed('::1', policy)).toBe(false);
    expect(isAllowed('fd00:1234:5::1', policy)).toBe(true);
    expect(isAllowed('fd00:1235::1', policy)).toBe(false);
    expect(isAllowed('192.168.5.7', policy)).toBe(true);
    expect(isAllowed('192.168.5.8', policy)).toBe(false);
  });

  it('[ASVS 1.3.6] an allowlist never opens link-local, metadata or unspecified addresses', () => {
    const policy = server(['0.0.0.0/0', '::/0', '169.254.0.0/16', 'fe80::/10', '100.100.100.200/32']);
    for (const ip of ['169.254.169.254', '0.0.0.0', '::', 'fe80::1', 'fd00:ec2::254', '100.100.100.200', '::ffff:169.254.169.254']) {
      expect(isAllowed(ip, policy)).toBe(false);
    }
    expect(isAllowed('10.9.9.9', policy)).toBe(true);
  });

  it('ignores malformed allowlist entries instead of widening access', () => {
    const policy = server(['10.0.0.0/33', 'not-a-cidr', '10.0.0.0/8/8', '', '10.0.0.0/-1', '10.0.0.0/ 8']);
    expect(isAllowed('10.0.0.1', policy)).toBe(false);
    expect(isAllowed('not-an-ip', server(['0.0.0.0/0']))).toBe(false);
  });

  it('treats a prefix of 0 as the whole family only', () => {
    expect(isAllowed('10.0.0.1', server(['0.0.0.0/0']))).toBe(true);
    expect(isAllowed('fd00::1', server(['0.0.0.0/0']))).toBe(false);
    expect(isAllowed('fd00::1', server(['::/0']))).toBe(true);
  });
});

describe('parseCidr and parseCidrList', () => {
  it('parses IPv4, IPv6, single addresses and mapped IPv4 rules', () => {
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ family: 4, prefix: 8 });
    expect(parseCidr('fd00::/8')).toMatchObject({ family: 6, prefix: 8 });
    expect(parseCidr('10.1.2.3')).toMatchObject({ family: 4, prefix: 32 });
    expect(parseCidr('::1')).toMatchObject({ family: 6, prefix: 128 });
    expect(parseCidr('::ffff:10.0.0.0/104')).toMatchObject({ family: 4, prefix: 8 });
    expect(parseCidr('::ffff:10.0.0.0/64')).toBeUndefined();
    expect(parseCidr('fd00::/129')).toBeUndefined();
    expect(parseCidr('10.0.0.0/1234')).toBeUndefined();
  });

  it('reports malformed entries apart', () => {
    expect(parseCidrList(['10.0.0.0/8', 'bogus', 'fd00::/7', '1.2.3.4/x'])).toMatchObject({
      cidrs: [{ family: 4 }, { family: 6 }],
      invalid: ['bogus', '1.2.3.4/x'],
    });
  });

  it('expands IPv6 forms to the same bytes', () => {
    const full = parseIp('2001:0db8:0000:0000:0000:0000:0000:0001');
    expect(parseIp('2001:db8::1')).toEqual(full);
    expect(parseIp('1:2:3:4:5:6:1.2.3.4')?.bytes).toEqual(Uint8Array.from([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 1, 2, 3, 4]));
    expect(parseIp('::ffff:1.2.3.4')).toEqual({ family: 4, bytes: Uint8Array.from([1, 2, 3, 4]) });
  });
});
