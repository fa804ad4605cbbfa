/**
 * A coarse device label from the User-Agent ("Firefox on Linux"), shown in the session list so a user
 * recognises their sessions. Only the family is kept, never the full string: a full User-Agent is a
 * fingerprint, and it is attacker-controlled text of any length.
 */
const BROWSERS: ReadonlyArray<[RegExp, string]> = [
  [/\bEdg(?:e|A|iOS)?\//, 'Edge'],
  [/\bOPR\//, 'Opera'],
  [/\bFirefox\//, 'Firefox'],
  [/\bChrom(?:e|ium)\//, 'Chrome'],
  [/\bSafari\//, 'Safari'],
  [/^curl\//, 'curl'],
];

const SYSTEMS: ReadonlyArray<[RegExp, string]> = [
  [/\bAndroid\b/, 'Android'],
  [/\b(?:iPhone|iPad|iPod)\b/, 'iOS'],
  [/\bWindows\b/, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b/, 'macOS'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bLinux\b/, 'Linux'],
];

/** Inspecting more than this is pointless for a family match and bounds the regex work. */
const MAX_INSPECTED = 512;

export function deviceSummary(userAgent: string | null | undefined): string {
  if (!userAgent) return 'Unknown device';
  const inspected = userAgent.slice(0, MAX_INSPECTED);
  const browser = BROWSERS.find(([pattern]) => pattern.test(inspected))?.[1] ?? 'Other browser';
  const system = SYSTEMS.find(([pattern]) => pattern.test(inspected))?.[1];
  return system ? `${browser} on ${system}` : browser;
}
