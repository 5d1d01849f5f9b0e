/**
 * A deliberately small XML reader and writer for the S3 subset (docs/STORAGE.md §S3). S3's
 * answers are flat documents of elements and text; we accept exactly that and nothing else:
 * no DOCTYPE (so no entity expansion, no external entities: the XXE and "billion laughs" classes
 * cannot occur), no processing instructions except the leading XML declaration, no CDATA, no
 * comments, and no U+FEFF anywhere: neither a leading byte-order mark nor one inside (raw or as a
 * character reference), as every parsed format of the project refuses it (issue 13, finding 6):
 * `BOM ‖ doc` must not read as `doc`. S3 never sends one. Every length, depth and count is capped;
 * every failure is `BackupError('PROTOCOL')`.
 *
 * @module
 * @internal
 */
import { BackupError } from '../../errors.js';

/** One element: its local name (prefix dropped), child elements and concatenated text. */
export interface XmlElement {
  readonly name: string;
  readonly children: readonly XmlElement[];
  readonly text: string;
}

/** Caps on a document. */
export interface XmlLimits {
  /** Longest input, in UTF-16 code units [4 MiB]. */
  readonly maxLength?: number;
  /** Deepest nesting [16]. */
  readonly maxDepth?: number;
  /** Most elements [20 000]. */
  readonly maxElements?: number;
}

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.:-]{0,255}$/;
const XML_DECL_RE =
  /^<\?xml\s+version\s*=\s*(["'])1\.[0-9]\1(?:\s+encoding\s*=\s*(["'])utf-8\2)?(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*\?>/i;
const ATTR_RE = /\s+[A-Za-z_][A-Za-z0-9_.:-]{0,255}\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/g;

function bad(what: string): BackupError {
  return new BackupError('PROTOCOL', `malformed XML from the blob store: ${what}`);
}

/** Decode the five predefined entities and numeric character references (XML 1.0 §4.1, §4.6). */
function decodeText(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&([^;&]{0,10});?/g, (m, ent: string) => {
    if (!m.endsWith(';')) throw bad('unterminated entity');
    switch (ent) {
      case 'amp': return '&';
      case 'lt': return '<';
      case 'gt': return '>';
      case 'quot': return '"';
      case 'apos': return "'";
    }
    let cp: number;
    if (/^#[0-9]{1,7}$/.test(ent)) cp = Number(ent.slice(1));
    else if (/^#x[0-9A-Fa-f]{1,6}$/.test(ent)) cp = parseInt(ent.slice(2), 16);
    else throw bad('unknown entity');
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0) throw bad('invalid character reference');
    if (cp === 0xfeff) throw bad('a byte-order mark (U+FEFF)');
    return String.fromCodePoint(cp);
  });
}

/**
 * Parse a document into its root element.
 */
export function parseXml(input: string, limits: XmlLimits = {}): XmlElement {
  const maxLength = limits.maxLength ?? 4 * 2 ** 20;
  const maxDepth = limits.maxDepth ?? 16;
  const maxElements = limits.maxElements ?? 20_000;
  if (typeof input !== 'string') throw bad('not text');
  if (input.length > maxLength) throw new BackupError('PROTOCOL', 'XML from the blob store is over its size limit', { limit: maxLength });
  // No byte-order mark, leading or anywhere else (the decoder keeps a leading one as U+FEFF).
  if (input.includes('\uFEFF')) throw bad('a byte-order mark (U+FEFF)');
  let i = 0;
  const skipWs = (): void => {
    while (i < input.length && ' \t\r\n'.includes(input[i]!)) i++;
  };
  skipWs();
  // An optional XML declaration (XML 1.0 §2.8, production XMLDecl), UTF-8 if it names an encoding.
  if (input.startsWith('<?xml', i)) {
    const decl = XML_DECL_RE.exec(input.slice(i, i + 200));
    if (decl === null) throw bad('bad XML declaration');
    i += decl[0].length;
  }
  skipWs();

  interface Open {
    name: string;
    children: XmlElement[];
    text: string[];
  }
  const stack: Open[] = [];
  let elements = 0;
  let root: XmlElement | undefined;

  while (i < input.length) {
    if (root !== undefined) {
      skipWs();
      if (i < input.length) throw bad('content after the root element');
      break;
    }
    const lt = input.indexOf('<', i);
    if (lt < 0) throw bad('unterminated document');
    if (lt > i) {
      const text = input.slice(i, lt);
      if (stack.length === 0) {
        if (text.trim() !== '') throw bad('text outside the root element');
      } else {
        stack[stack.length - 1]!.text.push(decodeText(text));
      }
    }
    i = lt;
    const gt = input.indexOf('>', i);
    if (gt < 0) throw bad('unterminated tag');
    const tag = input.slice(i + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const top = stack.pop();
      if (top === undefined || top.name !== name) throw bad('mismatched end tag');
      const el: XmlElement = { name: localName(top.name), children: top.children, text: top.text.join('') };
      if (stack.length === 0) root = el;
      else stack[stack.length - 1]!.children.push(el);
      continue;
    }
    if (tag.startsWith('!') || tag.startsWith('?')) throw bad('DOCTYPE, comments, CDATA and processing instructions are not accepted');
    const selfClosing = tag.endsWith('/');
    const body = selfClosing ? tag.slice(0, -1) : tag;
    const m = /^([^\s/>]+)((?:\s+[A-Za-z_][A-Za-z0-9_.:-]{0,255}\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*$/.exec(body);
    if (m === null || !NAME_RE.test(m[1]!)) throw bad('bad start tag');
    if (++elements > maxElements) throw new BackupError('PROTOCOL', 'XML from the blob store has too many elements', { limit: maxElements });
    if (stack.length + 1 > maxDepth) throw new BackupError('PROTOCOL', 'XML from the blob store is nested too deeply', { limit: maxDepth });
    // Attributes (xmlns and the like) are checked for shape above and their references decoded
    // (an unknown entity or a U+FEFF in one is refused like in text), then ignored: S3 puts no data in them.
    for (const a of m[2]!.matchAll(ATTR_RE)) decodeText(a[1] ?? a[2] ?? '');
    if (selfClosing) {
      const el: XmlElement = { name: localName(m[1]!), children: [], text: '' };
      if (stack.length === 0) root = el;
      else stack[stack.length - 1]!.children.push(el);
    } else {
      stack.push({ name: m[1]!, children: [], text: [] });
    }
  }
  if (root === undefined || stack.length > 0) throw bad('unterminated document');
  return root;
}

function localName(qname: string): string {
  const c = qname.indexOf(':');
  return c < 0 ? qname : qname.slice(c + 1);
}

/** Escape text for element content or a double-quoted attribute. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&apos;',
  );
}

/** The text of the first child named `name`, or `undefined`. */
export function childText(el: XmlElement, name: string): string | undefined {
  for (const c of el.children) if (c.name === name) return c.text;
  return undefined;
}

/** Every child named `name`. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/** The text of a required child, or `PROTOCOL`. */
export function requireText(el: XmlElement, name: string): string {
  const t = childText(el, name);
  if (t === undefined) throw bad(`missing <${name}> in <${el.name}>`);
  return t;
}

/** A required child holding a decimal integer in [min, max], or `PROTOCOL`. */
export function requireInt(el: XmlElement, name: string, min: number, max: number): number {
  const t = requireText(el, name).trim();
  if (!/^\d{1,16}$/.test(t)) throw bad(`<${name}> is not a decimal integer`);
  const n = Number(t);
  if (n < min || n > max) throw bad(`<${name}> is out of range`);
  return n;
}
