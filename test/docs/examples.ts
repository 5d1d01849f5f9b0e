// Extracts the code examples a developer copies (```ts blocks of README.md and docs/*.md, the
// `@example` blocks of the TSDoc in lib/) and type-checks them all in one TypeScript Program against
// the real source, under the repo's strict compiler settings.
//
// How an example becomes a file the compiler checks:
// - A markdown block is checked as it is (it imports what it uses, top-level await allowed); the
//   free variables it assumes are declared at its end, so line numbers are those of the block.
// - A TSDoc example has no imports: it gets the exports of the file it documents, then those of the
//   public entries (first name wins), and its body is wrapped in an `async function`, so top-level
//   await works and its own declarations shadow the imports.
// - Free variables (`user`, `bytes`, `signal`, …) are found from the compiler's "Cannot find name"
//   diagnostics (TS2304, TS2552 and kin, see CANNOT_FIND_NAME) in a first pass and declared in a
//   second one: as `any`, or, for the receivers in KNOWN_RECEIVERS, as the SDK type they stand
//   for, so `client.enable(…)` is checked too. A name used as a type is never declared (an unknown
//   type stays an error), nor a name a markdown block uses without importing it from the SDK (the
//   copied code would not compile), nor a near-miss of an SDK value's name (a typo), nor, when the
//   caller lists the app's functions, a function the example calls (a renamed SDK function).
//   Only the examples with free variables are checked again.
// - The compiler options are tsconfig.json's (strict), with `paths` for the package's subpaths,
//   minus noUnusedLocals/noUnusedParameters: an example may show a value it does not use.
// Everything is one Program per pass, the parsed lib/, DOM and Node typings shared between passes.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export interface Example {
  /** Where a reader finds it: `lib/client.ts:215 (enable)`, `README.md:24`. */
  readonly id: string;
  /** Path from the repo root, with `/`. */
  readonly file: string;
  /** 1-based line, in `file`, of the example's first code line. */
  readonly line: number;
  readonly kind: 'markdown' | 'tsdoc';
  readonly code: string;
  /** For a TSDoc example: the declaration it documents. */
  readonly symbol?: string;
}

export interface ExampleError {
  readonly example: Example;
  /** 1-based line and column in `example.file`, when the error is inside the example. */
  readonly line?: number;
  readonly column?: number;
  readonly code: number;
  readonly message: string;
}

/**
 * The package's export subpaths as `e2ee-backup` maps them: package.json `exports`, each `types`
 * target `./dist/<path>.d.ts` read back as its source `lib/<path>.ts`, in the order listed (`.`
 * first, so a TSDoc example's free names come from the package entry when several entries export
 * them). A new subpath is picked up here without an edit.
 */
export const PUBLIC_ENTRIES: Readonly<Record<string, string>> = publicEntries();

