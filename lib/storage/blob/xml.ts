/**
 * A deliberately small XML reader and writer for the S3 subset (docs/STORAGE.md §S3). S3's
 * answers are flat documents of elements and text; we accept exactly that and nothing else:
 * no DOCTYPE (so no entity expansion, no external entities: the XXE and "billion laughs" classes
 * cannot occur), no processing instructions except the leading XML declaration, no CDATA, no
 * comments. Every length, depth and count is capped; every failure is `BackupError('PROTOCOL')`.
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
  let i = 0;
  // Optional BOM, then an optional XML declaration (XML 1.0 §2.8).
  if (input.charCodeAt(0) === 0xfeff) i = 1;
  const skipWs = (): void => {
    while (i < input.length && ' \t\r\n'.includes(input[i]!)) i++;
  };
  skipWs();
  if (input.startsWith('<?xml', i)) {
    const end = input.indexOf('?>', i);
    if (end < 0 || end - i > 200) throw bad('bad XML declaration');
    i = end + 2;
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
    const m = /^([^\s/>]+)((?:\s+[^\s=]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*$/.exec(body);
    if (m === null || !NAME_RE.test(m[1]!)) throw bad('bad start tag');
    if (++elements > maxElements) throw new BackupError('PROTOCOL', 'XML from the blob store has too many elements', { limit: maxElements });
    if (stack.length + 1 > maxDepth) throw new BackupError('PROTOCOL', 'XML from the blob store is nested too deeply', { limit: maxDepth });
    // Attributes (xmlns and the like) are checked for shape above, then ignored: S3 puts no data in them.
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
