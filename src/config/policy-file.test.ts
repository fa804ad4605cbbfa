import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildPolicy, PolicyError, readPolicyFile, watchPolicyFile, type PolicySnapshot, type PolicyWatcher } from './policy-file.js';

function problemsOf(document: unknown): string[] {
  try {
    buildPolicy(document, 'test');
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return (error as PolicyError).problems;
  }
  throw new Error(`buildPolicy accepted ${JSON.stringify(document)}`);
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'vutf-policy-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('defaults (DESIGN §7: NIST SP 800-63B-4, FedRAMP moderate)', () => {
  it('fills every section from an empty document', () => {
    const { policy, source } = buildPolicy({}, 'built-in defaults');
    expect(source).toBe('built-in defaults');
    expect(policy.password.minLength).toBe(15);
    expect(policy.password.minLengthWithMfa).toBe(8);
    expect(policy.lockout.maxFailures).toBe(5);
    expect(policy.sessions.idleTimeoutMinutes).toBe(15);
    expect(policy.sessions.privilegedIdleTimeoutMinutes).toBe(10);
    expect(policy.mfa.defaultRequirement).toBe('owners-and-admins');
    expect(policy.mfa.enrollmentGraceDays).toBe(7);
    expect(policy.retention.inactiveAccountDays).toBe(90);
    expect(policy.rateLimits.perIp).toEqual({ limit: 600, windowSeconds: 60 });
    expect(policy.egress.allowPrivateNetworks).toEqual([]);
  });

  it('treats an empty file (null document) like an empty object', () => {
    expect(buildPolicy(null, 'a').contentHash).toBe(buildPolicy({}, 'b').contentHash);
  });

  it('keeps the defaults of the fields a partial section leaves out', () => {
    const { policy } = buildPolicy({ password: { minLength: 20 }, rateLimits: { perIp: { limit: 50 } } }, 'test');
    expect(policy.password.minLength).toBe(20);
    expect(policy.password.maxLength).toBe(128);
    expect(policy.rateLimits.perIp).toEqual({ limit: 50, windowSeconds: 60 });
    expect(policy.lockout.maxFailures).toBe(5);
  });

  it('does not modify the document it was given', () => {
    const document = { lockout: { maxFailures: 3 } };
    buildPolicy(document, 'test');
    expect(document).toEqual({ lockout: { maxFailures: 3 } });
  });
});

describe('invalid policies', () => {
  it.each([
    [{ password: { minLength: 4 } }, 'password.minLength'],
    [{ lockout: { maxFailures: 'five' } }, 'lockout.maxFailures'],
    [{ lockout: { maxFailures: 5.5 } }, 'lockout.maxFailures'],
    [{ mfa: { defaultRequirement: 'never' } }, 'mfa.defaultRequirement'],
    [{ mfa: { enrollmentGraceDays: -1 } }, 'mfa.enrollmentGraceDays'],
    [{ rateLimits: { perIp: { windowSeconds: 0 } } }, 'rateLimits.perIp.windowSeconds'],
    [{ egress: { allowPrivateNetworks: ['10.0.0.0/8', 42] } }, 'egress.allowPrivateNetworks.1'],
    [{ sessions: 'short' }, 'sessions'],
  ])('%j is refused at %s', (document, at) => {
    const problems = problemsOf(document);
    expect(problems.map((line) => line.slice(0, line.indexOf(': ')))).toEqual([at]);
    expect(problems[0]).toMatch(/^[\w.]+: \S/);
  });

  it('refuses an egress allowlist entry that is not a CIDR network, naming it', () => {
    expect(problemsOf({ egress: { allowPrivateNetworks: ['10.0.0.0/8', '10.0.0.0/33', 'intranet'] } })).toEqual([
      'egress.allowPrivateNetworks: "10.0.0.0/33" is not a CIDR network',
      'egress.allowPrivateNetworks: "intranet" is not a CIDR network',
    ]);
    expect(buildPolicy({ egress: { allowPrivateNetworks: ['10.0.0.0/8', 'fd00::/8'] } }, 'test').policy.egress.allowPrivateNetworks).toHaveLength(2);
  });

  it('refuses a document that is not an object', () => {
    for (const document of [[], 'password: 15', 42]) expect(problemsOf(document)).toEqual([expect.stringMatching(/^\(policy\): /)]);
  });

  it('refuses unknown keys at every level, naming each once', () => {
    expect(problemsOf({ passwords: { minLength: 15 }, lockout: { maxFailure: 3 }, rateLimits: { perIp: { burst: 10 } } })).toEqual([
      'passwords: unknown setting',
      'lockout.maxFailure: unknown setting',
      'rateLimits.perIp.burst: unknown setting',
    ]);
  });

  it('reports every bad setting at once, one line each', () => {
    const problems = problemsOf({
      password: { minLength: 4, minLengthWithMfa: 1, maxLength: 1, minStrengthScore: 9, hashMemoryCostKiB: 1, hashTimeCost: 1, hashParallelism: 0 },
      lockout: { maxFailures: 0, windowMinutes: 0, lockMinutes: 0 },
      mfa: { defaultRequirement: 'sometimes' },
    });
    expect(problems.map((line) => line.slice(0, line.indexOf(':')))).toEqual([
      'password.minLength',
      'password.minLengthWithMfa',
      'password.maxLength',
      'password.minStrengthScore',
      'password.hashMemoryCostKiB',
      'password.hashTimeCost',
      'password.hashParallelism',
      'lockout.maxFailures',
      'lockout.windowMinutes',
      'lockout.lockMinutes',
      'mfa.defaultRequirement',
    ]);
  });
});

