// EngineHooks that record what the engine streams, with a cancel switch the test can flip.
import type { MasksNotification, ProgressNotification, TokenNotification } from '../../core/protocol/rpc';
import type { EngineHooks } from '../../runtime/engine/engine';

export interface RecordingHooks extends EngineHooks {
  text: string;
  tokens: TokenNotification[];
  progress: ProgressNotification[];
  masks: MasksNotification[];
  cancel: boolean;
}

export function collectingHooks(): RecordingHooks {
  const h: RecordingHooks = {
    text: '',
    tokens: [],
    progress: [],
    masks: [],
    cancel: false,
    onToken: (n) => {
      h.text += n.text;
      h.tokens.push(n);
    },
    onProgress: (p) => void h.progress.push(p),
    onMasks: (m) => void h.masks.push(m),
    isCancelled: () => h.cancel,
  };
  return h;
}