function publicEntries(): Record<string, string> {
  const pkgFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../package.json');
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { name: string; exports: Record<string, string | { types: string }> };
  const out: Record<string, string> = {};
  for (const [sub, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string') continue; // ./package.json
    const source = target.types.replace(/^\.\/dist\//, 'lib/').replace(/\.d\.ts$/, '.ts');
    out[sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`] = source;
  }
  return out;
}

/**
 * Free variables typed as the SDK type they always stand for in the examples, instead of `any`, so
 * the calls on them are checked (`keyring.get(…)` once documented a method that does not exist):
 * name → [module, type], the module a public entry or a repo path. An example that declares the
 * name itself is not affected. (`store` is not here: it is a blob store, a key-value store or a
 * vault store, depending on the example; nor `checkpoint`: bytes or a parsed checkpoint.)
 */
export const KNOWN_RECEIVERS: Readonly<Record<string, readonly [module: string, type: string]>> = {
  blobStore: ['e2ee-backup', 'BlobStore'],
  cipher: ['e2ee-backup', 'ChunkCipher'],
  client: ['e2ee-backup', 'BackupClient'],
  fleet: ['e2ee-backup/testing', 'TestFleet'],
  header: ['e2ee-backup/archive', 'ArchiveHeader'],
  keyring: ['e2ee-backup', 'Keyring'],
  kv: ['e2ee-backup', 'KeyValueStore'],
  reader: ['e2ee-backup/archive', 'ArchiveReader'],
  restored: ['e2ee-backup', 'RestoredBackup'],
  tree: ['lib/trust/merkle-tree.ts', 'MerkleTree'],
  trust: ['e2ee-backup/trust', 'TrustStore'],
  vault: ['e2ee-backup', 'VaultClient'],
};

/**
 * Globals of the DOM lib that an example means as its own variable: `name` is `window.name`, typed
 * `void`. Used without a declaration, they are free variables too.
 */
const SHADOWED_GLOBALS = new Set(['name']);

// ---------------------------------------------------------------------------------------------
// Extraction

const FENCE = /^\s*```\s*([\w-]*)\s*$/;
const TS_LANGS = new Set(['ts', 'typescript']);

/** Every ```ts block of a markdown file. */
export function markdownExamples(file: string, text: string): Example[] {
  const lines = text.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end]!)) end++;
    if (TS_LANGS.has(open[1]!)) {
      out.push({ id: `${file}:${start + 1}`, file, line: start + 1, kind: 'markdown', code: lines.slice(start, end).join('\n') });
    }
    i = end;
  }
  return out;
}

const DECLARATION_KEYWORDS = /^(?:export|default|declare|abstract|async|function\*?|class|interface|type|const|let|var|enum|namespace|readonly|static|public|protected|get|set)\s+/;

/** The name a comment documents, from the first code line after it. */
function documentedName(line: string | undefined): string | undefined {
  let rest = (line ?? '').trim();
  for (let m = DECLARATION_KEYWORDS.exec(rest); m; m = DECLARATION_KEYWORDS.exec(rest)) rest = rest.slice(m[0].length);
  return /^[A-Za-z_$][\w$]*/.exec(rest)?.[0];
}

/** Every ```ts block under an `@example` tag in the TSDoc comments of a source file. */
export function tsdocExamples(file: string, text: string): Example[] {
  const lines = text.split('\n');
  const out: Example[] = [];
  let inComment = false;
  let inExample = false;
  let pending: { line: number; code: string[] }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    if (!inComment) {
      if (/^\s*\/\*\*/.test(raw) && !raw.includes('*/', raw.indexOf('/**') + 3)) {
        inComment = true;
        inExample = false;
      }
      continue;
    }
    if (raw.includes('*/')) {
      inComment = false;
      let next = i + 1;
      while (next < lines.length && lines[next]!.trim() === '') next++;
      const symbol = documentedName(lines[next]);
      for (const p of pending) {
        out.push({ id: `${file}:${p.line}${symbol ? ` (${symbol})` : ''}`, file, line: p.line, kind: 'tsdoc', code: p.code.join('\n'), symbol });
      }
      pending = [];
      continue;
    }
    const content = raw.replace(/^\s*\* ?/, '');
    if (/^@\w+/.test(content)) inExample = content.startsWith('@example');
    const open = FENCE.exec(content);
    if (inExample && open && TS_LANGS.has(open[1]!)) {
      const code: string[] = [];
      let j = i + 1;
      for (; j < lines.length && !lines[j]!.includes('*/'); j++) {
        const c = lines[j]!.replace(/^\s*\* ?/, '');
        if (/^\s*```\s*$/.test(c)) break;
        code.push(c);
      }
      pending.push({ line: i + 2, code });
      i = j < lines.length && lines[j]!.includes('*/') ? j - 1 : j; // an unclosed fence ends with the comment
    }
  }
  return out;
}

/** The source files under lib/ (no .d.ts), repo-relative, sorted. */
export function libFiles(root: string): string[] {
  return walk('lib', root).sort();
}

function walk(dir: string, root: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((d) => {
    const rel = `${dir}/${d.name}`;
    if (d.isDirectory()) return walk(rel, root);
    return d.name.endsWith('.ts') && !d.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** The examples of README.md, docs/*.md and lib/**\/*.ts. */
export function collectExamples(root: string): Example[] {
  const docs = readdirSync(path.join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`);
  const markdown = ['README.md', ...docs].flatMap((f) => markdownExamples(f, readFileSync(path.join(root, f), 'utf8')));
  const tsdoc = libFiles(root).flatMap((f) => tsdocExamples(f, readFileSync(path.join(root, f), 'utf8')));
  return [...markdown, ...tsdoc];
}

// ---------------------------------------------------------------------------------------------
// Type-checking

interface Virtual {
  readonly example: Example;
  readonly fileName: string;
  /** Lines added before the example's first line. */
  readonly headerLines: number;
  readonly text: string;
}

function compilerOptions(root: string): ts.CompilerOptions {
  const configPath = path.join(root, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(configPath, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  config.compilerOptions.paths = Object.fromEntries(Object.entries(PUBLIC_ENTRIES).map(([spec, file]) => [spec, [`./${file}`]]));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, configPath);
  if (parsed.errors.length > 0) throw new Error(ts.formatDiagnostics(parsed.errors, formatHost(root)));
  return {
    ...parsed.options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    // An example may show a value it does not use (`const deleted = await client.pruneBackups(…)`)
    // or an unused callback parameter: that is style, not API drift.
    noUnusedLocals: false,
    noUnusedParameters: false,
  };
}

function formatHost(root: string): ts.FormatDiagnosticsHost {
  return { getCanonicalFileName: (f) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
}

/** Named exports of a module, each with whether it is only a type. */
function exportsOf(checker: ts.TypeChecker, source: ts.SourceFile | undefined): Map<string, boolean> {
  const names = new Map<string, boolean>();
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) return names;
  for (const s of checker.getExportsOfModule(moduleSymbol)) {
    if (s.name === 'default') continue;
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    names.set(s.name, (target.flags & ts.SymbolFlags.Value) === 0);
  }
  return names;
}

const HOISTED_IMPORT = /^\s*import\s[^;]*from\s*['"][^'"]+['"];?\s*$|^\s*import\s*['"][^'"]+['"];?\s*$/;

function importedNames(code: string): Set<string> {
  const names = new Set<string>();
  const source = ts.createSourceFile('x.ts', code, ts.ScriptTarget.ES2022, false, ts.ScriptKind.TS);
  for (const st of source.statements) {
    const clause = ts.isImportDeclaration(st) ? st.importClause : undefined;
    if (!clause) continue;
    if (clause.name) names.add(clause.name.text);
    const bindings = clause.namedBindings;
    if (bindings && ts.isNamespaceImport(bindings)) names.add(bindings.name.text);
    if (bindings && ts.isNamedImports(bindings)) for (const e of bindings.elements) names.add(e.name.text);
  }
  return names;
}

interface BuildContext {
  readonly root: string;
  readonly dir: string;
  /** Per source file (repo-relative) and per public entry: its exports. */
  readonly exports: (file: string) => Map<string, boolean>;
  readonly publicExports: Map<string, { readonly spec: string; readonly typeOnly: boolean }>;
}

function specifierFor(ctx: BuildContext, file: string): string {
  const entry = Object.entries(PUBLIC_ENTRIES).find(([, f]) => f === file);
  if (entry) return entry[0];
  const rel = path.relative(ctx.dir, path.join(ctx.root, file)).split(path.sep).join('/');
  return rel.replace(/\.ts$/, '.js');
}

function build(ctx: BuildContext, example: Example, index: number, free: ReadonlySet<string>): Virtual {
  const fileName = path.join(ctx.dir, `example-${String(index).padStart(3, '0')}.mts`);
  const declares = [...free].sort().map((name) => {
    // `let`: an example may assign to what it assumes (`keyring = rotateKeyring(keyring)`).
    const known = KNOWN_RECEIVERS[name];
    const module = known && (known[0].startsWith('lib/') ? specifierFor(ctx, known[0]) : known[0]);
    return `declare let ${name}: ${known ? `import('${module}').${known[1]}` : 'any'};`;
  });
  if (example.kind === 'markdown') {
    // Line numbers stay those of the block: the declarations go after it.
    return { example, fileName, headerLines: 0, text: `${example.code}\n${declares.join('\n')}\nexport {};\n` };
  }
  const bodyLines = example.code.split('\n');
  const hoisted = bodyLines.filter((l) => HOISTED_IMPORT.test(l));
  const body = bodyLines.map((l) => (HOISTED_IMPORT.test(l) ? '' : l));
  const own = importedNames(hoisted.join('\n'));
  const bySpec = new Map<string, string[]>();
  const seen = new Set<string>(own);
  const add = (file: string, names: Map<string, boolean>): void => {
    for (const [name, typeOnly] of names) {
      if (seen.has(name)) continue;
      seen.add(name);
      const spec = specifierFor(ctx, file);
      bySpec.set(spec, [...(bySpec.get(spec) ?? []), typeOnly ? `type ${name}` : name]);
    }
  };
  add(example.file, ctx.exports(example.file));
  for (const file of Object.values(PUBLIC_ENTRIES)) add(file, ctx.exports(file));
  const header = [
    ...hoisted,
    ...[...bySpec].map(([spec, names]) => `import { ${names.join(', ')} } from '${spec}';`),
    ...declares,
    'export async function example() {',
  ];
  return { example, fileName, headerLines: header.length, text: `${header.join('\n')}\n${body.join('\n')}\n}\n` };
}

/**
 * "Cannot find name 'x'" (TS2304), "… Did you mean 'y'?" (TS2552), its variants for names of Node
 * and test-runner globals (TS2580, TS2582, TS2591, TS2593), and "No value exists in scope for the
 * shorthand property 'x'" (TS18004).
 */
const CANNOT_FIND_NAME = new Set([2304, 2552, 2580, 2582, 2591, 2593, 18004]);

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * The SDK value (function, constant, class) that `name` is a misspelling of, if any: one edit
 * away, two for names of 8 characters or more; names under 5 characters are never typos. Of the
 * examples' ~180 free variables it matched one, `witnessSig` (`witnessSign`), renamed since: an
 * example whose own variable it flags renames that variable.
 */
function misspelledExport(ctx: BuildContext, example: Example, name: string): string | undefined {
  if (name.length < 5) return undefined;
  const max = name.length >= 8 ? 2 : 1;
  const values = [...ctx.publicExports].filter(([, e]) => !e.typeOnly).map(([n]) => n);
  if (example.kind === 'tsdoc') for (const [n, typeOnly] of ctx.exports(example.file)) if (!typeOnly) values.push(n);
  return values.find((n) => n !== name && Math.abs(n.length - name.length) <= max && editDistance(name, n) <= max);
}

/** The identifier a diagnostic points at, and whether it is used as a type. */
function nameAt(source: ts.SourceFile, start: number): { name: string; inType: boolean; called: boolean } | undefined {
  let found: ts.Identifier | undefined;
  const visit = (node: ts.Node): void => {
    if (found || start < node.pos || start >= node.end) return;
    if (ts.isIdentifier(node) && node.getStart(source) === start) found = node;
    else ts.forEachChild(node, visit);
  };
  visit(source);
  if (!found) return undefined;
  const p = found.parent;
  const inType = ts.isTypeReferenceNode(p) || (ts.isQualifiedName(p) && p.left === found) || ts.isExpressionWithTypeArguments(p) && ts.isHeritageClause(p.parent) && p.parent.token === ts.SyntaxKind.ImplementsKeyword;
  const called = (ts.isCallExpression(p) || ts.isNewExpression(p)) && p.expression === found;
  return { name: found.text, inType, called };
}

export interface CheckResult {
  readonly errors: ExampleError[];
  /** Free variables declared per example id. */
  readonly free: ReadonlyMap<string, ReadonlySet<string>>;
  /** Diagnostics outside the examples (options, global); lib errors are ignored. */
  readonly global: string[];
}

export interface CheckOptions {
  /**
   * When given, a free variable an example calls (`toast(…)`) is declared only if it is in this
   * set of the app's own functions that examples assume; any other is an error, as a call to an
   * SDK function that was renamed or removed would otherwise pass as a call on `any`.
   */
  readonly appFunctions?: ReadonlySet<string>;
}

/** Type-check examples in one Program (two passes: find the free variables, then check). */
export function checkExamples(root: string, examples: readonly Example[], checkOptions: CheckOptions = {}): CheckResult {
  const { appFunctions } = checkOptions;
  const unknownCall = (at: { name: string; called: boolean }): boolean => appFunctions !== undefined && at.called && !appFunctions.has(at.name);
  const options = compilerOptions(root);
  const dir = path.join(root, 'test/docs/.examples');
  const host = ts.createCompilerHost(options);
  const cache = new Map<string, ts.SourceFile | undefined>();
  let virtual = new Map<string, Virtual>();
  const readFile = host.readFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.fileExists = (f) => virtual.has(path.resolve(f)) || fileExists(f);
  host.readFile = (f) => virtual.get(path.resolve(f))?.text ?? readFile(f);
  host.getSourceFile = (f, languageVersion, onError) => {
    const v = virtual.get(path.resolve(f));
    if (v) return ts.createSourceFile(f, v.text, languageVersion, true);
    if (!cache.has(f)) cache.set(f, getSourceFile(f, languageVersion, onError));
    return cache.get(f);
  };

  // Pass 0: the exports to give TSDoc examples, from a Program of the entries and documented files.
  const documented = [...new Set(examples.filter((e) => e.kind === 'tsdoc').map((e) => e.file))];
  const entryProgram = ts.createProgram({
    rootNames: [...new Set([...Object.values(PUBLIC_ENTRIES), ...documented])].map((f) => path.join(root, f)),
    options,
    host,
  });
  const entryChecker = entryProgram.getTypeChecker();
  const exportCache = new Map<string, Map<string, boolean>>();
  const exportsOfFile = (file: string): Map<string, boolean> => {
    let names = exportCache.get(file);
    if (!names) exportCache.set(file, (names = exportsOf(entryChecker, entryProgram.getSourceFile(path.join(root, file)))));
    return names;
  };
  const publicExports = new Map<string, { spec: string; typeOnly: boolean }>();
  for (const [spec, file] of Object.entries(PUBLIC_ENTRIES)) {
    for (const [name, typeOnly] of exportsOfFile(file)) if (!publicExports.has(name)) publicExports.set(name, { spec, typeOnly });
  }
  const ctx: BuildContext = { root, dir, exports: exportsOfFile, publicExports };

  const run = (free: Map<string, Set<string>>, oldProgram?: ts.Program): ts.Program => {
    virtual = new Map(examples.map((e, i) => {
      const v = build(ctx, e, i, free.get(e.id) ?? new Set());
      return [path.resolve(v.fileName), v];
    }));
    return ts.createProgram({ rootNames: [...virtual.keys()], options, host, oldProgram });
  };
  const diagnosticsOf = (program: ts.Program, v: Virtual): readonly ts.Diagnostic[] => {
    const source = program.getSourceFile(v.fileName)!;
    return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)];
  };

  // Pass 1: the free variables.
  const free = new Map<string, Set<string>>();
  const first = run(free, entryProgram);
  const firstChecker = first.getTypeChecker();
  const firstDiagnostics = new Map<string, readonly ts.Diagnostic[]>();
  for (const v of virtual.values()) {
    const names = new Set<string>();
    const source = first.getSourceFile(v.fileName)!;
    const diagnostics = diagnosticsOf(first, v);
    firstDiagnostics.set(v.example.id, diagnostics);
    for (const d of diagnostics) {
      if (!CANNOT_FIND_NAME.has(d.code) || d.start === undefined) continue;
      const at = nameAt(source, d.start);
      if (!at || at.inType) continue;
      // A markdown block that uses an SDK export without importing it does not compile when copied.
      if (v.example.kind === 'markdown' && ctx.publicExports.has(at.name)) continue;
      // `createBackupClinet` is a misspelled SDK function, not a free variable. (The compiler stops
      // suggesting names after 10 unresolved ones per Program, so its TS2552 cannot tell.)
      if (misspelledExport(ctx, v.example, at.name)) continue;
      if (unknownCall(at)) continue;
      names.add(at.name);
    }
    const visit = (node: ts.Node): void => {
      if (ts.isIdentifier(node) && SHADOWED_GLOBALS.has(node.text)) {
        const shorthand = ts.isShorthandPropertyAssignment(node.parent) && node.parent.name === node;
        const symbol = shorthand ? firstChecker.getShorthandAssignmentValueSymbol(node.parent) : firstChecker.getSymbolAtLocation(node);
        if (symbol?.declarations?.some((d) => first.isSourceFileDefaultLibrary(d.getSourceFile()))) names.add(node.text);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
    free.set(v.example.id, names);
  }

  // Pass 2: check the examples with free variables again, now declared; the others are checked.
  const program = run(free, first);
  const errors: ExampleError[] = [];
  for (const v of virtual.values()) {
    const again = free.get(v.example.id)!.size > 0;
    const source = (again ? program : first).getSourceFile(v.fileName)!;
    for (const d of again ? diagnosticsOf(program, v) : firstDiagnostics.get(v.example.id)!) {
      let message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
      let line: number | undefined;
      let column: number | undefined;
      if (d.start !== undefined) {
        const pos = source.getLineAndCharacterOfPosition(d.start);
        if (pos.line >= v.headerLines) {
          line = v.example.line + pos.line - v.headerLines;
          column = pos.character + 1;
        }
        const at = CANNOT_FIND_NAME.has(d.code) ? nameAt(source, d.start) : undefined;
        const near = at && misspelledExport(ctx, v.example, at.name);
        if (at && v.example.kind === 'markdown' && ctx.publicExports.has(at.name)) {
          message += ` (import it from '${ctx.publicExports.get(at.name)!.spec}')`;
        } else if (near && d.code !== 2552) {
          message += ` (did you mean '${near}'?)`;
        } else if (at && unknownCall(at)) {
          message += " (no SDK function has this name; if the example means one of the app's functions, add it to APP_FUNCTIONS in test/docs/examples.test.ts)";
        }
      }
      errors.push({ example: v.example, line, column, code: d.code, message });
    }
  }
  const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  // The examples must see lib/, never a stale build (the package's self-reference resolves to dist/).
  const built = program.getSourceFiles().filter((f) => f.fileName.startsWith(path.join(root, 'dist') + path.sep));
  if (built.length > 0) global.push(`examples use the build output (${built.length} files of dist/, e.g. ${built[0]!.fileName}), not lib/`);
  return { errors, free, global };
}

/** One error as a reader wants it: where, which example, the compiler's words and the line. */
export function formatError(e: ExampleError): string {
  const where = e.line === undefined ? e.example.file : `${e.example.file}:${e.line}:${e.column}`;
  const codeLine = e.line === undefined ? undefined : e.example.code.split('\n')[e.line - e.example.line];
  return `${where} in example ${e.example.id}: TS${e.code}: ${e.message}${codeLine === undefined ? '' : `\n    ${codeLine.trim()}`}`;
}
