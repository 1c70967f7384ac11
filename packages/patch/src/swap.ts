import { Module, type Tensor } from '@liger-mhc/core';

/**
 * Replacing a module in a tree is more than `parent.replaceModule`: models also keep plain
 * references to their layers (MiniMhcLM walks a `blocks` array, ModuleList keeps `items`), and a
 * forward that reads those would still call the old module. So every own field and array slot of
 * every module in the tree that holds the old module is repointed, and each change is recorded so
 * that `undo` restores exactly what was there.
 */
export function replaceEverywhere(root: Module, old: Module, replacement: Module): () => void {
  const undo: (() => void)[] = [];
  const modules = [...root.namedModules()].map(([, m]) => m);
  for (const m of modules) {
    for (const [name, child] of m.children())
      if (child === old) {
        // replaceModule also repoints m's own fields that hold `old`.
        m.replaceModule(name, replacement);
        undo.push(() => m.replaceModule(name, old));
      }
    const self = m as unknown as Record<string, unknown>;
    for (const key of Object.keys(self)) {
      const v = self[key];
      if (v === old) {
        self[key] = replacement;
        undo.push(() => {
          self[key] = old;
        });
      } else if (Array.isArray(v))
        v.forEach((e, i) => {
          if (e !== old) return;
          v[i] = replacement;
          undo.push(() => {
            v[i] = old;
          });
        });
    }
  }
  return () => {
    for (const u of undo.reverse()) u();
  };
}

/** Own (not inherited from children) parameters of a module, by name. */
export function ownParameters(m: Module): [string, Tensor][] {
  return [...m.namedParameters()].filter(([name]) => !name.includes('.'));
}

/**
 * Module.setParameter is protected (users should not swap parameters by accident); patching has to,
 * to move parameters across backends, and does it through this subclass's view of the method.
 */
abstract class ParameterAccess extends Module {
  static set(m: Module, name: string, t: Tensor): void {
    const grad = t.requiresGrad;
    (m as ParameterAccess).setParameter(name, t);
    // setParameter marks the tensor trainable; a frozen parameter must stay frozen.
    t.requiresGrad = grad;
  }
}

export const setParameter = ParameterAccess.set;
