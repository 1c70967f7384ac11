import { MiniMhcLM, type MiniMhcLMConfig, type ModuleList } from '@liger-mhc/core';
import { ReferenceMHC } from './reference-mhc.js';

/**
 * The mini mHC LM lives in core (its tests and the conformance kit need it) and is re-exported
 * here with the other reference models.
 */
export { MiniMhcLM, type MiniMhcLMConfig };

/**
 * The mini LM with ReferenceMHC blocks (unfused ops) instead of fused LigerMHC: the unpatched starting
 * point for `applyLigerMhc`. Parameter names are those of MiniMhcLM (and of the golden miniLm
 * fixtures), and each block reuses the parameter tensors and inner Linear that MiniMhcLM created.
 */
export class ReferenceMiniMhcLM extends MiniMhcLM {
  constructor(config: MiniMhcLMConfig) {
    super(config);
    const holder = this.children().find(([name]) => name === 'layers')![1] as ModuleList;
    const act = config.activationDtype ?? 'f32';
    this.blocks.forEach((fused, i) => {
      const ref = new ReferenceMHC(fused.layer, {
        ...fused.options,
        allowFp32: act === 'f32' || config.allowFp32,
        hc: fused.hc,
        c: fused.c,
        params: fused.params,
      });
      holder.replaceModule(String(i), ref);
      holder.items[i] = ref;
      // MiniMhcLM.forward walks this array.
      this.blocks[i] = ref;
    });
  }
}