describe('content hash', () => {
  it('is the same for the same content in another key order', () => {
    const a = buildPolicy({ lockout: { maxFailures: 3, lockMinutes: 60 }, password: { minLength: 16 } }, 'a.yaml');
    const b = buildPolicy({ password: { minLength: 16 }, lockout: { lockMinutes: 60, maxFailures: 3 } }, 'b.json');
    expect(a.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.contentHash).toBe(a.contentHash);
  });

  it('hashes the effective policy: spelling out a default changes nothing', () => {
    expect(buildPolicy({ lockout: { maxFailures: 5 } }, 'x').contentHash).toBe(buildPolicy({}, 'x').contentHash);
  });

  it('changes with any value', () => {
    const hashes = [{}, { lockout: { maxFailures: 4 } }, { egress: { allowPrivateNetworks: ['10.0.0.0/8'] } }, { mfa: { defaultRequirement: 'everyone' } }].map(
      (document) => buildPolicy(document, 'x').contentHash,
    );
    expect(new Set(hashes).size).toBe(hashes.length);
  });
});

describe('readPolicyFile', () => {
  it('reads YAML and JSON of the same content to the same snapshot', async () => {
    const yamlFile = path.join(dir, 'policy.yaml');
    const jsonFile = path.join(dir, 'policy.json');
    writeFileSync(yamlFile, '# tuned for the lab\nlockout:\n  maxFailures: 3\npassword:\n  minLength: 20\n');
    writeFileSync(jsonFile, JSON.stringify({ password: { minLength: 20 }, lockout: { maxFailures: 3 } }));
    const fromYaml = await readPolicyFile(yamlFile);
    const fromJson = await readPolicyFile(jsonFile);
    expect(fromYaml.policy.lockout.maxFailures).toBe(3);
    expect(fromYaml.policy.password.minLength).toBe(20);
    expect(fromYaml.source).toBe(yamlFile);
    expect(fromJson.source).toBe(jsonFile);
    expect(fromJson.contentHash).toBe(fromYaml.contentHash);
  });

  it('refuses text that is neither YAML nor JSON, naming the file', async () => {
    const file = path.join(dir, 'broken.yaml');
    writeFileSync(file, 'lockout: {maxFailures: 3\n');
    await expect(readPolicyFile(file)).rejects.toThrow(PolicyError);
    await expect(readPolicyFile(file)).rejects.toMatchObject({ problems: [expect.stringContaining(`${file}: not valid YAML or JSON`)] });
  });

  it('refuses invalid settings in a file', async () => {
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, 'lockout:\n  maxFailures: 0\n');
    await expect(readPolicyFile(file)).rejects.toMatchObject({ problems: [expect.stringMatching(/^lockout\.maxFailures: /)] });
  });

  it('fails on a missing file', async () => {
    await expect(readPolicyFile(path.join(dir, 'absent.yaml'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('watchPolicyFile', () => {
  let watcher: PolicyWatcher | undefined;
  afterEach(() => {
    watcher?.stop();
    watcher = undefined;
  });

  const start = (file: string, intervalMs: number) => {
    const changes: PolicySnapshot[] = [];
    const invalid: unknown[] = [];
    watcher = watchPolicyFile(
      file,
      {
        onChange: (snapshot) => {
          changes.push(snapshot);
          return Promise.resolve();
        },
        onInvalid: (error) => invalid.push(error),
      },
      intervalMs,
    );
    return { changes, invalid };
  };

  /**
   * Writes `text` until the watcher has reacted: the poller takes its first stat asynchronously,
   * so a write right after watchPolicyFile() may land before it and be part of the baseline.
   */
  const untilSeen = (file: string, text: string, assertion: () => void) =>
    vi.waitFor(
      () => {
        try {
          assertion();
        } catch (error) {
          writeFileSync(file, text);
          throw error;
        }
      },
      { timeout: 5000, interval: 100 },
    );

  it('re-reads the file when it changes', async () => {
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, 'lockout:\n  maxFailures: 3\n');
    const { changes, invalid } = start(file, 20);
    await untilSeen(file, 'lockout:\n  maxFailures: 7\n  lockMinutes: 45\n', () => expect(changes.at(-1)?.policy.lockout.maxFailures).toBe(7));
    expect(changes.at(-1)?.policy.lockout.lockMinutes).toBe(45);
    expect(invalid).toEqual([]);
  });

  it('reports an invalid rewrite to onInvalid and not to onChange', async () => {
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, 'lockout:\n  maxFailures: 3\n');
    const { changes, invalid } = start(file, 20);
    await untilSeen(file, 'lockout:\n  maxFailures: -1\n  unknownSetting: true\n', () => expect(invalid.length).toBeGreaterThan(0));
    expect(invalid[0]).toBeInstanceOf(PolicyError);
    expect(changes).toEqual([]);
  });

  it('re-reads on SIGHUP, without waiting for the poll', async () => {
    const file = path.join(dir, 'policy.json');
    writeFileSync(file, '{"lockout":{"maxFailures":3}}');
    const listenersBefore = process.listenerCount('SIGHUP');
    // A poll interval far beyond the test: only the signal can explain a reload.
    const { changes } = start(file, 600_000);
    expect(process.listenerCount('SIGHUP')).toBe(listenersBefore + 1);
    writeFileSync(file, '{"lockout":{"maxFailures":9}}');
    process.kill(process.pid, 'SIGHUP');
    await vi.waitFor(() => expect(changes.map((snapshot) => snapshot.policy.lockout.maxFailures)).toEqual([9]), { timeout: 2000, interval: 10 });
    watcher?.stop();
    watcher = undefined;
    expect(process.listenerCount('SIGHUP')).toBe(listenersBefore);
  });

  it('reload() runs one read at a time, in order', async () => {
    const file = path.join(dir, 'policy.json');
    writeFileSync(file, '{"lockout":{"maxFailures":3}}');
    const { changes } = start(file, 600_000);
    const first = watcher!.reload();
    writeFileSync(file, '{"lockout":{"maxFailures":4}}');
    await Promise.all([first, watcher!.reload()]);
    expect(changes).toHaveLength(2);
    expect(changes[1]?.policy.lockout.maxFailures).toBe(4);
  });

  it('stops polling after stop()', async () => {
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, 'lockout:\n  maxFailures: 3\n');
    const { changes, invalid } = start(file, 20);
    watcher!.stop();
    watcher = undefined;
    writeFileSync(file, 'lockout:\n  maxFailures: 8\n');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(changes).toEqual([]);
    expect(invalid).toEqual([]);
  });
});
