/**
 * String formats as patterns for the grammar. Each pattern matches a subset of what ajv-formats (full
 * mode, as the catalog validates) accepts, so that whatever the grammar lets the model write passes
 * validation: calendar dates with real month lengths (February up to the 28th, which is valid in every
 * year), times with a time zone, `https://host/path`-shaped URIs, hexadecimal UUIDs, dotted IPv4,
 * uncompressed or simply compressed IPv6, and ajv's own e-mail pattern.
 */

const HEX = "[0-9a-fA-F]";
const DATE = "[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))";
const TIME = "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:[zZ]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])";
const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const H16 = `${HEX}{1,4}`;
/** A URI's unreserved and sub-delimiter characters, ":" and "@", or a percent-encoded byte. */
const PCHAR = "(?:[a-zA-Z0-9._~!$&'()*+,;=:@-]|%[0-9a-fA-F]{2})";
const LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?";
const LOCAL = "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+";

export const FORMAT_PATTERNS: Readonly<Record<string, string>> = {
  date: `^${DATE}$`,
  time: `^${TIME}$`,
  "date-time": `^${DATE}[tT]${TIME}$`,
  uri: `^[a-zA-Z][a-zA-Z0-9+.-]*://(?:[a-zA-Z0-9-]+\\.)*[a-zA-Z0-9-]+(?::[0-9]{1,5})?(?:/${PCHAR}*)*(?:\\?(?:${PCHAR}|[/?])*)?(?:#(?:${PCHAR}|[/?])*)?$`,
  email: `^${LOCAL}(?:\\.${LOCAL})*@(?:${LABEL}\\.)+${LABEL}$`,
  uuid: `^${HEX}{8}-${HEX}{4}-${HEX}{4}-${HEX}{4}-${HEX}{12}$`,
  ipv4: `^(?:${OCTET}\\.){3}${OCTET}$`,
  ipv6: `^(?:(?:${H16}:){7}${H16}|::|::${H16}|(?:${H16}:){1,6}:${H16})$`,
};
