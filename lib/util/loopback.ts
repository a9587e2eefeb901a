/** Whether a host name stays on this machine (decides "local" providers and the server's no-key warning). */

/** localhost, ::1 (bracketed or not) or any 127.x.y.z address. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
