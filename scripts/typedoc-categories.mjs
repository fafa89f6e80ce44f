// TypeDoc plugin (typedoc.json "plugin"): puts each exported symbol in the
// sidebar category of the class it belongs to, decided by the lib/ file that
// declares it, so that lib/*.ts need no @category tag on every export. Error
// classes are listed under their class and under "Errors" as well.
import { CommentTag, Comment, Converter, ReflectionKind } from 'typedoc';

/** lib/ file (its path under lib/, without .ts) -> category. A file not listed here is "Common". */
const CATEGORY_OF_FILE = {
  'message-queue': 'MessageQueue',
  'semaphore/limits': 'SemaphoreSet',
  'semaphore/operations': 'SemaphoreSet',
  'semaphore/semaphore': 'Semaphore',
  'semaphore/mutex': 'Mutex',
  'shared-memory': 'SharedMemory',
  'fast-mutex': 'FastMutex',
  channel: 'Channel',
  admin: 'Admin and keys',
  keys: 'Admin and keys',
  errors: 'Errors',
};

/** Symbols that live in a class's file but serve every class, or another class of the same file. */
const CATEGORY_OF_NAME = {
  IpcKind: 'Common',
  SysvIpcErrorContext: 'Errors',
  // SemaphoreSet shares semaphore/semaphore.ts with Semaphore (they refer to each other).
  SemaphoreSet: 'SemaphoreSet',
  SemaphoreSetInfo: 'SemaphoreSet',
  SemaphoreSetCreateOptions: 'SemaphoreSet',
  SemaphoreSetOpenOptions: 'SemaphoreSet',
  SemaphoreSetSetOptions: 'SemaphoreSet',
  SyncWaitOptions: 'SemaphoreSet',
};

/** @param {import('typedoc').Application} app */
export function load(app) {
  // Before CategoryPlugin, which reads the tags at RESOLVE_END with priority -200.
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    for (const refl of context.project.children ?? []) {
      const file = refl.sources?.[0]?.fileName ?? '';
      const base = /(?:^|\/)lib\/(.+)\.ts$/.exec(file)?.[1] ?? /([^/]+)\.ts$/.exec(file)?.[1] ?? '';
      const categories = new Set([CATEGORY_OF_NAME[refl.name] ?? CATEGORY_OF_FILE[base] ?? 'Common']);
      if (refl.kindOf(ReflectionKind.Class) && refl.name.endsWith('Error')) categories.add('Errors');
      refl.comment ??= new Comment();
      for (const category of categories)
        refl.comment.blockTags.push(new CommentTag('@category', [{ kind: 'text', text: category }]));
    }
  });
}
