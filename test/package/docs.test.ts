/**
 * The user documentation stays findable: every public member of each class
 * has a row in its README section's method table, and every relative link of
 * README.md, CONTRIBUTING.md, CHANGELOG.md and docs/*.md leads to a file that
 * exists and, for `#anchor`s in Markdown, to a heading that exists (GitHub's
 * and npm's heading ids). Reads files only: no kernel objects.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** The README section that documents each class: its heading, and the file that declares it. */
const CLASSES: Array<{ name: string; file: string; heading: string }> = [
  { name: 'Channel', file: 'lib/channel.ts', heading: '## Channel' },
  { name: 'Topic', file: 'lib/topic.ts', heading: '## Topic' },
  { name: 'Subscription', file: 'lib/topic.ts', heading: '## Topic' },
  { name: 'MessageQueue', file: 'lib/message-queue.ts', heading: '## MessageQueue' },
  { name: 'SemaphoreSet', file: 'lib/semaphore/semaphore.ts', heading: '## Semaphores' },
  { name: 'Semaphore', file: 'lib/semaphore/semaphore.ts', heading: '## Semaphores' },
  { name: 'Mutex', file: 'lib/semaphore/mutex.ts', heading: '## Semaphores' },
  { name: 'FastMutex', file: 'lib/fast-mutex.ts', heading: '### FastMutex' },
  { name: 'SharedMemory', file: 'lib/shared-memory.ts', heading: '## SharedMemory' },
  { name: 'SharedMap', file: 'lib/shared-map.ts', heading: '## SharedMap' },
];

/** Every class declared in lib/, by name, to follow `extends` to base classes written here. */
function libClasses(): Map<string, ts.ClassDeclaration> {
  const classes = new Map<string, ts.ClassDeclaration>();
  for (const name of fs.readdirSync(path.join(ROOT, 'lib'), { recursive: true }) as string[]) {
    if (!name.endsWith('.ts')) continue;
    const source = ts.createSourceFile(name, read(`lib/${name}`), ts.ScriptTarget.Latest, true);
    source.forEachChild((node) => {
      if (ts.isClassDeclaration(node) && node.name) classes.set(node.name.text, node);
    });
  }
  return classes;
}

/** The public members a user can call or read: own and inherited from lib/ classes, not private, protected or @internal. */
function publicMembers(cls: ts.ClassDeclaration, classes: Map<string, ts.ClassDeclaration>): Set<string> {
  const names = new Set<string>();
  for (const member of cls.members) {
    if (!member.name || ts.isComputedPropertyName(member.name) || ts.isPrivateIdentifier(member.name)) continue;
    const flags = ts.getCombinedModifierFlags(member as ts.Declaration);
    if (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
    if (ts.getJSDocTags(member).some((tag) => tag.tagName.text === 'internal')) continue;
    names.add(member.name.getText());
  }
  for (const clause of cls.heritageClauses ?? []) {
    if (clause.token !== ts.SyntaxKind.ExtendsKeyword) continue;
    const base = classes.get(clause.types[0].expression.getText());
    if (base) for (const name of publicMembers(base, classes)) names.add(name);
  }
  return names;
}

/** From `heading` to the next heading of the same or a higher level. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n${heading}`);
  if (start < 0) throw new Error(`README has no heading "${heading}"`);
  const level = heading.indexOf(' ');
  const rest = markdown.slice(start + heading.length + 1);
  const next = rest.search(new RegExp(`\\n#{1,${level}} `));
  return next < 0 ? rest : rest.slice(0, next);
}

/** Markdown without fenced code blocks and inline code, where brackets are not links. */
function prose(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading id (also npm's): lower case, punctuation dropped, spaces to '-', repeats numbered. */
function headingIds(markdown: string): Set<string> {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
  for (const [, text] of withoutFences.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  return ids;
}

describe('README has a method table row for every public member of each class', () => {
  const readme = read('README.md');
  const classes = libClasses();
  test.each(CLASSES)('$name', ({ name, file, heading }) => {
    const cls = classes.get(name);
    if (!cls) throw new Error(`${file} declares no class ${name}`);
    expect(`lib/${cls.getSourceFile().fileName}`).toBe(file);
    const rows = section(readme, heading)
      .split('\n')
      .filter((line) => line.startsWith('|'))
      .join('\n');
    const missing = [...publicMembers(cls, classes)].filter(
      (member) => !new RegExp(`\`(?:${name}\\.)?${member}\\b(?!\\.)`).test(rows),
    );
    expect(missing).toEqual([]);
  });
});

describe('relative links in the documentation lead somewhere', () => {
  const docs = [
    'README.md',
    'CONTRIBUTING.md',
    'CHANGELOG.md',
    ...fs
      .readdirSync(path.join(ROOT, 'docs'))
      .filter((name) => name.endsWith('.md'))
      .map((name) => `docs/${name}`),
  ];
  test.each(docs)('%s', (doc) => {
    const broken: string[] = [];
    for (const [, target] of prose(read(doc)).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [file, anchor] = target.split('#');
      const resolved = file ? path.join(path.dirname(doc), decodeURIComponent(file)) : doc;
      if (!fs.existsSync(path.join(ROOT, resolved))) broken.push(`${target} (no file ${resolved})`);
      else if (anchor && resolved.endsWith('.md') && !headingIds(read(resolved)).has(anchor)) {
        broken.push(`${target} (no heading #${anchor} in ${resolved})`);
      }
    }
    expect(broken).toEqual([]);
  });
});
